// The Activations dashboard: every unit of a layer as a small map (one canvas), a unit detail panel with
// a filmstrip over training, and a unit × step overview. In the spirit of Yosinski et al.'s Deep
// Visualization Toolbox. All data text is inserted with textContent. This module owns the state and the
// data flow; the sidebar (sidebar.js), the selected unit (unit.js, detail.js) and the overview
// (overview.js) are panels of their own.

import { onThemeChange } from "../shared/theme.js";
import { mountDashboard } from "../shared/mount.js";
import { showEmpty } from "../shared/tags.js";
import { getJSON, getImageData, PromiseCache, showError, errorText, apiUrl } from "../shared/api.js";
import { connectHost, getHostRuns, onRunsChanged, onDataReloaded, getUrlState, setUrlState, primeUrlState } from "../shared/host.js";
import { StepSlider } from "../shared/slider.js";
import { el, appShell } from "../shared/dom.js";
import { fmtShape } from "../shared/format.js";
import { ActivationsSidebar } from "./sidebar.js";
import { LayerView } from "./layer.js";
import { UnitView } from "./unit.js";
import { OverviewCard } from "./overview.js";
import { readUrlState, urlState } from "./url.js";
import { WeightDynamics } from "./dynamics.js";

const PLUGIN = "nnvis_activations";
const NO_SOURCE = { source: null, count: 0, tileW: 1, tileH: 1, srcCols: 1, cellW: 1, cellH: 1 };

