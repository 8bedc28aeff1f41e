// The Activations dashboard: every unit of a layer as a small map (one canvas), a unit detail panel with
// a filmstrip over training, and a unit × step overview. In the spirit of Yosinski et al.'s Deep
// Visualization Toolbox. All data text is inserted with textContent.

import { addStylesheet, installTheme, themeReady, onThemeChange } from "../shared/theme.js";
import { getJSON, getImageData, PromiseCache, showError, errorText, apiUrl } from "../shared/api.js";
import { connectHost, getHostRuns, onRunsChanged, onDataReloaded, getUrlState, setUrlState, primeUrlState } from "../shared/host.js";
import { ColorBar, COLORMAPS, specialColors, rgbCss } from "../shared/colormap.js";
import { TileGrid } from "../shared/grid.js";
import { StepSlider } from "../shared/slider.js";
import { fmt, fmtShape, fmtPct } from "../shared/format.js";
import { colorizeAtlas, cellSize, valueAt, resolveCmap, layerRange, FLAG_NAN, FLAG_POSINF, FLAG_NEGINF } from "./atlas.js";
import { DetailPanel } from "./detail.js";
import { Overview, OVERVIEW_FIELDS } from "./overview.js";

const PLUGIN = "nnvis_activations";
const TILE_ZOOM = { s: 0.6, m: 1, l: 1.7 };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

class ActivationsApp {
  constructor() {
    this.S = { run: null, layer: null, probe: 0, step: null, unit: -1, scale: "unit", cmap: "auto", dead: true, stat: "mean", size: "m" };
    this.tags = null;
    this.hostRuns = null;
    this.steps = [];
    this.stepsInfo = null;
    this.cur = null; // {maps, img, colored, key}
    this.statsData = null;
    this.atlasCache = new PromiseCache(600);
    this.mapsCache = new PromiseCache(600);
    this.unitCache = new PromiseCache(200);
    this.topCache = new PromiseCache(400);
    this.noTop = new Set(); // JSON([run, layer]) of layers without top examples (the /top 404)
    this.tok = { layer: 0, step: 0, unit: 0, top: 0 };
    this.playTimer = 0;
  }

