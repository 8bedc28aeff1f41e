// The RNN cells dashboard: probe texts coloured by one cell (Karpathy, Johnson and Fei-Fei 2015), every
// cell as a sparkline, span selection and match (LSTMVis, Strobelt et al. 2017), regex pattern search,
// gate saturation and a cell across training. This module owns the state and the data flow; the panels
// are text.js, cells.js, search.js and training.js. All data text is inserted with textContent.

import { onThemeChange } from "../shared/theme.js";
import { mountDashboard } from "../shared/mount.js";
import { getJSON, getBlob, PromiseCache, showError } from "../shared/api.js";
import { connectApp, loadLayerSteps, loadRunTags, refreshTags, runItems, showEmpty } from "../shared/tags.js";
import { setUrlState } from "../shared/host.js";
import { StepSlider } from "../shared/slider.js";
import { el, option, field, appShell } from "../shared/dom.js";
import { SideList } from "../shared/sidebar.js";
import { Traces, kindsOf, KIND_LABELS, displayToken } from "./data.js";
import { TextPanel } from "./text.js";
import { CellsPanel } from "./cells.js";
import { SearchPanel } from "./search.js";
import { SaturationPanel, HistoryPanel } from "./training.js";

const CELL_NAMES = { lstm: "LSTM", gru: "GRU", simple_rnn: "SimpleRNN" };

class RnnApp {
  constructor() {
    this.S = { run: null, layer: null, step: null, cell: 0, kind: "state", probe: 0, threshold: 0.5, regex: "" };
    this.tags = null;
    this.hostRuns = null;
    this.steps = [];
    this.traces = null;
    this.selection = null;
    this.cache = new PromiseCache(64);
    this.tok = { layer: 0, step: 0, sel: 0, pat: 0, hist: 0, match: 0 };
  }

  build() {
    const { side, main } = appShell("nv-rnn", "RNN cells settings");
    this.main = main;
    this.runs = new SideList(side, { title: "Runs", cls: "nv-run-list", emptyText: "No runs.",
      onPick: (r) => { this.S.layer = null; this.S.step = null; this.urlStep = false; this.selectRun(r); } });
    this.layers = new SideList(side, { title: "Layers", cls: "nv-layer-list", emptyText: "No layers.",
      onPick: (l) => { this.urlStep = false; this.selectLayer(l); } });
    const [sec, body] = [el("section", "nv-section"), el("div")];
    sec.append(el("div", "nv-section-title", "Cell"), body);
    this.kindSel = el("select", "nv-select");
    this.kindSel.id = "nv-kind";
    this.kindSel.addEventListener("change", () => { this.S.kind = this.kindSel.value; this.repaint(true); });
    this.cellInput = el("input", "nv-num-input");
    this.cellInput.id = "nv-cell";
    this.cellInput.type = "number";
    this.cellInput.min = "0";
    this.cellInput.addEventListener("change", () => this.setCell(Number(this.cellInput.value)));
    this.probeSel = el("select", "nv-select");
    this.probeSel.id = "nv-probe";
    this.probeSel.addEventListener("change", () => { this.S.probe = Number(this.probeSel.value); this.repaint(true); });
    this.threshold = el("input", "nv-num-input");
    this.threshold.id = "nv-threshold";
    this.threshold.type = "number";
    this.threshold.step = "0.05";
    this.threshold.addEventListener("change", () => this.setThreshold(Number(this.threshold.value)));
    body.append(field("Value", this.kindSel), field("Cell", this.cellInput), field("Sparklines of", this.probeSel),
      field("On above", this.threshold),
      el("div", "nv-hint", "A cell is on where its value is above the threshold (span selection, match, precision and recall)."));
    side.append(sec);

    this.banner = el("div", "nv-banner");
    const header = el("div", "nv-card nv-header");
    const titleRow = el("div", "nv-card-title");
    this.layerTitle = el("span", "nv-layer-title", "RNN cells");
    this.layerSub = el("span", "nv-sub");
    titleRow.append(this.layerTitle, this.layerSub);
    this.slider = new StepSlider(null, (step) => this.setStep(step));
    header.append(titleRow, this.slider.el);
    this.stepMsg = el("div");
    const row = el("div", "nv-rnn-row");
    const leftCol = el("div", "nv-rnn-text-col");
    const rightCol = el("div", "nv-rnn-search-col");
    row.append(leftCol, rightCol);
    this.text = new TextPanel(leftCol, {
      select: (p, a, b) => this.rankSpan({ probe: p, start: a, end: b }),
      predictions: (p) => this.predictions(p),
    });
    this.search = new SearchPanel(rightCol, {
      cell: (u) => this.setCell(u), pattern: (re) => this.runPattern(re), match: (cells) => this.match(cells),
    });
    this.cells = new CellsPanel(main, { cell: (u) => this.setCell(u) });
    const row2 = el("div", "nv-rnn-row");
    this.saturation = new SaturationPanel(row2, { cell: (u) => this.setCell(u) });
    this.history = new HistoryPanel(row2, { step: (s) => this.setStep(s) });
    this.content = el("div", "nv-content");
    this.content.append(header, this.stepMsg, row, this.cells.card, row2);
    this.empty = el("div", "nv-empty");
    this.empty.hidden = true;
    main.append(this.banner, this.empty, this.content);
  }

