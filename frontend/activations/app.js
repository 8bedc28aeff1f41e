// The Activations dashboard: every unit of a layer as a small map (one canvas), a unit detail panel with
// a filmstrip over training, and a unit × step overview. In the spirit of Yosinski et al.'s Deep
// Visualization Toolbox. All data text is inserted with textContent. This module owns the state and the
// data flow; the sidebar (sidebar.js), the selected unit (unit.js, detail.js) and the overview
// (overview.js) are panels of their own, the last two loaded after the first grid (panels.js). The step
// loading is steps.js; boot.js fetched the first step while this module loaded.

import { onThemeChange } from "../shared/theme.js";
import { mountDashboard } from "../shared/mount.js";
import { probesNewerThan, showEmpty } from "../shared/tags.js";
import { getJSON, showError, errorText, apiUrl } from "../shared/api.js";
import { onRunsChanged, onDataReloaded, setUrlState, primeUrlState } from "../shared/host.js";
import { StepSlider } from "../shared/slider.js";
import { el, appShell } from "../shared/dom.js";
import { fmtShape } from "../shared/format.js";
import { COLORMAPS } from "../shared/colormap.js";
import { ActivationsSidebar } from "./sidebar.js";
import { LayerView } from "./layer.js";
import { readUrlState, urlState } from "./url.js";
import { standIns, attach } from "./panels.js";
import { StepLoader } from "./steps.js";
import { boot, runNames, pickRun, pickLayer, firstStep } from "./boot.js";

const PLUGIN = "nnvis_activations";

class ActivationsApp {
  constructor() {
    this.S = { run: null, layer: null, probe: 0, step: null, unit: -1, scale: "unit", cmap: "auto", dead: true, stat: "mean", size: "m" };
    this.tags = null;
    this.tagsPartial = false; // tags holds the opening run alone (see loadTags)
    this.hostRuns = null;
    this.steps = [];
    this.stepsInfo = null;
    this.cur = null; // {maps, img, colored, step}
    this.loader = new StepLoader(this);
    this.tok = { layer: 0 };
  }

  /** The request key of the selected unit's top examples (null while none was asked for). */
  get topReq() { return this.unit.topReq; }

  // ------------------------------------------------------------------ layout
  build() {
    const { side, main } = appShell("nv-activations", "Activations settings");
    this.main = main;
    this.side = new ActivationsSidebar(side, this, {
      run: (r) => { this.unit.stopPlay(); this.S.layer = null; this.S.step = null; this.S.unit = -1; this.urlStep = false; this.selectRun(r); },
      layer: (name) => { this.unit.stopPlay(); this.S.unit = -1; this.urlStep = false; this.selectLayer(name); },
      probe: (i) => this.setProbe(i),
      option: (name, value) => this.setOption(name, value),
    });

    this.banner = el("div", "nv-banner");
    this.header = el("div", "nv-card nv-header");
    const titleRow = el("div", "nv-card-title");
    this.layerTitle = el("span", "nv-layer-title", "Activations");
    this.layerSub = el("span", "nv-sub");
    titleRow.append(this.layerTitle, this.layerSub);
    this.slider = new StepSlider(null, (step) => { this.unit.stopPlay(); this.setStep(step); });
    this.header.append(titleRow, this.slider.el);

    const row = el("div", "nv-row");
    this.layerView = new LayerView(row, this);
    this.grid = this.layerView.grid;
    this.detailCol = el("div", "nv-col-detail");
    this.detailCol.hidden = true;
    row.append(this.detailCol);

    this.content = el("div", "nv-content");
    this.content.append(this.header, row);
    Object.assign(this, standIns()); // unit, overview(Card), dynamics: the panels loaded after the first grid
    this.empty = el("div", "nv-empty");
    this.empty.hidden = true;
    main.append(this.banner, this.empty, this.content);
    this.syncControls();
  }

  syncControls() {
    this.side.sync();
    this.overviewCard.statSel.value = this.S.stat;
  }

