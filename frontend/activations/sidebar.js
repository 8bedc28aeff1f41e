// The Activations sidebar: runs, layers (filterable and grouped, from frontend/shared/sidebar.js), probe
// inputs as thumbnails, and the display options (colour scale, colormap, tile size, dead units).

import { el, option, segmented, field } from "../shared/dom.js";
import { SideList } from "../shared/sidebar.js";
import { COLORMAPS } from "../shared/colormap.js";
import { apiUrl } from "../shared/api.js";

/** A layer's size for the list: units, time × units, or height × width × units. */
function layerMeta(info) {
  const shape = info.shape || [];
  if (info.layout === "dense") return `${info.units}`;
  if (info.layout === "sequence") return `${shape[2]}×${info.units}`;
  return `${shape[1]}×${shape[2]}×${info.units}`;
}

export class ActivationsSidebar {
  /** `app` owns the state (app.S) and reacts through the callbacks named in `on`. */
  constructor(parent, app, on) {
    this.app = app;
    this.on = on;
    this.runs = new SideList(parent, { title: "Runs", cls: "nv-run-list", onPick: on.run, emptyText: "No runs." });
    this.layers = new SideList(parent, { title: "Layers", cls: "nv-layer-list", onPick: on.layer, emptyText: "No layers." });

    const secProbe = el("section", "nv-section");
    secProbe.append(el("div", "nv-section-title", "Probe input"));
    this.probeList = el("div", "nv-probes");
    secProbe.append(this.probeList);

    const secDisp = el("section", "nv-section");
    secDisp.append(el("div", "nv-section-title", "Display"));
    this.scale = segmented("Colour scale", [["unit", "per unit", "Each unit stretched over its own range"],
      ["layer", "shared", "One colour scale for the whole layer"]], (v) => on.option("scale", v));
    this.cmapSel = el("select", "nv-select");
    this.cmapSel.id = "nv-cmap";
    this.cmapSel.append(option("auto", "auto (signed → diverging)"));
    for (const [k, v] of Object.entries(COLORMAPS)) this.cmapSel.append(option(k, v.label));
    this.cmapSel.addEventListener("change", () => on.option("cmap", this.cmapSel.value));
    this.size = segmented("Tile size", [["s", "S"], ["m", "M"], ["l", "L"]], (v) => on.option("size", v));
    const deadLabel = el("label", "nv-check");
    this.deadBox = el("input");
    this.deadBox.type = "checkbox";
    this.deadBox.addEventListener("change", () => on.option("dead", this.deadBox.checked));
    deadLabel.append(this.deadBox, document.createTextNode("Mark dead units"));
    secDisp.append(field("Colour scale", this.scale.el), field("Colormap", this.cmapSel), field("Tile size", this.size.el),
      deadLabel, el("div", "nv-hint", "Dead: max ≤ 0 for every probe and position at this step."));
    parent.append(secProbe, secDisp);
  }

  /** Show the options of app.S. */
  sync() {
    const S = this.app.S;
    this.scale.set(S.scale);
    this.size.set(S.size);
    this.cmapSel.value = COLORMAPS[S.cmap] ? S.cmap : "auto";
    this.deadBox.checked = S.dead;
  }

  renderRuns(names, tags) {
    this.runs.setItems(names.map((r) => {
      const has = !!(tags && tags.runs[r]);
      return { key: r, name: r, meta: has ? `${Object.keys(tags.runs[r]).length} layers` : "no data", faint: !has };
    }), this.app.S.run);
  }

  renderLayers(layers) {
    this.layers.setItems(Object.entries(layers || {}).map(([name, info]) => (
      { key: name, name, meta: layerMeta(info), title: `${name} · ${info.layout} · ${info.units} units` })), this.app.S.layer);
  }

  /** Probe inputs as thumbnails when the run logged them (chips otherwise; a menu past 64). */
  renderProbes(count, images) {
    const S = this.app.S;
    this.probeList.replaceChildren();
    if (count > 64) {
      const sel = el("select", "nv-select");
      sel.setAttribute("aria-label", "Probe input");
      for (let i = 0; i < count; i++) sel.append(option(String(i), `probe ${i}`));
      sel.value = String(S.probe);
      sel.addEventListener("change", () => this.on.probe(Number(sel.value)));
      this.probeList.append(sel);
      return;
    }
    for (let i = 0; i < count; i++) {
      const b = el("button", images ? "nv-probe-thumb" : "nv-probe-chip");
      b.type = "button";
      b.title = `probe ${i}`;
      b.setAttribute("aria-label", `probe ${i}`);
      if (images) {
        const img = el("img", "nv-pixelated");
        img.alt = `probe ${i}`;
        img.src = apiUrl("probe", { run: S.run, index: i });
        img.addEventListener("error", () => { img.remove(); b.className = "nv-probe-chip"; b.textContent = String(i); });
        b.append(img);
      } else {
        b.textContent = String(i);
      }
      b.addEventListener("click", () => this.on.probe(i));
      this.probeList.appendChild(b);
    }
    this.markProbe();
  }

  markProbe() {
    for (const b of this.probeList.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.title === `probe ${this.app.S.probe}`));
  }
}