  // ------------------------------------------------------------------ state and URL
  writeUrl() {
    const s = this.S;
    setUrlState({ run: s.run, layer: s.layer, step: s.step, cell: s.cell, kind: s.kind !== "state" ? s.kind : null,
      probe: s.probe || null, threshold: s.threshold !== 0.5 ? s.threshold : null, regex: s.regex || null });
  }

  readUrl(u) {
    const s = this.S;
    if (u.run) s.run = u.run;
    if (u.layer) s.layer = u.layer;
    if (/^-?\d+$/.test(u.step || "")) { s.step = Number(u.step); this.urlStep = true; }
    if (/^\d+$/.test(u.cell || "")) { s.cell = Number(u.cell); this.urlCell = true; }
    if (/^\d+$/.test(u.probe || "")) s.probe = Number(u.probe);
    if (u.kind) s.kind = u.kind;
    if (u.threshold && Number.isFinite(Number(u.threshold))) s.threshold = Number(u.threshold);
    if (u.regex) s.regex = u.regex;
  }

  showBanner(msg) { if (!msg) this.banner.replaceChildren(); else showError(this.banner, msg, { kind: "warn" }); }

  showEmpty(title, text) { showEmpty(this.empty, this.content, title, text); }

  async start() {
    this.build();
    await connectApp(this);
    this.search.regex.value = this.S.regex;
    onThemeChange(() => this.repaint(false));
    await this.loadTags();
  }

  async loadTags() {
    const run = await loadRunTags(this, { what: "RNN traces",
      howTo: "Add tb_nnvis.keras.RNNCellsCallback(log_dir, probe_texts=[...]) to fit, or write tb_nnvis.summary.rnn_traces(...)." });
    if (run !== null) await this.selectRun(run, true);
  }

  async reload() {
    this.cache.clear();
    if (await refreshTags(this) && (this.tags.runs[this.S.run] || {})[this.S.layer]) await this.loadSteps(true);
  }

  renderRuns() {
    this.runs.setItems(runItems(this.tags, this.hostRuns), this.S.run);
  }