  setOption(name, value) {
    this.S[name] = value;
    this.syncControls();
    if (name === "dead") { this.updateMarks(); this.overview.setOptions({ showDead: value }); return; }
    this.recolor();
    if (name === "cmap") this.overview.setOptions({ cmap: value });
    if (name !== "size") this.writeUrl();
  }

  showBanner(err, title = "") {
    if (!err) { this.banner.replaceChildren(); return; }
    showError(this.banner, err, { title });
  }

  showEmpty(title, text) { showEmpty(this.empty, this.content, title, text); }

  hideEmpty() {
    this.empty.hidden = true;
    this.content.hidden = false;
  }

  // ------------------------------------------------------------------ URL state (see url.js)
  writeUrl() { setUrlState(urlState(this.S)); }

  readUrl(u) { if (readUrlState(this.S, u, COLORMAPS)) this.urlStep = true; }

  // ------------------------------------------------------------------ data flow
  async start() {
    this.build();
    this.layerView.loading(true);
    const { urlState, hostRuns, tags, partial } = await boot(); // started by index.js, before this module loaded
    this.readUrl(urlState);
    primeUrlState(urlState);
    this.hostRuns = hostRuns;
    this.syncControls();
    onRunsChanged((runs) => { this.hostRuns = runs; this.renderRuns(); });
    onDataReloaded(() => this.reload());
    onThemeChange(() => { this.grid.redraw(); this.overview.draw(); this.dynamics.draw(); });
    await this.loadTags(tags, partial);
    this.loadPanels(); // also when there was no grid to draw
  }

  /** The panels the first grid does not need (panels.js), loaded once; resolves when they show the state.
   * The full run list, when /tags held the shown run alone, is asked for at the same moment. */
  loadPanels() {
    if (this.panels) return this.panels;
    if (this.tagsPartial) this.loadAllTags();
    this.panels = attach(this, this.detailCol, this.content).then(() => {
      this.syncControls();
      if (this.S.run) this.dynamics.show(this.S.run, this.runHasWeights(this.S.run));
      if (this.cur && this.S.unit >= 0) this.unit.show(true);
    }, (e) => showError(this.banner, e, { title: "Could not load the unit and overview panels", replace: false }));
    return this.panels;
  }

  /** `partial`: `tags` holds the run the page opens with alone (boot.js); the full list comes after the first
   * grid, or at once when that run has no activation data (another is picked from it). */
  async loadTags(tags = null, partial = false) {
    try {
      this.tags = await (tags || getJSON("tags"));
      const has = (run) => !!Object.keys((this.tags.runs || {})[run] || {}).length;
      if (partial && !(this.S.run ? has(this.S.run) : Object.keys(this.tags.runs || {}).some(has))) {
        this.tags = await getJSON("tags");
        partial = false;
      }
      this.showBanner(null);
    } catch (e) {
      this.tags = null;
      this.showEmpty("Could not load activations", errorText(e));
      return;
    }
    this.tagsPartial = partial;
    this.renderRuns();
    const runs = this.runNames();
    if (!Object.keys(this.tags.runs || {}).length) {
      this.showEmpty("No activation data", "No run in this log directory has activation summaries yet. Write them with tb_nnvis.summary.activations(...) during training; this page updates when TensorBoard reloads.");
      return;
    }
    if (this.S.run && !runs.includes(this.S.run)) this.showBanner(`No activation data for run “${this.S.run}”.`);
    this.S.run = pickRun(this.S.run, this.tags, runs);
    await this.selectRun(this.S.run, true);
  }

  async loadAllTags() {
    let all;
    try { all = await getJSON("tags"); } catch (_) { return; } // the run shown stays; a reload asks again
    if (!this.tagsPartial) return; // a reload came first
    this.tags = all;
    this.tagsPartial = false;
    this.renderRuns();
    if (this.S.run && all.runs[this.S.run]) this.renderLayers();
  }