  // ------------------------------------------------------------------ layout
  build() {
    const app = el("div", "nv-app nv-activations");
    const side = el("aside", "nv-sidebar");
    side.setAttribute("aria-label", "Activations settings");
    const main = el("main", "nv-main");
    app.append(side, main);
    document.body.replaceChildren(app);
    this.main = main;

    // --- sidebar: runs and layers, each a titled listbox
    const listSection = (title, cls) => {
      const sec = el("section", "nv-section");
      const list = el("div", `nv-list ${cls}`);
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", title);
      sec.append(el("div", "nv-section-title", title), list);
      return [sec, list];
    };
    const [secRuns, runList] = listSection("Runs", "nv-run-list");
    const [secLayers, layerList] = listSection("Layers", "nv-layer-list");
    this.runList = runList;
    this.layerList = layerList;

    // --- probe inputs
    const secProbe = el("section", "nv-section");
    secProbe.append(el("div", "nv-section-title", "Probe input"));
    this.probeList = el("div", "nv-probes");
    secProbe.append(this.probeList);

    // --- display
    const secDisp = el("section", "nv-section");
    secDisp.append(el("div", "nv-section-title", "Display"));
    const scaleField = el("div", "nv-field");
    scaleField.append(el("label", "", "Colour scale"));
    this.scaleSeg = el("div", "nv-seg");
    this.scaleSeg.setAttribute("role", "group");
    this.scaleSeg.setAttribute("aria-label", "Colour scale");
    for (const [v, t, title] of [["unit", "per unit", "Each unit stretched over its own range"], ["layer", "shared", "One colour scale for the whole layer"]]) {
      const b = el("button", "", t);
      b.type = "button";
      b.dataset.value = v;
      b.title = title;
      b.addEventListener("click", () => { this.S.scale = v; this.syncControls(); this.recolor(); this.writeUrl(); });
      this.scaleSeg.appendChild(b);
    }
    scaleField.append(this.scaleSeg);

    const cmapField = el("div", "nv-field");
    const cmapLabel = el("label", "", "Colormap");
    cmapLabel.htmlFor = "nv-cmap";
    this.cmapSel = el("select", "nv-select");
    this.cmapSel.id = "nv-cmap";
    this.cmapSel.append(option("auto", "auto (signed → diverging)"));
    for (const [k, v] of Object.entries(COLORMAPS)) this.cmapSel.append(option(k, v.label));
    this.cmapSel.addEventListener("change", () => { this.S.cmap = this.cmapSel.value; this.recolor(); this.overview.setOptions({ cmap: this.S.cmap }); this.writeUrl(); });
    cmapField.append(cmapLabel, this.cmapSel);

    const sizeField = el("div", "nv-field");
    sizeField.append(el("label", "", "Tile size"));
    this.sizeSeg = el("div", "nv-seg");
    this.sizeSeg.setAttribute("role", "group");
    this.sizeSeg.setAttribute("aria-label", "Tile size");
    for (const [v, t] of [["s", "S"], ["m", "M"], ["l", "L"]]) {
      const b = el("button", "", t);
      b.type = "button";
      b.dataset.value = v;
      b.addEventListener("click", () => { this.S.size = v; this.syncControls(); this.recolor(); });
      this.sizeSeg.appendChild(b);
    }
    sizeField.append(this.sizeSeg);

    const deadLabel = el("label", "nv-check");
    this.deadBox = el("input");
    this.deadBox.type = "checkbox";
    this.deadBox.checked = true;
    this.deadBox.addEventListener("change", () => { this.S.dead = this.deadBox.checked; this.updateMarks(); this.overview.setOptions({ showDead: this.S.dead }); });
    deadLabel.append(this.deadBox, document.createTextNode("Mark dead units"));
    const deadHint = el("div", "nv-hint", "Dead: max ≤ 0 for every probe and position at this step.");
    secDisp.append(scaleField, cmapField, sizeField, deadLabel, deadHint);

    side.append(secRuns, secLayers, secProbe, secDisp);

    // --- main
    this.banner = el("div", "nv-banner");
    this.header = el("div", "nv-card nv-header");
    const titleRow = el("div", "nv-card-title");
    this.layerTitle = el("span", "nv-layer-title", "Activations");
    this.layerSub = el("span", "nv-sub");
    titleRow.append(this.layerTitle, this.layerSub);
    this.slider = new StepSlider(null, (step) => { this.stopPlay(); this.setStep(step); });
    this.header.append(titleRow, this.slider.el);

    this.row = el("div", "nv-row");
    // left column: probe image + legend
    this.leftCol = el("div", "nv-col-left");
    this.probeCard = el("div", "nv-card nv-probe-card");
    this.probeCardTitle = el("div", "nv-card-title", "Input");
    this.probeImg = el("img", "nv-probe-img");
    this.probeImg.alt = "probe input";
    this.probeCaption = el("div", "nv-faint");
    this.probeCard.append(this.probeCardTitle, this.probeImg, this.probeCaption);
    this.probeImg.addEventListener("error", () => { this.probeCard.hidden = true; });
    this.probeImg.addEventListener("load", () => { this.probeCard.hidden = false; });
    this.legendCard = el("div", "nv-card nv-legend-card");
    this.colorbar = new ColorBar(this.legendCard, { width: 200 });
    this.leftCol.append(this.probeCard, this.legendCard);

    // grid
    this.gridCard = el("div", "nv-card nv-grid-card");
    const gt = el("div", "nv-card-title");
    this.gridTitle = el("span", "", "Units");
    this.gridInfo = el("span", "nv-sub nv-hover-info");
    gt.append(this.gridTitle, this.gridInfo);
    this.gridMsg = el("div", "nv-grid-msg");
    this.gridHost = el("div", "nv-grid-host");
    this.gridHelp = el("div", "nv-hint", "Click a unit or use the arrow keys and Enter to inspect it.");
    this.gridCard.append(gt, this.gridMsg, this.gridHost, this.gridHelp);
    this.grid = new TileGrid(this.gridHost, {
      label: "Units of the layer",
      onSelect: (u) => this.selectUnit(u),
      onHover: (u, px, py) => this.onGridHover(u, px, py),
      describe: (u, px, py) => this.describeUnit(u, px, py),
    });

    // detail
    this.detailCol = el("div", "nv-col-detail");
    this.detail = new DetailPanel(this.detailCol, {
      onClose: () => this.selectUnit(-1),
      onStep: (s) => { this.stopPlay(); this.setStep(s); },
      onPlay: (p) => (p ? this.startPlay() : this.stopPlay()),
    });
    this.detailCol.hidden = true;

    this.row.append(this.leftCol, this.gridCard, this.detailCol);

    // overview
    this.ovCard = el("div", "nv-card nv-overview-card");
    const ot = el("div", "nv-card-title");
    ot.append(el("span", "", "Units over training"));
    const sub = el("span", "nv-sub", "rows: units · columns: steps · click to select");
    this.statSel = el("select", "nv-select nv-stat-select");
    this.statSel.setAttribute("aria-label", "Statistic");
    for (const [k, t] of OVERVIEW_FIELDS) this.statSel.append(option(k, t));
    this.statSel.style.flex = "0 0 auto";
    this.statSel.addEventListener("change", () => { this.S.stat = this.statSel.value; this.overview.setOptions({ field: this.S.stat }); });
    const sp = el("span");
    sp.style.flex = "1";
    ot.append(sub, sp, this.statSel);
    this.ovMsg = el("div");
    this.ovCard.append(ot, this.ovMsg);
    this.overview = new Overview(this.ovCard, { onPick: (u, step) => this.pickFromOverview(u, step) });

    this.content = el("div", "nv-content");
    this.content.append(this.header, this.row, this.ovCard);
    this.empty = el("div", "nv-empty");
    this.empty.hidden = true;
    main.append(this.banner, this.empty, this.content);
    this.syncControls();
  }