  async selectRun(run, initial = false) {
    this.S.run = run;
    this.runs.setSelected(run);
    const layers = (this.tags.runs || {})[run] || {};
    this.layers.setItems(Object.entries(layers).map(([name, info]) => ({ key: name, name,
      meta: `${CELL_NAMES[info.cell] || info.cell} ${info.units}`, title: `${name} · ${info.units} cells` })), this.S.layer);
    if (!Object.keys(layers).length) {
      this.showEmpty(`No RNN traces for run “${run}”`, "Pick another run, or log traces for this one with RNNCellsCallback.");
      return;
    }
    if (!this.S.layer || !layers[this.S.layer]) {
      if (this.S.layer && initial) this.showBanner(`No RNN traces for layer “${this.S.layer}” in run “${run}”.`);
      this.S.layer = Object.keys(layers)[0];
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
    this.layerSub.textContent = `${CELL_NAMES[info.cell] || info.cell} · ${info.units} cells`;
    const kinds = kindsOf(info);
    this.kindSel.replaceChildren(...kinds.map((k) => option(k, k === "state" && info.cell !== "lstm" ? "state (h)" : KIND_LABELS[k] || k)));
    if (!kinds.includes(this.S.kind)) this.S.kind = "state";
    this.kindSel.value = this.S.kind;
    if (this.S.cell >= info.units) this.S.cell = 0;
    this.cellInput.max = String(info.units - 1);
    this.selection = null;
    this.pickCell = true;
    await this.loadSteps(false);
    this.urlCell = false;
  }

  async loadSteps(isReload) {
    if (!(await loadLayerSteps(this, isReload))) return;
    this.slider.setValue(this.S.step);
    await this.loadStep();
  }

  setStep(step) {
    if (step === this.S.step) return;
    this.S.step = step;
    this.slider.setValue(step);
    this.loadStep();
  }

  /** The decoded traces of the current run/layer/step. */
  fetchTraces(step = this.S.step) {
    const { run, layer } = this.S;
    return this.cache.get(JSON.stringify(["traces", run, layer, step]), async () => {
      const [text, blob] = await Promise.all([getJSON("text", { run, layer, step }), getBlob("values", { run, layer, step })]);
      return new Traces(text, await blob.arrayBuffer());
    });
  }

  async loadStep() {
    const t = ++this.tok.step;
    let traces;
    try {
      traces = await this.fetchTraces();
    } catch (e) {
      if (t !== this.tok.step) return;
      showError(this.stepMsg, e, { title: `Could not load step ${this.S.step}` });
      return;
    }
    if (t !== this.tok.step) return;
    this.stepMsg.replaceChildren();
    this.traces = traces;
    if (this.S.cell >= traces.U) this.S.cell = 0;
    if (!this.urlCell && this.pickCell) this.S.cell = liveliestCell(traces, this.S.kind);
    this.pickCell = false;
    if (this.S.probe >= traces.P) this.S.probe = 0;
    this.probeSel.replaceChildren(...traces.tokens.map((toks, p) => option(String(p), `probe ${p}: ${toks.slice(0, 16).map(displayToken).join(toks.some((x) => x.length > 1) ? " " : "")}`)));
    this.probeSel.value = String(this.S.probe);
    this.text.setTraces(traces);
    this.repaint(true);
    this.loadSaturation();
    if (this.selection) this.rankSpan(this.selection);
    if (this.S.regex) this.runPattern(this.S.regex);
  }

  /** Redraws what depends on the cell, kind and probe; `refetch` also reloads the cell's history. */
  repaint(refetch) {
    const S = this.S;
    this.cellInput.value = String(S.cell);
    this.threshold.value = String(S.threshold);
    if (!this.traces) return;
    this.text.paint(S.kind, S.cell);
    this.cells.set({ traces: this.traces, kind: S.kind, probe: S.probe, cell: S.cell, selection: this.selection });
    this.search.setCell(S.cell);
    this.saturation.setCell(S.cell);
    if (refetch) this.loadHistory();
    this.writeUrl();
  }

  setCell(u) {
    if (!this.traces || !Number.isInteger(u) || u < 0 || u >= this.traces.U) { this.cellInput.value = String(this.S.cell); return; }
    this.S.cell = u;
    this.repaint(true);
  }

  setThreshold(v) {
    if (!Number.isFinite(v)) { this.threshold.value = String(this.S.threshold); return; }
    this.S.threshold = v;
    if (this.selection) this.rankSpan(this.selection);
    if (this.S.regex) this.runPattern(this.S.regex);
    this.writeUrl();
  }

  params(extra) {
    return { run: this.S.run, layer: this.S.layer, step: this.S.step, kind: this.S.kind, threshold: this.S.threshold, ...extra };
  }

  async rankSpan(sel) {
    const t = ++this.tok.sel;
    this.selection = sel;
    this.text.setSelection(sel, false);
    this.cells.set({ traces: this.traces, kind: this.S.kind, probe: this.S.probe, cell: this.S.cell, selection: sel });
    try {
      const d = await getJSON("select", this.params(sel));
      if (t !== this.tok.sel) return;
      const toks = this.traces.tokens[sel.probe].slice(sel.start, sel.end).map(displayToken);
      this.search.showSelection(d, toks.join(toks.some((x) => x.length > 1) ? " " : ""));
    } catch (e) {
      if (t === this.tok.sel) this.search.selectionError(e);
    }
  }

  async match(cells) {
    const t = ++this.tok.match;
    if (!cells.length) { this.text.mark("nv-match", []); this.search.showMatches({ cells, spans: [] }); return; }
    try {
      const d = await getJSON("match", this.params({ cells: cells.join(",") }));
      if (t !== this.tok.match) return;
      this.text.mark("nv-match", d.spans);
      this.search.showMatches(d);
    } catch (e) {
      if (t === this.tok.match) this.search.selectionError(e);
    }
  }

  async runPattern(regex) {
    const t = ++this.tok.pat;
    this.S.regex = regex;
    this.writeUrl();
    try {
      const d = await getJSON("pattern", this.params({ regex }));
      if (t !== this.tok.pat) return;
      this.text.mark("nv-pattern", TextPanel.runs(d.tracks));
      this.search.showPattern(d);
    } catch (e) {
      if (t !== this.tok.pat) return;
      this.text.mark("nv-pattern", []);
      this.search.patternError(e);
    }
  }

  async loadSaturation() {
    const t = this.tok.step;
    try {
      const d = await this.cache.get(JSON.stringify(["sat", this.S.run, this.S.layer, this.S.step]),
        () => getJSON("saturation", { run: this.S.run, layer: this.S.layer, step: this.S.step }));
      if (t === this.tok.step) this.saturation.setData(d, this.S.cell);
    } catch (e) {
      if (t === this.tok.step) showError(this.saturation.body, e, { title: "Could not load gate saturation" });
    }
  }

  async loadHistory() {
    const t = ++this.tok.hist;
    const { run, layer, kind, cell, probe } = this.S;
    try {
      const d = await this.cache.get(JSON.stringify(["cell", run, layer, kind, cell, probe, this.steps.length]),
        () => getJSON("cell", { run, layer, kind, cell, probe }));
      if (t !== this.tok.hist || !this.traces) return;
      this.history.setData(d, this.traces.tokens[probe], this.traces.scale(kind, cell), this.S.step);
    } catch (e) {
      if (t === this.tok.hist) this.history.error(e);
    }
  }

  /** The top next tokens of a probe at the current step, or null when the run logged none. */
  predictions(probe) {
    if (!(this.tags.predictions || []).includes(this.S.run)) return Promise.resolve(null);
    const { run, step } = this.S;
    return this.cache.get(JSON.stringify(["pred", run, step, probe]),
      () => getJSON("predictions", { run, step, probe }).then((d) => d.top)).catch(() => null);
  }
}

/** The cell whose values vary most over the first probe: a better first view than cell 0. */
function liveliestCell(traces, kind) {
  let best = 0, bestVar = -1;
  for (let u = 0; u < traces.U; u++) {
    const v = traces.series(kind, 0, u).filter(Number.isFinite);
    if (!v.length) continue;
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
    if (variance > bestVar) { bestVar = variance; best = u; }
  }
  return best;
}

/** Called by TensorBoard (plugin_entry.html) to build the page into document.body. */
export const render = () => mountDashboard(RnnApp, { css: new URL("./style.css", import.meta.url).href,
  global: "__nnvisRnn", title: "RNN cells" });
