// The grid of a layer's synthesized images: one button per unit with its index and the objective value
// its image reaches. Arrow keys move between units, Enter opens one. All text goes in with textContent.

import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";
import { tileCanvas } from "./tiles.js";

export class ImageGrid {
  constructor(parent, { onSelect }) {
    this.onSelect = onSelect;
    this.card = el("div", "nv-card nv-fv-grid-card");
    const title = el("div", "nv-card-title");
    this.title = el("span", "", "Units");
    this.sub = el("span", "nv-sub");
    title.append(this.title, this.sub);
    this.msg = el("div");
    this.host = el("div", "nv-fv-grid");
    this.host.setAttribute("role", "listbox");
    this.host.setAttribute("aria-label", "Synthesized images, one per unit");
    this.hint = el("div", "nv-hint");
    this.card.append(title, this.msg, this.host, this.hint);
    parent.append(this.card);
    this.selected = -1;
  }

  /** data: the /grid answer; atlas/alpha: ImageData; zoom: CSS pixels per image pixel. */
  show(data, atlas, alpha, zoom) {
    this.host.replaceChildren();
    this.buttons = [];
    const [, h, w] = data.shape;
    const borrowed = data.units.filter((unit, i) => data.origin[i] !== unit).length;
    this.hint.textContent = "Each image is synthesized to excite its unit most. Click one, or use the arrow keys and Enter." +
      (borrowed ? ` ↺ (${borrowed} of ${data.units.length}): found by another unit's search and excites this unit more than` +
        " its own search's image did: the two units respond to much the same pattern." : "");
    data.units.forEach((unit, i) => {
      const b = el("button", "nv-fv-tile");
      b.type = "button";
      b.dataset.unit = String(unit);
      b.setAttribute("role", "option");
      const canvas = tileCanvas(atlas, alpha, data.grid, data.shape, i);
      canvas.style.width = `${Math.round(w * zoom)}px`;
      canvas.style.height = `${Math.round(h * zoom)}px`;
      const shared = data.origin[i] !== unit;
      const label = el("span", "nv-fv-label", `${unit}`);
      const value = el("span", "nv-fv-value", fmt(data.values[i], 3));
      b.title = `unit ${unit}: reaches ${fmt(data.values[i])}` + (shared ? ` (image found while optimising unit ${data.origin[i]})` : "");
      b.append(canvas, el("span", "nv-fv-caption"));
      b.lastChild.append(label, value);
      if (shared) b.classList.add("nv-fv-shared");
      b.addEventListener("click", () => this.onSelect(unit));
      b.addEventListener("keydown", (e) => this.keys(e, i));
      this.host.append(b);
      this.buttons.push(b);
    });
    this.setSelected(this.selected);
  }

  keys(e, i) {
    const cols = Math.max(1, Math.round(this.host.clientWidth / (this.buttons[0].offsetWidth || 1)));
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      const j = Math.min(this.buttons.length - 1, Math.max(0, i + step));
      this.buttons[j].focus();
    } else if (e.key === "Escape") {
      this.onSelect(-1);
    }
  }

  setSelected(unit) {
    this.selected = unit;
    for (const b of this.buttons || []) b.setAttribute("aria-selected", String(Number(b.dataset.unit) === unit));
  }
}