  syncControls() {
    for (const b of this.scaleSeg.children) b.setAttribute("aria-pressed", String(b.dataset.value === this.S.scale));
    for (const b of this.sizeSeg.children) b.setAttribute("aria-pressed", String(b.dataset.value === this.S.size));
    this.cmapSel.value = COLORMAPS[this.S.cmap] ? this.S.cmap : "auto";
    this.deadBox.checked = this.S.dead;
    this.statSel.value = this.S.stat;
  }

  showBanner(err, title = "") {
    if (!err) { this.banner.replaceChildren(); return; }
    showError(this.banner, err, { title });
  }

  showEmpty(title, text) {
    this.empty.replaceChildren(el("div", "nv-empty-title", title), el("div", "", text));
    this.empty.hidden = false;
    this.content.hidden = true;
  }

  hideEmpty() {
    this.empty.hidden = true;
    this.content.hidden = false;
  }

  // ------------------------------------------------------------------ URL state
  writeUrl() {
    const s = this.S;
    setUrlState({
      run: s.run, layer: s.layer, probe: s.run ? s.probe : null, step: s.step,
      unit: s.unit >= 0 ? s.unit : null,
      scale: s.scale !== "unit" ? s.scale : null,
      cmap: s.cmap !== "auto" ? s.cmap : null,
    });
  }

  readUrl(u) {
    const s = this.S;
    if (u.run) s.run = u.run;
    if (u.layer) s.layer = u.layer;
    if (u.probe !== undefined && /^\d+$/.test(u.probe)) s.probe = Number(u.probe);
    if (u.step !== undefined && /^-?\d+$/.test(u.step)) { s.step = Number(u.step); this.urlStep = true; }
    if (u.unit !== undefined && /^\d+$/.test(u.unit)) s.unit = Number(u.unit);
    if (u.scale === "layer" || u.scale === "unit") s.scale = u.scale;
    if (u.cmap && (u.cmap === "auto" || COLORMAPS[u.cmap])) s.cmap = u.cmap;
  }