  async reload() {
    this.unit.reset(); // new data may bring (new) top examples
    if (!this.tags) return this.loadTags();
    try { this.tags = await getJSON("tags"); } catch (_) { return; }
    this.tagsPartial = false;
    this.renderRuns();
    if (this.S.run) this.dynamics.show(this.S.run, this.runHasWeights(this.S.run));
    if (this.S.run && this.tags.runs[this.S.run] && this.tags.runs[this.S.run][this.S.layer]) {
      this.renderLayers();
      await this.loadLayerMeta(true);
    }
  }

  /** The sidebar's runs; while /tags holds the shown run alone, that run only (not the others as empty). */
  runNames() { return this.tagsPartial ? Object.keys(this.tags.runs || {}) : runNames(this.tags, this.hostRuns); }

  renderRuns() {
    this.side.renderRuns(this.runNames(), this.tags);
  }

  renderLayers() {
    this.side.renderLayers(this.tags.runs[this.S.run]);
  }

  async selectRun(run, initial = false) {
    this.S.run = run;
    this.dynamics.show(run, this.runHasWeights(run));
    this.renderRuns();
    const layers = (this.tags.runs || {})[run];
    if (!layers || !Object.keys(layers).length) {
      this.side.renderLayers({});
      this.side.renderProbes(0, false);
      this.showEmpty(`No activation data for run “${run}”`, "This run has no activation summaries. Pick another run, or log activations for it with tb_nnvis.summary.activations(...).");
      this.writeUrl();
      return;
    }
    this.hideEmpty();
    if (this.S.layer && !layers[this.S.layer] && initial) this.showBanner(`Layer “${this.S.layer}” has no activation data in run “${run}”.`);
    this.S.layer = pickLayer(this.S.layer, layers);
    this.renderLayers();
    await this.selectLayer(this.S.layer, initial);
  }

  probeCount() {
    const info = this.layerInfo();
    const pi = (this.tags.probe_inputs || {})[this.S.run];
    return (info && info.probes) || (pi && pi.count) || 1;
  }

  hasProbeImages() {
    const pi = (this.tags.probe_inputs || {})[this.S.run];
    return !!(pi && pi.count);
  }

  renderProbes() {
    const P = this.probeCount();
    if (this.S.probe >= P) this.S.probe = 0;
    this.side.renderProbes(P, this.hasProbeImages());
    this.updateProbeCard();
  }

  updateProbeCard() {
    this.side.markProbe();
    this.layerView.showProbe(this.hasProbeImages() ? apiUrl("probe", { run: this.S.run, index: this.S.probe }) : null,
      `probe ${this.S.probe} of ${this.probeCount()}`, this.probesNewerThanStep());
  }

  /** True when the run's probe inputs were written after this step's maps: the run was restarted under the
   * same name with other probes, so the probe shown is not the one these maps were computed on. */
  probesNewerThanStep() {
    const pi = this.tags && (this.tags.probe_inputs || {})[this.S.run];
    return probesNewerThan(pi, this.stepsInfo && (this.stepsInfo.steps || []).find((s) => s.step === this.S.step));
  }

  recolor() { this.layerView.recolor(); }

  updateMarks() { this.layerView.updateMarks(); }

  setProbe(i) {
    this.S.probe = i;
    this.updateProbeCard();
    this.loadStep();
    this.writeUrl();
  }

  runHasWeights(run) {
    return ((this.tags && this.tags.weight_dynamics) || []).includes(run);
  }

  layerInfo() {
    return this.tags && this.tags.runs[this.S.run] ? this.tags.runs[this.S.run][this.S.layer] : null;
  }

  async selectLayer(layer, initial = false) {
    this.S.layer = layer;
    this.side.layers.setSelected(layer);
    const info = this.layerInfo();
    this.layerTitle.textContent = layer;
    this.layerSub.textContent = info ? `${info.layout} · shape ${fmtShape(info.shape)} · ${info.units} units · ${info.probes} probe${info.probes === 1 ? "" : "s"}` : "";
    this.layerView.gridTitle.textContent = info ? `${info.units} units` : "Units";
    this.renderProbes();
    this.cur = null;
    this.overview.setData(null);
    if (this.S.unit < 0) this.unit.hide();
    await this.loadLayerMeta(false, initial);
  }

