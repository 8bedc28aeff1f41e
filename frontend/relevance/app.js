// The Relevance dashboard: LRP heatmaps of fixed probes (images and text) over training, the target
// switched without recomputing, composites side by side, and the units that carry the decision. This module
// owns the state and the data flow; the image view (image.js), the text view (text.js) and the units
// panel (units.js) draw. The main view shows a probe or, when one is opened in the Strategies view
// (strategies.js), a SpRAy member. All data text is inserted with textContent.

import { onThemeChange } from "../shared/theme.js";
import { mountDashboard } from "../shared/mount.js";
import { getJSON, PromiseCache, showError, errorText } from "../shared/api.js";
import { setUrlState } from "../shared/host.js";
import { connectApp, runItems } from "../shared/tags.js";
import { StepSlider } from "../shared/slider.js";
import { el, option, field, appShell } from "../shared/dom.js";
import { SideList } from "../shared/sidebar.js";
import { ImageView } from "./image.js";
import { TextView } from "./text.js";
import { UnitsView } from "./units.js";
import { StrategiesView } from "./strategies.js";
import { targetColumn, className } from "./scores.js";

const PLUGIN = "nnvis_relevance";
const DEFAULTS = { target: "predicted", pct: 99.5, opacity: 0.6 };
const NO_PROBES = "Pick another run, or log relevance for it with tb_nnvis.keras.RelevanceCallback.";

class RelevanceApp {
  constructor() {
    this.S = { run: null, name: null, step: null, probe: 0, composite: null, layer: null, ...DEFAULTS };
    this.tags = null;
    this.hostRuns = null;
    this.steps = [];
    this.dataCache = new PromiseCache(300);
    this.tok = 0;
    this.cur = null; // {info, data: {composite: /data answer}}
    // settles once the first run is chosen (or there is none): the Strategies view follows it, not a guess
    this.runChosen = new Promise((resolve) => { this.chooseRun = resolve; });
  }

  build() {
    const { side, main } = appShell("nv-relevance", "Relevance settings");
    this.main = main;
    this.runList = new SideList(side, { title: "Runs", cls: "nv-run-list", onPick: (r) => { this.S.name = null; this.S.step = null; this.selectRun(r); }, emptyText: "No runs." });
    this.nameList = new SideList(side, { title: "Probe sets", cls: "nv-name-list", onPick: (n) => { this.leaveMember(); this.S.step = null; this.selectName(n); }, emptyText: "No relevance data." });
    const [secProbe, probes] = [el("section", "nv-section"), el("div", "nv-probes")];
    secProbe.append(el("div", "nv-section-title", "Probe"), probes);
    this.probeList = probes;
    const secView = el("section", "nv-section");
    secView.append(el("div", "nv-section-title", "Display"));
    this.targetSel = el("select", "nv-select nv-target-select");
    this.targetSel.id = "nv-target";
    this.targetSel.addEventListener("change", () => this.setOption("target", this.targetSel.value));
    this.compSel = el("select", "nv-select nv-composite-select");
    this.compSel.id = "nv-composite";
    this.compSel.addEventListener("change", () => this.setOption("composite", this.compSel.value));
    this.pctInput = this.rangeInput("nv-pct", 90, 100, 0.1, (v) => this.setOption("pct", v));
    this.opInput = this.rangeInput("nv-opacity", 0, 1, 0.05, (v) => this.setOption("opacity", v));
    this.pctField = field("Clip scale at percentile of |R|", this.pctInput);
    this.opField = field("Overlay opacity", this.opInput);
    secView.append(field("Target class", this.targetSel), field("Composite (text, units)", this.compSel), this.pctField, this.opField,
      el("div", "nv-hint", "Red: relevance for the target class; blue: against it."));
    side.append(secProbe, secView);

    this.banner = el("div", "nv-banner");
    this.empty = el("div", "nv-empty");
    this.empty.hidden = true;
    this.content = el("div", "nv-content");
    const header = this.header = el("div", "nv-card nv-header");
    const titleRow = el("div", "nv-card-title");
    this.title = el("span", "nv-layer-title", "Relevance");
    this.sub = el("span", "nv-sub");
    titleRow.append(this.title, this.sub);
    this.slider = new StepSlider(null, (step) => this.setStep(step));
    header.append(titleRow, this.slider.el);
    this.msg = el("div", "nv-view-msg");
    this.viewHost = el("div", "nv-view");
    this.unitsHost = el("div", "nv-units-host");
    this.content.append(header, this.msg, this.viewHost, this.unitsHost);
    this.main.append(this.banner, this.empty, this.content);
    this.imageView = new ImageView(this);
    this.textView = new TextView(this);
    this.units = new UnitsView(this.unitsHost, this);
    this.strategies = new StrategiesView(this);
    this.main.append(this.strategies.el);
    document.addEventListener("keydown", (e) => this.onKey(e));
  }

