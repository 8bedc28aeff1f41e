// The Feature visualization dashboard: for each unit of a layer, the image synthesized to excite it most
// (grid), one unit enlarged with its image at every loaded step (filmstrip), its diversity images, and its
// top dataset examples from the Activations tab. This module owns the state and the data flow; the panels
// are grid.js and detail.js. All data text is inserted with textContent.

import { mountDashboard } from "../shared/mount.js";
import { getJSON, getImageData, PromiseCache, showError } from "../shared/api.js";
import { connectApp, loadLayerSteps, loadRunTags, refreshTags, runItems, showEmpty } from "../shared/tags.js";
import { setUrlState } from "../shared/host.js";
import { StepSlider } from "../shared/slider.js";
import { el, segmented, field, appShell } from "../shared/dom.js";
import { SideList } from "../shared/sidebar.js";
import { ImageGrid } from "./grid.js";
import { UnitPanel } from "./detail.js";
import { tileCanvas } from "./tiles.js";

const ZOOM = { s: 48, m: 80, l: 128 }; // CSS pixels of a tile's longer side

class FeatVisApp {
  constructor() {
    this.S = { run: null, layer: null, step: null, unit: -1, alpha: false, size: "m" };
    this.tags = null;
    this.hostRuns = null;
    this.steps = [];
    this.cur = null; // {data, atlas, alpha}
    this.cache = new PromiseCache(256);
    this.tok = { layer: 0, step: 0, unit: 0 };
    this.playTimer = 0;
  }