class ActivationsApp {
  constructor() {
    this.S = { run: null, layer: null, probe: 0, step: null, unit: -1, scale: "unit", cmap: "auto", dead: true, stat: "mean", size: "m" };
    this.tags = null;
    this.hostRuns = null;
    this.steps = [];
    this.stepsInfo = null;
    this.cur = null; // {maps, img, colored, step}
    this.atlasCache = new PromiseCache(600);
    this.mapsCache = new PromiseCache(600);
    this.tok = { layer: 0, step: 0 };
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
    const detailCol = el("div", "nv-col-detail");
    this.unit = new UnitView(detailCol, this);
    row.append(detailCol);

    this.content = el("div", "nv-content");
    this.content.append(this.header, row);
    this.overviewCard = new OverviewCard(this.content, {
      onPick: (u, step) => this.pickFromOverview(u, step),
      onStat: (stat) => { this.S.stat = stat; },
    });
    this.overview = this.overviewCard.overview;
    this.dynamics = new WeightDynamics(this.content); // weight norms and update ratios, when logged
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

  readUrl(u) { if (readUrlState(this.S, u)) this.urlStep = true; }

  // ------------------------------------------------------------------ data flow
  async start() {
    this.build();
    this.layerView.loading(true);
    connectHost();
    const [urlState, hostRuns] = await Promise.all([getUrlState(), getHostRuns()]);
    this.readUrl(urlState);
    primeUrlState(urlState);
    this.hostRuns = hostRuns;
    this.syncControls();
    onRunsChanged((runs) => { this.hostRuns = runs; this.renderRuns(); });
    onDataReloaded(() => this.reload());
    onThemeChange(() => { this.grid.redraw(); this.overview.draw(); this.dynamics.draw(); });
    await this.loadTags();
  }

  async loadTags() {
    try {
      this.tags = await getJSON("tags");
      this.showBanner(null);
    } catch (e) {
      this.tags = null;
      this.showEmpty("Could not load activations", errorText(e));
      return;
    }
    this.renderRuns();
    const runs = this.runNames();
    if (!Object.keys(this.tags.runs || {}).length) {
      this.showEmpty("No activation data", "No run in this log directory has activation summaries yet. Write them with tb_nnvis.summary.activations(...) during training; this page updates when TensorBoard reloads.");
      return;
    }
    if (!this.S.run || !runs.includes(this.S.run)) {
      if (this.S.run && !runs.includes(this.S.run)) this.showBanner(`No activation data for run “${this.S.run}”.`);
      this.S.run = runs.find((r) => this.tags.runs[r]) || Object.keys(this.tags.runs)[0];
    }
    await this.selectRun(this.S.run, true);
  }

  async reload() {
    this.unit.reset(); // new data may bring (new) top examples
    if (!this.tags) return this.loadTags();
    try { this.tags = await getJSON("tags"); } catch (_) { return; }
    this.renderRuns();
    if (this.S.run) this.dynamics.show(this.S.run, this.runHasWeights(this.S.run));
    if (this.S.run && this.tags.runs[this.S.run] && this.tags.runs[this.S.run][this.S.layer]) {
      this.renderLayers();
      await this.loadLayerMeta(true);
    }
  }

  runNames() {
    const have = Object.keys((this.tags && this.tags.runs) || {});
    if (Array.isArray(this.hostRuns) && this.hostRuns.length) {
      const inHost = this.hostRuns.filter((r) => have.includes(r));
      const hostOnly = this.hostRuns.filter((r) => !have.includes(r));
      // runs with data first (host order), then the host's other runs (no activations; shown faint)
      return [...inHost, ...have.filter((r) => !inHost.includes(r) && !hostOnly.includes(r)), ...hostOnly];
    }
    return have;
  }

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
    if (!this.S.layer || !layers[this.S.layer]) {
      if (this.S.layer && initial) this.showBanner(`Layer “${this.S.layer}” has no activation data in run “${run}”.`);
      this.S.layer = Object.keys(layers)[0];
    }
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
    const st = this.stepsInfo && (this.stepsInfo.steps || []).find((s) => s.step === this.S.step);
    return !!(pi && pi.wall_time && st && st.wall_time < pi.wall_time - 2); // seconds; a restart takes longer
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
      const last = (this.layerInfo() || {}).last_step;
      const guess = this.S.step === null || this.S.step === undefined ? last
        : (initial && this.urlStep) || this.S.step === last ? this.S.step : null;
      if (Number.isInteger(guess)) { this.S.step = guess; early = this.loadStep(); }
    }
    // The statistics of every step (megabytes on a long run) are asked for once the grid is drawn.
    const statsP = this.overviewCard.fetch(run, layer, early);
    let steps;
    try {
      steps = await stepsP;
    } catch (e) {
      if (t !== this.tok.layer) return;
      this.slider.setSteps([]);
      showError(this.layerView.gridMsg, e, { title: "Could not load steps" });
      this.grid.setSource(NO_SOURCE);
      return;
    }
    if (t !== this.tok.layer) return;
    this.stepsInfo = steps;
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
    this.overviewCard.show(statsP, () => t === this.tok.layer, this.S);
    this.writeUrl();
  }

  fetchMaps(step, probe = this.S.probe) {
    const { run, layer } = this.S;
    return this.mapsCache.get(JSON.stringify([run, layer, step, probe]), () => getJSON("maps", { run, layer, step, probe }));
  }

  fetchAtlas(step, probe = this.S.probe) {
    const { run, layer } = this.S;
    return this.atlasCache.get(JSON.stringify([run, layer, step, probe]), () => getImageData("atlas", { run, layer, step, probe }));
  }

  setStep(step) {
    if (step === this.S.step) return;
    this.S.step = step;
    this.slider.setValue(step);
    this.requestStep();
    this.writeUrl();
  }

  /** Loads the selected step. While a load is in flight only the latest selection is loaded after it, so
   * that scrubbing through a long series never queues a request per step it passes over. */
  requestStep() {
    if (this.stepBusy) { this.stepPending = true; return; }
    this.stepBusy = true;
    this.loadStep().finally(() => {
      this.stepBusy = false;
      if (!this.stepPending) return;
      this.stepPending = false;
      if (!this.cur || this.cur.step !== this.S.step) this.requestStep();
    });
  }

  /** Loads and draws the step this.S.step; the promise has the step it loads as `.step`. */
  loadStep() {
    const step = this.S.step;
    const p = this._loadStep();
    p.step = step;
    return p;
  }

  async _loadStep() {
    const t = ++this.tok.step;
    const step = this.S.step;
    if (step === null || step === undefined) return;
    this.layerView.loading(true);
    let maps, img;
    try {
      [maps, img] = await Promise.all([this.fetchMaps(step), this.fetchAtlas(step)]);
    } catch (e) {
      if (t !== this.tok.step) return;
      this.layerView.loading(false);
      this.cur = null;
      this.layerView.legendCard.hidden = true;
      showError(this.layerView.gridMsg, e, { title: `Could not load step ${step}` });
      this.grid.setSource(NO_SOURCE);
      this.unit.col.hidden = true;
      return;
    }
    if (t !== this.tok.step) return;
    this.layerView.loading(false);
    this.layerView.gridMsg.replaceChildren();
    this.cur = { maps, img, step };
    this.layerView.legendCard.hidden = false;
    this.updateProbeCard();
    this.recolor();
    this.overview.setCursor(this.S.unit, step);
    if (this.S.unit >= maps.range.length) this.S.unit = -1;
    this.prefetchNeighbours();
  }

  prefetchNeighbours() {
    const i = this.steps.indexOf(this.S.step);
    if (i < 0) return;
    for (const j of [i + 1, i - 1]) {
      if (j >= 0 && j < this.steps.length) {
        this.fetchMaps(this.steps[j]).catch(() => {});
        this.fetchAtlas(this.steps[j]).catch(() => {});
      }
    }
  }

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