  async loadLayerMeta(isReload = false, initial = false) {
    const t = ++this.tok.layer;
    const { run, layer } = this.S;
    const stepsP = getJSON("steps", { run, layer });
    // The first grid does not wait for /steps: /tags said which step is the latest.
    let early = null;
    if (!isReload) {
      this.steps = [];
      const guess = firstStep(this.S.step, (this.layerInfo() || {}).last_step, initial && this.urlStep);
      if (guess !== null) { this.S.step = guess; early = this.loadStep(); }
    }
    // The panels and the statistics of every step (megabytes on a long run) are asked for once the grid is drawn.
    const statsP = Promise.resolve(early).catch(() => {}).then(() => this.loadPanels())
      .then(() => this.overviewCard.fetch(run, layer));
    let steps;
    try {
      steps = await stepsP;
    } catch (e) {
      if (t !== this.tok.layer) return;
      this.slider.setSteps([]);
      this.loader.fail(e, "Could not load steps");
      return;
    }
    if (t !== this.tok.layer) return;
    this.stepsInfo = steps;
    if (this.cur) this.updateProbeCard(); // drawn before /steps answered: whether its probe is stale needs them
    const prevSteps = this.steps || [];
    this.steps = (steps.steps || []).map((s) => s.step);
    this.slider.setSteps(this.steps, { sampleLimit: steps.sample_limit, hint: steps.hint || "" });
    if (!this.steps.length) {
      this.layerView.gridMsg.replaceChildren();
      showError(this.layerView.gridMsg, `No activation data for layer “${layer}” in run “${run}”.`, { kind: "warn" });
    }
    // On a data reload, a view that was showing the newest step follows the newest step.
    const wasLatest = isReload && prevSteps.length && this.S.step === prevSteps[prevSteps.length - 1];
    const keep = !wasLatest && this.S.step !== null && (this.steps.includes(this.S.step) || (initial && this.urlStep));
    if (!keep) this.S.step = this.steps.length ? this.steps[this.steps.length - 1] : null;
    this.slider.setValue(this.S.step);
    if (early && early.step === this.S.step) await early;
    else if (this.S.step !== null) await this.loadStep(isReload);
    this.loadPanels().then(() => this.overviewCard.show(statsP, () => t === this.tok.layer, this.S));
    this.writeUrl();
  }

  setStep(step) {
    if (step === this.S.step) return;
    this.S.step = step;
    this.slider.setValue(step);
    this.loader.request();
    this.writeUrl();
  }

  /** Loads and draws the step this.S.step (steps.js); the promise has the step it loads as `.step`. */
  loadStep() { return this.loader.load(); }

  statIndex(name) {
    return this.cur && this.cur.maps.stats.values ? this.cur.maps.stats.fields.indexOf(name) : -1;
  }

  unitStats(u) {
    const out = {};
    if (!this.cur || !this.cur.maps.stats.values) return out;  // null: the step's statistics are not loaded
    const { fields, values } = this.cur.maps.stats;
    const row = values[u] || [];
    fields.forEach((f, i) => { out[f] = row[i]; });
    return out;
  }

  isDead(u) {
    const s = this.unitStats(u);
    if (s.frac_active !== undefined) return s.frac_active === 0;
    if (s.max !== undefined) return s.max <= 0;
    return false;
  }

  selectUnit(u) {
    this.S.unit = u;
    this.grid.select(u);
    this.overview.setCursor(u, this.S.step);
    if (u < 0) this.unit.hide();
    else this.unit.show(true);
    this.writeUrl();
  }

  pickFromOverview(u, step) {
    if (this.steps.includes(step) && step !== this.S.step) {
      this.S.unit = u;
      this.setStep(step);
      this.overview.setCursor(u, step);
      this.grid.select(u);
    } else {
      this.selectUnit(u);
    }
  }
}

/** Called by TensorBoard (plugin_entry.html) to build the page into document.body. */
export const render = () => mountDashboard(ActivationsApp, { css: new URL("./style.css", import.meta.url).href,
  global: "__nnvisActivations", title: "Activations" });

export { PLUGIN };