  rangeInput(id, min, max, step, onChange) {
    const r = el("input", "nv-range");
    Object.assign(r, { type: "range", id, min: String(min), max: String(max), step: String(step) });
    r.addEventListener("input", () => onChange(Number(r.value)));
    return r;
  }

  sync() {
    const S = this.S;
    this.pctInput.value = String(S.pct);
    this.pctInput.title = `${S.pct}th percentile`;
    this.opInput.value = String(S.opacity);
    this.opInput.title = `${Math.round(S.opacity * 100)}%`;
  }

  // ------------------------------------------------------------------ URL state
  writeUrl() {
    const S = this.S;
    setUrlState({ ...(this.strategies ? this.strategies.urlState() : {}), run: S.run, name: S.name, step: S.step, probe: S.probe || null, composite: S.composite, layer: S.layer,
      target: S.target !== DEFAULTS.target ? S.target : null, pct: S.pct !== DEFAULTS.pct ? S.pct : null,
      opacity: S.opacity !== DEFAULTS.opacity ? S.opacity : null });
  }

  readUrl(u) {
    const S = this.S;
    for (const k of ["run", "name", "composite", "layer"]) if (u[k]) S[k] = u[k];
    if (/^\d+$/.test(u.probe || "")) S.probe = Number(u.probe);
    if (/^-?\d+$/.test(u.step || "")) S.step = Number(u.step);
    if (u.target === "predicted" || u.target === "true" || /^c\d+$/.test(u.target || "")) S.target = u.target;
    if (Number.isFinite(Number(u.pct)) && u.pct) S.pct = Math.min(100, Math.max(50, Number(u.pct)));
    if (Number.isFinite(Number(u.opacity)) && u.opacity) S.opacity = Math.min(1, Math.max(0, Number(u.opacity)));
  }

  // ------------------------------------------------------------------ data flow
  async start() {
    this.build();
    await connectApp(this);
    this.sync();
    onThemeChange(() => this.draw());
    this.strategies.start();
    await this.loadTags();
  }

  async loadTags() {
    try {
      this.tags = await getJSON("tags");
    } catch (e) {
      this.showEmpty("Could not load relevance data", errorText(e));
      this.chooseRun();
      return;
    }
    this.renderRuns();
    const runs = Object.keys(this.tags.runs || {});
    if (!runs.length) {
      this.chooseRun();
      this.showEmpty("No relevance data", "No run in this log directory has relevance summaries yet. Add tb_nnvis.keras.RelevanceCallback(log_dir, probes=...) to fit, or write tb_nnvis.summary.relevance_image(...); this page updates when TensorBoard reloads.");
      return;
    }
    if (!this.S.run || !runs.includes(this.S.run)) {
      if (this.S.run) this.showBanner(`No relevance data for run “${this.S.run}”.`);
      this.S.run = runs[0];
    }
    this.chooseRun();
    await this.selectRun(this.S.run);
  }