  // ------------------------------------------------------------------ data flow
  async start() {
    this.build();
    this.loading(true);
    connectHost();
    const [urlState, hostRuns] = await Promise.all([getUrlState(), getHostRuns()]);
    this.readUrl(urlState);
    primeUrlState(urlState);
    this.hostRuns = hostRuns;
    this.syncControls();
    onRunsChanged((runs) => { this.hostRuns = runs; this.renderRuns(); });
    onDataReloaded(() => this.reload());
    onThemeChange(() => { this.grid.redraw(); this.overview.draw(); });
    await this.loadTags();
  }

  loading(on) {
    this.gridInfo.replaceChildren();
    if (on) this.gridInfo.append(el("span", "nv-spinner"), document.createTextNode(" loading…"));
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
    // new data may bring (new) top examples
    this.topCache.clear();
    this.noTop.clear();
    this.topReq = null;
    if (!this.tags) return this.loadTags();
    try { this.tags = await getJSON("tags"); } catch (_) { return; }
    this.renderRuns();
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
    this.runList.replaceChildren();
    const runs = this.runNames();
    if (!runs.length) { this.runList.append(el("div", "nv-faint", "No runs.")); return; }
    for (const r of runs) {
      const item = el("div", "nv-list-item");
      item.tabIndex = 0;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", String(r === this.S.run));
      const has = !!(this.tags && this.tags.runs[r]);
      const name = el("span", "nv-name", r);
      name.title = r;
      const meta = el("span", "nv-meta", has ? `${Object.keys(this.tags.runs[r]).length} layers` : "no data");
      if (!has) item.classList.add("nv-nodata");
      item.append(name, meta);
      const go = () => { this.stopPlay(); this.S.layer = null; this.S.step = null; this.S.unit = -1; this.urlStep = false; this.selectRun(r); };
      item.addEventListener("click", go);
      item.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
      this.runList.appendChild(item);
    }
  }

  async selectRun(run, initial = false) {
    this.S.run = run;
    this.renderRuns();
    const layers = (this.tags.runs || {})[run];
    if (!layers || !Object.keys(layers).length) {
      this.layerList.replaceChildren(el("div", "nv-faint", "No layers."));
      this.probeList.replaceChildren();
      this.showEmpty(`No activation data for run “${run}”`, "This run has no activation summaries. Pick another run, or log activations for it with tb_nnvis.summary.activations(...).");
      this.writeUrl();
      return;
    }
    this.hideEmpty();
    const names = Object.keys(layers);
    if (!this.S.layer || !layers[this.S.layer]) {
      if (this.S.layer && initial) this.showBanner(`Layer “${this.S.layer}” has no activation data in run “${run}”.`);
      this.S.layer = names[0];
    }
    this.renderLayers();
    this.renderProbes();
    await this.selectLayer(this.S.layer, initial);
  }