  build() {
    const { side, main } = appShell("nv-featvis", "Feature visualization settings");
    this.main = main;
    this.runs = new SideList(side, { title: "Runs", cls: "nv-run-list", emptyText: "No runs.",
      onPick: (r) => { this.S.layer = null; this.S.step = null; this.selectRun(r); } });
    this.layers = new SideList(side, { title: "Layers", cls: "nv-layer-list", emptyText: "No layers.",
      onPick: (l) => { this.S.step = null; this.selectLayer(l); } });
    const sec = el("section", "nv-section");
    sec.append(el("div", "nv-section-title", "Display"));
    this.sizeSeg = segmented("Image size", [["s", "S"], ["m", "M"], ["l", "L"]], (v) => { this.S.size = v; this.sizeSeg.set(v); this.redraw(); });
    const alphaLabel = el("label", "nv-check");
    this.alphaBox = el("input");
    this.alphaBox.type = "checkbox";
    this.alphaBox.id = "nv-fv-alpha";
    this.alphaBox.addEventListener("change", () => { this.S.alpha = this.alphaBox.checked; this.writeUrl(); this.loadStep(); });
    alphaLabel.append(this.alphaBox, document.createTextNode("Transparency mask"));
    sec.append(field("Image size", this.sizeSeg.el), alphaLabel,
      el("div", "nv-hint", "Transparency (MACO): the parts of the image where the objective's gradient accumulated while it was synthesized; the rest fades out."));
    side.append(sec);

    this.banner = el("div", "nv-banner");
    const header = el("div", "nv-card nv-header");
    const titleRow = el("div", "nv-card-title");
    this.layerTitle = el("span", "nv-layer-title", "Feature visualization");
    this.layerSub = el("span", "nv-sub");
    titleRow.append(this.layerTitle, this.layerSub);
    this.slider = new StepSlider(null, (step) => { this.stopPlay(); this.setStep(step); });
    header.append(titleRow, this.slider.el);
    this.stepMsg = el("div");
    const row = el("div", "nv-fv-row");
    this.grid = new ImageGrid(row, { onSelect: (u) => this.selectUnit(u) });
    this.detail = new UnitPanel(row, { onClose: () => this.selectUnit(-1), onStep: (s) => { this.stopPlay(); this.setStep(s); },
      onPlay: (on) => (on ? this.startPlay() : this.stopPlay()) });
    this.detail.card.hidden = true;
    this.content = el("div", "nv-content");
    this.content.append(header, this.stepMsg, row);
    this.empty = el("div", "nv-empty");
    this.empty.hidden = true;
    main.append(this.banner, this.empty, this.content);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.S.unit >= 0) this.selectUnit(-1);
    });
  }

  // ------------------------------------------------------------------ state and URL
  writeUrl() {
    const s = this.S;
    setUrlState({ run: s.run, layer: s.layer, step: s.step, unit: s.unit >= 0 ? s.unit : null, alpha: s.alpha ? 1 : null,
      size: s.size !== "m" ? s.size : null });
  }

  readUrl(u) {
    const s = this.S;
    if (u.run) s.run = u.run;
    if (u.layer) s.layer = u.layer;
    if (/^-?\d+$/.test(u.step || "")) { s.step = Number(u.step); this.urlStep = true; }
    if (/^\d+$/.test(u.unit || "")) s.unit = Number(u.unit);
    if (u.alpha === "1") s.alpha = true;
    if (ZOOM[u.size]) s.size = u.size;
  }

  async start() {
    this.build();
    await connectApp(this);
    this.alphaBox.checked = this.S.alpha;
    this.sizeSeg.set(this.S.size);
    await this.loadTags();
  }

  async loadTags() {
    const run = await loadRunTags(this, { what: "feature visualizations",
      howTo: "Add tb_nnvis.keras.FeatureVisCallback(log_dir, layers=[...]) to fit, or write tb_nnvis.summary.feature_images(...)." });
    if (run !== null) await this.selectRun(run, true);
  }

  async reload() {
    this.cache.clear();
    this.detail.acts.reset();
    if (await refreshTags(this) && (this.tags.runs[this.S.run] || {})[this.S.layer]) await this.loadSteps(true);
  }

  renderRuns() {
    this.runs.setItems(runItems(this.tags, this.hostRuns), this.S.run);
  }

  async selectRun(run, initial = false) {
    this.S.run = run;
    this.runs.setSelected(run);
    const layers = (this.tags.runs || {})[run] || {};
    this.layers.setItems(Object.entries(layers).map(([name, info]) => ({ key: name, name, meta: `${info.units} units`,
      title: `${name} · ${info.units} units` })), this.S.layer);
    if (!Object.keys(layers).length) {
      showEmpty(this.empty, this.content, `No feature visualizations for run “${run}”`, "Pick another run, or log them for this one with FeatureVisCallback.");
      return;
    }
    if (!this.S.layer || !layers[this.S.layer]) {
      if (this.S.layer && initial) showError(this.banner, `No feature visualizations of layer “${this.S.layer}” in run “${run}”.`, { kind: "warn" });
      this.S.layer = Object.keys(layers)[0];
      if (!initial) this.S.unit = -1;
    }
    await this.selectLayer(this.S.layer);
  }

  async selectLayer(layer) {
    this.S.layer = layer;
    this.layers.setSelected(layer);
    this.empty.hidden = true;
    this.content.hidden = false;
    const info = this.tags.runs[this.S.run][layer];
    this.layerTitle.textContent = layer;
    this.layerSub.textContent = `${info.units} units${info.diversity ? " · diversity logged" : ""}`;
    if (this.S.unit >= info.units) this.S.unit = -1;
    await this.loadSteps(false);
  }

  async loadSteps(isReload) {
    if (!(await loadLayerSteps(this, isReload))) return;
    if (!this.steps.includes(this.S.step)) {
      showError(this.banner, `Step ${this.S.step} is not loaded for layer “${this.S.layer}”; showing step ${this.steps[this.steps.length - 1]}.`, { kind: "warn", replace: false });
      this.S.step = this.steps[this.steps.length - 1];
    }
    this.slider.setValue(this.S.step);
    await this.loadStep();
  }

  /** {data, atlas, alpha} of one step (alpha only when the mask is on and was logged). */
  fetchStep(step, kind = "images", withAlpha = this.S.alpha) {
    const { run, layer } = this.S;
    return this.cache.get(JSON.stringify([run, layer, step, kind, withAlpha]), async () => {
      const data = await getJSON("grid", { run, layer, step, kind });
      const [atlas, alpha] = await Promise.all([getImageData("atlas", { run, layer, step, kind }),
        withAlpha && data.transparency ? getImageData("atlas", { run, layer, step, kind, which: "transparency" }) : null]);
      return { data, atlas, alpha };
    });
  }

  setStep(step) {
    if (step === this.S.step) return;
    this.S.step = step;
    this.slider.setValue(step);
    this.loadStep();
  }

  async loadStep() {
    const t = ++this.tok.step;
    let cur;
    try {
      cur = await this.fetchStep(this.S.step);
    } catch (e) {
      if (t === this.tok.step) showError(this.stepMsg, e, { title: `Could not load step ${this.S.step}` });
      return;
    }
    if (t !== this.tok.step) return;
    this.stepMsg.replaceChildren();
    this.cur = cur;
    const alphaNote = this.S.alpha && !cur.data.transparency ? " · no transparency maps were logged" : "";
    this.grid.sub.textContent = `${cur.data.units.length} images · ${cur.data.shape[1]}×${cur.data.shape[2]} · step ${this.S.step}${alphaNote}`;
    this.redraw();
    this.writeUrl();
  }

  redraw() {
    if (!this.cur) return;
    const [, h, w] = this.cur.data.shape;
    this.grid.show(this.cur.data, this.cur.atlas, this.cur.alpha, ZOOM[this.S.size] / Math.max(h, w));
    this.grid.setSelected(this.S.unit);
    this.showUnit();
  }

  selectUnit(unit) {
    this.S.unit = unit;
    this.grid.setSelected(unit);
    if (unit < 0) this.stopPlay();
    this.showUnit();
    this.writeUrl();
  }

  async showUnit() {
    const unit = this.S.unit;
    const index = this.cur ? this.cur.data.units.indexOf(unit) : -1;
    this.detail.card.hidden = unit < 0 || index < 0;
    if (this.detail.card.hidden) return;
    const { data, atlas, alpha } = this.cur;
    this.detail.showUnit(unit, this.S.step, data, index, atlas, alpha);
    const t = ++this.tok.unit;
    this.detail.acts.show({ run: this.S.run, layer: this.S.layer, unit, step: this.S.step });
    await this.loadStrip(unit, t);
  }

  /** The unit's image at every loaded step, and its diversity images at the current step. */
  async loadStrip(unit, t) {
    let frames = [];
    try {
      frames = await Promise.all(this.steps.map(async (step) => {
        const { data, atlas, alpha } = await this.fetchStep(step);
        const i = data.units.indexOf(unit);
        return i < 0 ? null : { step, value: data.values[i], canvas: tileCanvas(atlas, alpha, data.grid, data.shape, i) };
      }));
    } catch (e) {
      if (t === this.tok.unit) showError(this.detail.stripMsg, e, { title: "Could not load the filmstrip" });
      return;
    }
    if (t !== this.tok.unit) return;
    this.detail.showStrip(frames.filter(Boolean), this.S.step);
    const info = this.tags.runs[this.S.run][this.S.layer];
    let canvases = [];
    if (info.diversity) {
      try {
        const { data, atlas, alpha } = await this.fetchStep(this.S.step, "diversity");
        canvases = data.units.map((u, i) => (u === unit ? tileCanvas(atlas, alpha, data.grid, data.shape, i) : null)).filter(Boolean);
      } catch (_) { canvases = []; } // diversity is logged for a few units and not necessarily at every step
    }
    if (t === this.tok.unit) this.detail.showDiversity(canvases);
  }

  startPlay() {
    this.stopPlay();
    if (this.steps.length < 2) return;
    this.detail.setPlaying(true);
    this.playTimer = setInterval(() => {
      const i = this.steps.indexOf(this.S.step);
      this.setStep(this.steps[(i + 1) % this.steps.length]);
    }, 700);
  }

  stopPlay() {
    clearInterval(this.playTimer);
    this.playTimer = 0;
    this.detail.setPlaying(false);
  }
}


/** Called by TensorBoard (plugin_entry.html) to build the page into document.body. */
export const render = () => mountDashboard(FeatVisApp, { css: new URL("./style.css", import.meta.url).href,
  global: "__nnvisFeatvis", title: "Feature visualization" });
