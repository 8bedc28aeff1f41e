// In the unit panel: which input pixels make the selected unit fire, as the Deep Visualization Toolbox shows
// beside a unit's map (there by deconvolution; here LRP started at the unit's activation). The heatmaps come
// from the Relevance plugin (RelevanceCallback(unit_heatmaps={layer: ...})), at the latest logged step at or
// before the viewed one, so the panel follows the step slider. Without such data the section stays hidden.

import { getJSON, apiUrl, PromiseCache } from "../shared/api.js";
import { HeatmapCanvas, symmetricScale } from "../shared/heatmap.js";
import { el, segmented } from "../shared/dom.js";
import { fmt } from "../shared/format.js";

const RELEVANCE = "../nnvis_relevance/";

export class UnitHeatmap {
  constructor(parent) {
    this.box = el("section", "nv-card nv-unit-heatmap");
    this.box.hidden = true;
    this.title = el("div", "nv-card-title", "Which pixels make this unit fire");
    const row = el("div", "nv-unit-heatmap-row");
    this.heat = new HeatmapCanvas(row, { size: 150, label: "unit heatmap" });
    this.over = new HeatmapCanvas(row, { size: 150, label: "unit heatmap over its probe" });
    this.caption = el("div", "nv-hint");
    this.method = null; // the method shown (an LRP composite or "gradient_x_input"); null: the first logged
    this.switch = el("div", "nv-unit-heatmap-switch");
    this.box.append(this.title, this.switch, row, this.caption);
    this.parent = parent;
    parent.append(this.box);
    this.cache = new PromiseCache(200);
    this.tags = null;
    this.tok = 0;
  }

  /** Where the Relevance plugin has heatmaps per layer: {run: {layer: {name, composite}}} ({} when none). */
  index() {
    if (!this.tags) this.tags = getJSON(RELEVANCE + "tags").then((t) => t.unit_heatmaps || {}, () => ({}));
    return this.tags;
  }

  /** New data: ask again which layers have heatmaps. */
  reset() {
    this.tags = null;
    this.cache.clear();
  }

  async show(state) {
    const { run, layer, unit, step, probe } = state;
    this.last = state;
    const t = ++this.tok;
    const where = ((await this.index())[run] || {})[layer];
    if (t !== this.tok) return;
    if (!where || unit < 0 || step === null) { this.box.hidden = true; return; }
    const methods = where.composites || [where.composite];
    const composite = methods.includes(this.method) ? this.method : methods[0];
    this.renderSwitch(methods, composite);
    let d;
    try {
      d = await this.cache.get(JSON.stringify([run, layer, composite, unit, step, probe]),
        () => getJSON(RELEVANCE + "unit_heatmap", { run, layer, unit, step, probe, composite }));
    } catch (e) {
      if (t !== this.tok) return;
      this.box.hidden = false;
      this.caption.textContent = `No heatmap for unit ${unit}: ${e.message}`;
      this.heat.canvas.hidden = this.over.canvas.hidden = true;
      return;
    }
    const image = await this.input(run, where, d).catch(() => null);
    if (t !== this.tok) return;
    const [h, w] = d.shape.length === 2 ? d.shape : [1, d.shape[0]];
    const values = Float32Array.from(d.values);
    const m = symmetricScale(values, 99.5);
    this.heat.canvas.hidden = this.over.canvas.hidden = false;
    this.heat.draw({ values, h, w, m });
    this.over.canvas.hidden = !image;
    if (image) this.over.draw({ values, h, w, m, image, opacity: 0.6 });
    this.place();
    this.box.hidden = false;
    const when = d.step === step ? `step ${d.step}` : `step ${d.step} (the latest logged at or before ${step})`;
    const how = d.composite === "gradient_x_input" ? "Gradient × input of" : `LRP (${d.composite}) started at`;
    this.caption.textContent = `${how} unit ${unit}'s activation, on relevance probe ${d.probe} of “${d.name}” · ${when} · red: drives the unit, blue: against it · scale ±${fmt(m)}`;
  }

  /** LRP or gradient × input, when both were logged. */
  renderSwitch(methods, current) {
    this.switch.replaceChildren();
    if (methods.length < 2) return;
    const label = (m) => (m === "gradient_x_input" ? "gradient × input" : `LRP ${m}`);
    const seg = segmented("Heatmap method", methods.map((m) => [m, label(m)]), (m) => { this.method = m; this.show(this.last); });
    seg.set(current);
    this.switch.append(seg.el);
  }

  /** Beside the feature map: right under the enlarged map's readout when the panel has one. */
  place() {
    const anchor = this.parent.querySelector(".nv-readout-pos");
    if (anchor && anchor.nextElementSibling !== this.box) anchor.after(this.box);
  }

  input(run, where, d) {
    const src = apiUrl(RELEVANCE + "input", { run, name: where.name, composite: where.composite, step: d.step, probe: d.probe });
    return this.cache.get(src, async () => { const img = new Image(); img.src = src; await img.decode(); return img; });
  }
}