  renderLayers() {
    this.layerList.replaceChildren();
    const layers = this.tags.runs[this.S.run] || {};
    for (const [name, info] of Object.entries(layers)) {
      const item = el("div", "nv-list-item");
      item.tabIndex = 0;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", String(name === this.S.layer));
      const n = el("span", "nv-name", name);
      n.title = `${name} · ${info.layout} · ${info.units} units`;
      const shape = info.shape || [];
      const meta = el("span", "nv-meta", info.layout === "dense" ? `${info.units}` : info.layout === "sequence" ? `${shape[2]}×${info.units}` : `${shape[1]}×${shape[2]}×${info.units}`);
      item.append(n, meta);
      const go = () => { this.stopPlay(); this.S.unit = -1; this.urlStep = false; this.selectLayer(name); };
      item.addEventListener("click", go);
      item.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); }
        else if (e.key === "ArrowDown" && item.nextElementSibling) { e.preventDefault(); item.nextElementSibling.focus(); }
        else if (e.key === "ArrowUp" && item.previousElementSibling) { e.preventDefault(); item.previousElementSibling.focus(); }
      });
      this.layerList.appendChild(item);
    }
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
    this.probeList.replaceChildren();
    const P = this.probeCount();
    if (this.S.probe >= P) this.S.probe = 0;
    const images = this.hasProbeImages();
    if (P > 64) {
      const sel = el("select", "nv-select");
      sel.setAttribute("aria-label", "Probe input");
      for (let i = 0; i < P; i++) sel.append(option(String(i), `probe ${i}`));
      sel.value = String(this.S.probe);
      sel.addEventListener("change", () => this.setProbe(Number(sel.value)));
      this.probeList.append(sel);
    } else {
      for (let i = 0; i < P; i++) {
        const b = el("button", images ? "nv-probe-thumb" : "nv-probe-chip");
        b.type = "button";
        b.title = `probe ${i}`;
        b.setAttribute("aria-label", `probe ${i}`);
        b.setAttribute("aria-pressed", String(i === this.S.probe));
        if (images) {
          const img = el("img", "nv-pixelated");
          img.alt = `probe ${i}`;
          img.src = apiUrl("probe", { run: this.S.run, index: i });
          img.addEventListener("error", () => { img.remove(); b.className = "nv-probe-chip"; b.textContent = String(i); });
          b.append(img);
        } else {
          b.textContent = String(i);
        }
        b.addEventListener("click", () => this.setProbe(i));
        this.probeList.appendChild(b);
      }
    }
    this.updateProbeCard();
  }

  updateProbeCard() {
    for (const b of this.probeList.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.title === `probe ${this.S.probe}`));
    if (this.hasProbeImages()) {
      const src = apiUrl("probe", { run: this.S.run, index: this.S.probe });
      if (this.probeImg.getAttribute("src") !== src) this.probeImg.src = src;
      this.probeCaption.textContent = `probe ${this.S.probe} of ${this.probeCount()}`;
    } else {
      this.probeCard.hidden = true;
      this.probeImg.removeAttribute("src");
    }
  }

  setProbe(i) {
    this.S.probe = i;
    this.updateProbeCard();
    this.loadStep();
    this.writeUrl();
  }

  layerInfo() {
    return this.tags && this.tags.runs[this.S.run] ? this.tags.runs[this.S.run][this.S.layer] : null;
  }

  async selectLayer(layer, initial = false) {
    this.S.layer = layer;
    this.renderLayers();
    const info = this.layerInfo();
    this.layerTitle.textContent = layer;
    this.layerSub.textContent = info ? `${info.layout} · shape ${fmtShape(info.shape)} · ${info.units} units · ${info.probes} probe${info.probes === 1 ? "" : "s"}` : "";
    this.gridTitle.textContent = info ? `${info.units} units` : "Units";
    this.renderProbes();
    this.cur = null;
    this.statsData = null;
    this.overview.setData(null);
    this.detailCol.hidden = this.S.unit < 0;
    await this.loadLayerMeta(false, initial);
  }

  async loadLayerMeta(isReload = false, initial = false) {
    const t = ++this.tok.layer;
    const { run, layer } = this.S;
    const stepsP = getJSON("steps", { run, layer });
    const statsP = getJSON("stats", { run, layer });
    let steps;
    try {
      steps = await stepsP;
    } catch (e) {
      if (t !== this.tok.layer) return;
      this.slider.setSteps([]);
      showError(this.gridMsg, e, { title: "Could not load steps" });
      this.grid.setSource({ source: null, count: 0, tileW: 1, tileH: 1, srcCols: 1, cellW: 1, cellH: 1 });
      return;
    }
    if (t !== this.tok.layer) return;
    this.stepsInfo = steps;
    const prevSteps = this.steps || [];
    this.steps = (steps.steps || []).map((s) => s.step);
    this.slider.setSteps(this.steps, { sampleLimit: steps.sample_limit, hint: steps.hint || "" });
    if (!this.steps.length) {
      this.gridMsg.replaceChildren();
      showError(this.gridMsg, `No activation data for layer “${layer}” in run “${run}”.`, { kind: "warn" });
    }
    // On a data reload, a view that was showing the newest step follows the newest step.
    const wasLatest = isReload && prevSteps.length && this.S.step === prevSteps[prevSteps.length - 1];
    const keep = !wasLatest && this.S.step !== null && (this.steps.includes(this.S.step) || (initial && this.urlStep));
    if (!keep) this.S.step = this.steps.length ? this.steps[this.steps.length - 1] : null;
    this.slider.setValue(this.S.step);
    if (this.S.step !== null) await this.loadStep(isReload);
    statsP.then((d) => {
      if (t !== this.tok.layer) return;
      this.statsData = d;
      this.ovMsg.replaceChildren();
      if (!d.steps || !d.steps.length) showError(this.ovMsg, "No statistics logged for this layer yet.", { kind: "warn" });
      this.overview.setData(d);
      this.overview.setOptions({ field: this.S.stat, cmap: this.S.cmap, showDead: this.S.dead });
      this.overview.setCursor(this.S.unit, this.S.step);
    }, (e) => {
      if (t !== this.tok.layer) return;
      showError(this.ovMsg, e, { title: "Could not load statistics" });
    });
    this.writeUrl();
  }

  key(step = this.S.step, probe = this.S.probe) {
    return JSON.stringify([this.S.run, this.S.layer, step, probe]);
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
    this.loadStep();
    this.writeUrl();
  }

  async loadStep() {
    const t = ++this.tok.step;
    const step = this.S.step;
    if (step === null || step === undefined) return;
    this.loading(true);
    let maps, img;
    try {
      [maps, img] = await Promise.all([this.fetchMaps(step), this.fetchAtlas(step)]);
    } catch (e) {
      if (t !== this.tok.step) return;
      this.loading(false);
      this.cur = null;
      this.legendCard.hidden = true;
      showError(this.gridMsg, e, { title: `Could not load step ${step}` });
      this.grid.setSource({ source: null, count: 0, tileW: 1, tileH: 1, srcCols: 1, cellW: 1, cellH: 1 });
      this.detailCol.hidden = true;
      return;
    }
    if (t !== this.tok.step) return;
    this.loading(false);
    this.gridMsg.replaceChildren();
    this.cur = { maps, img, step };
    this.legendCard.hidden = false;
    this.recolor();
    this.overview.setCursor(this.S.unit, step);
    if (this.S.unit >= 0) {
      if (this.S.unit >= maps.range.length) this.S.unit = -1;
      else this.showDetail(false);
    }
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
    return this.cur ? this.cur.maps.stats.fields.indexOf(name) : -1;
  }

  unitStats(u) {
    const out = {};
    if (!this.cur || !this.cur.maps.stats) return out;
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

  recolor() {
    if (!this.cur) return;
    const { maps, img } = this.cur;
    const count = maps.range.length;
    // Dense layers: one value per unit and probe, so "per unit" means the unit's range over all probes.
    this.cur.single = maps.grid.tile_h * maps.grid.tile_w === 1;
    let unitIntervals = null;
    if (this.cur.single) {
      const fmin = this.statIndex("min"), fmax = this.statIndex("max");
      if (fmin >= 0 && fmax >= 0) unitIntervals = maps.stats.values.map((r) => [r[fmin], r[fmax]]);
    }
    const res = colorizeAtlas(img, maps, { mode: this.S.scale, cmap: this.S.cmap, count, unitIntervals });
    this.cur.colored = res.canvas;
    this.cur.cmapName = res.cmap;
    const { tile_h: th, tile_w: tw, cols } = maps.grid;
    const zoom = TILE_ZOOM[this.S.size] || 1;
    const sizer = (width) => {
      const [cw, ch] = cellSize(th, tw, { count, area: Math.max(300, width) * 300, zoom, maxPx: 150 });
      return [cw, ch, th === 1 && tw > 1 ? 6 : cw >= 20 ? 3 : 2]; // strips (sequences) get wider gaps
    };
    this.grid.setSource({ source: res.canvas, count, tileW: tw, tileH: th, srcCols: cols, cellW: 24, cellH: 24, gap: 2, sizer });
    this.grid.select(this.S.unit);
    this.updateMarks();
    if (this.S.unit >= 0) this.showDetail(false);
  }

  updateMarks() {
    if (!this.cur) return;
    const n = this.cur.maps.range.length;
    const marks = new Uint8Array(n);
    let dead = 0;
    for (let u = 0; u < n; u++) if (this.isDead(u)) { marks[u] = 1; dead++; }
    const sp = specialColors(this.cur.cmapName || "viridis");
    this.grid.setMarks(marks, this.S.dead, rgbCss(sp.dead));
    const nonfinite = (this.cur.maps.nonfinite || []).reduce((a, b) => a + (b || 0), 0);
    const parts = [`step ${this.cur.maps.step}`, `${dead} dead`];
    if (nonfinite) parts.push(`${nonfinite} non-finite values`);
    this.gridSummary = parts.join(" · ");
    this.gridInfo.textContent = this.gridSummary;
    const info = this.layerInfo();
    // colour bar: actual numbers for the shared scale, "unit min/max" for per-unit scaling
    const [glo] = layerRange(this.cur.maps.range);
    const name = resolveCmap(this.S.cmap, glo);
    let [lo, hi] = layerRange(this.cur.maps.range);
    if (COLORMAPS[name].diverging) { const m = Math.max(Math.abs(lo), Math.abs(hi)); lo = -m; hi = m; }
    const label = this.S.scale === "layer" ? "activation · one scale for the layer"
      : this.cur.single ? "activation · each unit on its range over all probes" : "activation · each unit on its own scale";
    this.colorbar.update({ cmap: name, lo, hi, label, showDead: this.S.dead, normalized: this.S.scale === "unit" });
    if (info) this.gridTitle.textContent = `${info.units} units`;
  }

  describeUnit(u, px, py) {
    const lines = [`unit ${u}`];
    if (!this.cur) return lines;
    const s = this.unitStats(u);
    if (px >= 0 && py >= 0) {
      const v = valueAt(this.cur.img, this.cur.maps, u, py, px);
      const { tile_h: th, tile_w: tw } = this.cur.maps.grid;
      if (v) {
        const pos = th === 1 && tw === 1 ? "" : th === 1 ? ` at t=${px}` : ` at (${py}, ${px})`;
        lines.push(`value${pos}: ${fmt(v.value)}`);
      }
    }
    lines.push(`mean ${fmt(s.mean)} · max ${fmt(s.max)}`);
    lines.push(`active ${s.frac_active === undefined ? "–" : fmtPct(s.frac_active)}${this.isDead(u) ? " · dead" : ""}`);
    if (s.nonfinite) lines.push(`non-finite values: ${s.nonfinite}`);
    return lines;
  }

  onGridHover(u) {
    if (!this.cur) return;
    this.gridInfo.textContent = u >= 0 ? `unit ${u} · ${this.gridSummary}` : this.gridSummary;
  }

  selectUnit(u) {
    this.S.unit = u;
    this.grid.select(u);
    this.overview.setCursor(u, this.S.step);
    if (u < 0) {
      this.stopPlay();
      this.detailCol.hidden = true;
      this.writeUrl();
      return;
    }
    this.showDetail(true);
    this.writeUrl();
  }

  pickFromOverview(u, step) {
    if (this.steps.includes(step) && step !== this.S.step) {
      this.S.unit = u;
      this.setStep(step);
      this.overview.setCursor(u, step);
      this.grid.select(u);
      this.detailCol.hidden = false;
    } else {
      this.selectUnit(u);
    }
  }

  showDetail(withFilm) {
    if (!this.cur || this.S.unit < 0 || this.S.unit >= this.cur.maps.range.length) return;
    const u = this.S.unit;
    this.detailCol.hidden = false;
    this.detail.show({
      unit: u, img: this.cur.img, maps: this.cur.maps, colored: this.cur.colored,
      layout: this.cur.maps.layout || (this.layerInfo() || {}).layout, statsRow: this.unitStats(u), dead: this.isDead(u),
    });
    this.loadTop();
    const filmKey = JSON.stringify([this.S.run, this.S.layer, this.S.probe, u, this.S.cmap]);
    if (withFilm || this.filmKey !== filmKey) this.loadFilm(filmKey);
    else this.detail.markCurrent(this.S.step);
  }

  /** The dataset examples that drive the selected unit most, at the viewed step (or the latest before it). */
  async loadTop() {
    const { run, layer, unit, step } = this.S;
    const layerKey = JSON.stringify([run, layer]);
    const key = JSON.stringify([run, layer, unit, step]);
    if (key === this.topReq) return;
    this.topReq = key;
    const t = ++this.tok.top;
    const info = this.layerInfo();
    if ((info && info.top_examples === false) || this.noTop.has(layerKey)) { this.detail.hideTop(); return; }
    let d;
    try {
      d = await this.topCache.get(key, () => getJSON("top", { run, layer, unit, step }));
    } catch (e) {
      if (t !== this.tok.top) return;
      this.topReq = null;
      // 404: this layer has no top examples (the callback ran without `examples=`): no section, no error
      if (e && e.status === 404) { this.noTop.add(layerKey); this.detail.hideTop(); }
      else this.detail.topError(e);
      return;
    }
    if (t !== this.tok.top) return;
    this.detail.setTop(d, { run, viewStep: step });
  }

  async loadFilm(filmKey) {
    const t = ++this.tok.unit;
    this.filmKey = filmKey;
    const { run, layer, probe, unit } = this.S;
    let d;
    try {
      d = await this.unitCache.get(JSON.stringify([run, layer, probe, unit]), () => getJSON("unit", { run, layer, probe, unit }));
    } catch (e) {
      if (t !== this.tok.unit) return;
      this.detail.film.replaceChildren();
      showError(this.detail.filmMsg, e, { title: "Could not load the unit over training" });
      return;
    }
    if (t !== this.tok.unit) return;
    const steps = d.steps || [];
    const [glo] = layerRange(this.cur ? this.cur.maps.range : []);
    const cmapName = resolveCmap(this.S.cmap, Math.min(glo, ...d.range.map((r) => (r && Number.isFinite(r[0]) ? r[0] : 0))));
    // fetch atlases with limited concurrency, nearest to the current step first
    const cur = steps.indexOf(this.S.step);
    const order = steps.map((_, i) => i).sort((a, b) => Math.abs(a - cur) - Math.abs(b - cur));
    const promises = new Array(steps.length);
    let active = 0, next = 0;
    const resolvers = steps.map(() => { let r; const p = new Promise((res) => { r = res; }); return [p, r]; });
    steps.forEach((_, i) => { promises[i] = resolvers[i][0]; });
    const pump = () => {
      while (active < 4 && next < order.length) {
        const i = order[next++];
        active++;
        this.fetchAtlas(steps[i], probe).then((img) => resolvers[i][1](img), (e) => resolvers[i][1](e instanceof Error ? e : new Error(String(e))))
          .finally(() => { active--; if (t === this.tok.unit) pump(); else { while (next < order.length) resolvers[order[next++]][1](null); } });
      }
    };
    pump();
    this.detail.setFilm({ unit, steps, ranges: d.range, grid: d.grid, cmapName, current: this.S.step, atlases: promises });
  }

  startPlay() {
    if (this.steps.length < 2) return;
    this.stopPlay();
    this.detail.setPlaying(true);
    this.playTimer = setInterval(() => {
      const i = this.steps.indexOf(this.S.step);
      const next = this.steps[(i + 1) % this.steps.length];
      this.setStep(next);
    }, 700);
  }

  stopPlay() {
    if (this.playTimer) clearInterval(this.playTimer);
    this.playTimer = 0;
    if (this.detail) this.detail.setPlaying(false);
  }
}

let appInstance = null;

/** Called by TensorBoard (plugin_entry.html) to build the page into document.body. */
export async function render() {
  installTheme();
  addStylesheet(new URL("./style.css", import.meta.url).href);
  await themeReady();
  appInstance = new ActivationsApp();
  window.__nnvisActivations = appInstance; // for tests and debugging
  try {
    await appInstance.start();
  } catch (e) {
    console.error(e);
    showError(appInstance.main || document.body, e, { title: "The Activations dashboard hit an error", replace: false });
  }
}

export { PLUGIN };