  async reload() {
    this.dataCache.clear();
    try { this.tags = await getJSON("tags"); } catch (_) { return; }
    this.renderRuns();
    this.strategies.reload();
    if (this.info()) await this.selectName(this.S.name, true);
  }

  showBanner(text) { if (text) showError(this.banner, text, { kind: "warn" }); else this.banner.replaceChildren(); }

  showEmpty(title, text) {
    this.empty.replaceChildren(el("div", "nv-empty-title", title), el("div", "", text));
    this.empty.hidden = false;
    this.content.hidden = true;
  }

  renderRuns() {
    this.runList.setItems(runItems(this.tags, this.hostRuns, "sets"), this.S.run);
  }

  info() { return this.tags && this.tags.runs[this.S.run] ? this.tags.runs[this.S.run][this.S.name] : null; }

  async selectRun(run) {
    this.S.run = run;
    this.runList.setSelected(run);
    this.strategies.setRun(run);
    const sets = (this.tags.runs || {})[run];
    if (!sets) {
      this.nameList.setItems([]);
      this.showEmpty(`No relevance data for run “${run}”`, NO_PROBES);
      this.writeUrl();
      return;
    }
    this.empty.hidden = true;
    this.content.hidden = false;
    this.nameList.setItems(Object.entries(sets).map(([n, i]) => ({ key: n, name: n, meta: `${i.kind} · ${i.probes}` })), this.S.name);
    if (!this.S.name || !sets[this.S.name]) this.S.name = Object.keys(sets)[0];
    await this.selectName(this.S.name);
  }

  async selectName(name, isReload = false) {
    this.S.name = name;
    this.nameList.setSelected(name);
    const info = this.info();
    if (!info.composites.includes(this.S.composite)) this.S.composite = info.composites[0];
    this.compSel.replaceChildren(...info.composites.map((c) => option(c, c)));
    this.compSel.value = this.S.composite;
    this.title.textContent = name;
    this.sub.textContent = `${info.kind} · ${info.probes} probes · ${info.composites.join(", ")}`;
    this.pctField.hidden = this.opField.hidden = info.kind !== "image";
    const t = ++this.tok;
    let steps;
    try {
      steps = await getJSON("steps", { run: this.S.run, name, composite: info.composites[0] });
    } catch (e) {
      if (t === this.tok) showError(this.msg, e, { title: "Could not load steps" });
      return;
    }
    if (t !== this.tok) return;
    this.steps = steps.steps.map((s) => s.step);
    this.slider.setSteps(this.steps, { sampleLimit: steps.sample_limit, hint: steps.hint || "" });
    const wasLatest = isReload && this.cur && this.S.step === this.cur.lastStep;
    if (wasLatest || !this.steps.includes(this.S.step)) this.S.step = this.steps.length ? this.steps[this.steps.length - 1] : null;
    this.slider.setValue(this.S.step);
    await this.loadStep();
  }

  fetchData(step, composite) {
    const { run, name } = this.S;
    return this.dataCache.get(JSON.stringify([run, name, composite, step]), () => getJSON("data", { run, name, composite, step }));
  }

  setStep(step) {
    const left = this.leaveMember();
    if (step === this.S.step) { if (left) this.draw(); return; }
    this.S.step = step;
    this.slider.setValue(step);
    this.loadStep();
  }

  async loadStep() {
    const t = ++this.tok;
    const info = this.info();
    if (this.S.step === null) { this.msg.replaceChildren(); this.writeUrl(); return; }
    let answers;
    try {
      answers = await Promise.all(info.composites.map((c) => this.fetchData(this.S.step, c)));
    } catch (e) {
      if (t !== this.tok) return;
      showError(this.msg, e, { title: `Could not load step ${this.S.step}` });
      return;
    }
    if (t !== this.tok) return;
    this.msg.replaceChildren();
    const data = {};
    info.composites.forEach((c, i) => { data[c] = answers[i]; });
    this.cur = { info, data, lastStep: this.steps[this.steps.length - 1] };
    if (this.S.probe >= answers[0].shape[0]) this.S.probe = 0;
    this.renderProbes();
    this.renderTargets();
    this.draw();
    this.writeUrl();
  }

