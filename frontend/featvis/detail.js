// One unit enlarged: its synthesized image (with the transparency mask as a toggle), the value it reaches,
// its image at every loaded step (filmstrip, with play), its diversity images when logged, and, when the
// Activations tab logged the same run and layer, the unit's feature maps and top dataset examples (acts.js).

import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";
import { tileCanvas } from "./tiles.js";
import { ActivationsSection } from "./acts.js";

const BIG = 192;

export class UnitPanel {
  constructor(parent, { onClose, onStep, onPlay }) {
    this.card = el("div", "nv-card nv-fv-detail");
    const title = el("div", "nv-card-title");
    this.title = el("span", "nv-layer-title", "Unit");
    this.sub = el("span", "nv-sub");
    const close = el("button", "nv-btn nv-icon", "×");
    close.type = "button";
    close.title = "Close (Esc)";
    close.setAttribute("aria-label", "Close unit");
    close.addEventListener("click", onClose);
    const spacer = el("span");
    spacer.style.flex = "1";
    title.append(this.title, this.sub, spacer, close);
    this.big = el("canvas", "nv-fv-big");
    this.note = el("div", "nv-faint nv-fv-note");
    this.stripTitle = el("div", "nv-section-title nv-fv-strip-title", "Over training");
    this.play = el("button", "nv-btn", "▶ Play");
    this.play.type = "button";
    this.play.addEventListener("click", () => onPlay(this.play.dataset.playing !== "1"));
    const stripHead = el("div", "nv-fv-strip-head");
    stripHead.append(this.stripTitle, this.play);
    this.strip = el("div", "nv-fv-strip");
    this.stripMsg = el("div");
    this.diversity = el("div", "nv-fv-diversity");
    this.card.append(title, this.big, this.note);
    this.acts = new ActivationsSection(this.card); // the unit's maps and top examples, beside its image
    this.card.append(stripHead, this.stripMsg, this.strip, this.diversity);
    parent.append(this.card);
    this.onStep = onStep;
  }

  setPlaying(on) {
    this.play.dataset.playing = on ? "1" : "";
    this.play.textContent = on ? "❚❚ Pause" : "▶ Play";
  }

  /** The unit at the current step: grid data, its index there, and the step's atlas/alpha. */
  showUnit(unit, step, data, index, atlas, alpha) {
    this.title.textContent = `Unit ${unit}`;
    this.sub.textContent = `step ${step}`;
    tileCanvas(atlas, alpha, data.grid, data.shape, index, this.big);
    const [, h, w] = data.shape;
    const zoom = Math.max(1, Math.floor(BIG / Math.max(h, w)));
    this.big.style.width = `${w * zoom}px`;
    this.big.style.height = `${h * zoom}px`;
    this.big.className = "nv-fv-big";
    const origin = data.origin[index];
    this.note.textContent = `Reaches ${fmt(data.values[index])} (${data.objective || "channel mean"}).` +
      (origin !== unit ? ` Found while optimising unit ${origin}: no image of this unit's own excited it more.` : "");
  }

  /** frames: [{step, canvas, value}] in step order; current: the step shown. */
  showStrip(frames, current) {
    this.strip.replaceChildren();
    this.stripMsg.replaceChildren();
    this.play.hidden = frames.length < 2;
    for (const f of frames) {
      const b = el("button", "nv-fv-frame");
      b.type = "button";
      b.dataset.step = String(f.step);
      b.setAttribute("aria-pressed", String(f.step === current));
      b.title = `step ${f.step}: ${fmt(f.value)}`;
      b.append(f.canvas, el("span", "nv-fv-caption", `${f.step}`));
      b.addEventListener("click", () => this.onStep(f.step));
      this.strip.append(b);
    }
    const active = this.strip.querySelector('[aria-pressed="true"]');
    if (active) this.strip.scrollLeft = Math.max(0, active.offsetLeft - this.strip.clientWidth / 2);
  }

  showDiversity(canvases) {
    this.diversity.replaceChildren();
    if (!canvases || !canvases.length) return;
    const row = el("div", "nv-fv-diversity-row");
    for (const c of canvases) row.append(c);
    this.diversity.append(el("div", "nv-section-title", "Diversity"), row,
      el("div", "nv-hint", "Several images for this unit, pushed apart from each other: the different things it responds to."));
  }
}