  renderProbes() {
    const d = this.cur.data[this.S.composite];
    const count = d.shape[0];
    this.probeList.replaceChildren();
    for (let i = 0; i < count; i++) {
      const b = el("button", "nv-probe-chip", String(i));
      b.type = "button";
      b.title = d.tokens ? (d.tokens[i] || []).slice(0, 12).join(" ") : `probe ${i}`;
      b.setAttribute("aria-label", `probe ${i}`);
      b.setAttribute("aria-pressed", String(i === this.S.probe));
      b.addEventListener("click", () => this.setOption("probe", i));
      this.probeList.append(b);
    }
  }

  renderTargets() {
    const d = this.cur.data[this.S.composite];
    const row = d.targets[this.S.probe] || [];
    const opts = [option("predicted", `predicted (${className(d, row[0])})`)];
    if (d.labels) opts.push(option("true", `true (${className(d, d.labels[this.S.probe])})`));
    for (const c of row) opts.push(option(`c${c}`, className(d, c)));
    this.targetSel.replaceChildren(...opts);
    // A class this probe did not log keeps the choice (the view says so) and the menu shows the prediction.
    const known = [...this.targetSel.options].some((o) => o.value === this.S.target);
    this.targetSel.value = known ? this.S.target : "predicted";
  }

  setOption(name, value) {
    // A member is drawn for the target and composite SpRAy analysed: choosing another goes back to the probes.
    if (name === "probe" || name === "target" || name === "composite") this.leaveMember();
    this.S[name] = value;
    this.sync();
    if (name === "probe") { this.renderProbes(); this.renderTargets(); }
    if (name === "composite") this.renderProbes();
    this.draw();
    this.writeUrl();
  }

  /** The Strategies view opened or closed a member (or lost it): the main view follows; `reveal` scrolls to it. */
  memberChanged(reveal = false) {
    const open = !!(this.strategies && this.strategies.subject());
    if (!open && !this.showingMember) return;
    this.draw();
    if (open && reveal) this.content.scrollIntoView({ block: "start" });
  }

  /** Back to the probes: closes a member the main view shows (the Strategies view keeps its place). */
  leaveMember() {
    const sv = this.strategies;
    if (!sv || sv.S.member === null) return false;
    sv.S.member = null;
    if (sv.cur) sv.drawScatter();
    return true;
  }

  draw() {
    const member = this.strategies ? this.strategies.subject() : null;
    this.showingMember = !!member;
    this.header.hidden = this.unitsHost.hidden = !!member;
    if (member) {
      this.empty.hidden = true;
      this.content.hidden = false;
      this.imageView.show(this.viewHost, member);
      return;
    }
    if (!this.info()) { if (this.S.run) this.showEmpty(`No relevance data for run “${this.S.run}”`, NO_PROBES); return; }
    if (!this.cur) return;
    const kind = this.cur.info.kind;
    (kind === "image" ? this.imageView : this.textView).render(this.viewHost);
    this.units.render();
  }

  onKey(e) {
    if (e.target && /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName)) return;
    if (!this.cur) return;
    const count = this.cur.data[this.S.composite].shape[0];
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const i = this.steps.indexOf(this.S.step) + (e.key === "ArrowRight" ? 1 : -1);
      if (i >= 0 && i < this.steps.length) { e.preventDefault(); this.setStep(this.steps[i]); }
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const p = this.S.probe + (e.key === "ArrowDown" ? 1 : -1);
      if (p >= 0 && p < count) { e.preventDefault(); this.setOption("probe", p); }
    }
  }
}

/** Called by TensorBoard (plugin_entry.html) to build the page into document.body. */
export function render() {
  return mountDashboard(RelevanceApp, { css: new URL("./style.css", import.meta.url).href, global: "__nnvisRelevance", title: "Relevance" });
}

export { PLUGIN };
