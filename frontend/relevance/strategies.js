// The Strategies view (SpRAy): for one analysed class, the eigenvalue spectrum with the chosen gap, the
// examples' embedding as a scatter coloured by cluster (hover shows the input and its heatmap), each
// cluster's mean heatmap, size and members, and the clusters at each loaded step. A member clicked (in a
// cluster or the scatter) opens in the tab's main view (member.js), deep-linked as spray_member. Reads the
// /spray/* routes; all data text goes in with textContent.

import { getJSON, apiUrl, PromiseCache, showError } from "../shared/api.js";
import { addStylesheet, onThemeChange } from "../shared/theme.js";
import { getUrlState } from "../shared/host.js";
import { StepSlider } from "../shared/slider.js";
import { el, option, field } from "../shared/dom.js";
import { HeatmapCanvas, symmetricScale } from "../shared/heatmap.js";
import { showTooltip, hideTooltip } from "../shared/tooltip.js";
import { clusterColor, scatterPositions, spreadStacks, drawScatter, nearestPoint, drawSpectrum, memberCanvas, historyBars } from "./spray_plots.js";
import { memberSubject } from "./member.js";

const SCATTER = 300;
const MEMBERS = 24;
const SEP = "\u0000";

const flat = (nested) => Float32Array.from(nested.flat(Infinity));

export class StrategiesView {
  constructor(app) {
    this.app = app;
    this.S = { run: null, set: null, target: null, step: null, cluster: null, member: null };
    this.tags = null;
    this.cur = null; // {data, atlas, maps: {member: Float32Array}, positions, stacks} (see spreadStacks)
    this.tok = 0;
    this.cache = new PromiseCache(300);
    addStylesheet(new URL("./strategies.css", import.meta.url).href);
    this.el = el("section", "nv-card nv-strategies");
    this.el.setAttribute("aria-label", "Strategies (SpRAy)");
    this.el.hidden = true;
    const title = el("div", "nv-card-title");
    this.sub = el("span", "nv-sub");
    title.append(el("span", "nv-spray-title", "Strategies"), this.sub);
    this.setSel = el("select", "nv-select nv-spray-set");
    this.setSel.id = "nv-spray-set";
    this.setSel.addEventListener("change", () => this.pick({ set: this.setSel.value, target: null }));
    this.classSel = el("select", "nv-select nv-spray-class");
    this.classSel.id = "nv-spray-class";
    this.classSel.addEventListener("change", () => this.pick({ target: Number(this.classSel.value) }));
    const controls = el("div", "nv-spray-controls");
    controls.append(field("Examples · composite", this.setSel), field("Class", this.classSel));
    this.slider = new StepSlider(null, (step) => this.setStep(step));
    this.msg = el("div", "nv-spray-msg");
    this.body = el("div", "nv-spray-body");
    this.el.append(title, el("div", "nv-hint", "SpRAy: relevance of many examples of a class, clustered spectrally. " +
      "A small cluster whose mean heatmap sits on one spot (a mark, a border, a tag) is a strategy worth checking."),
    controls, this.slider.el, this.msg, this.body);
    onThemeChange(() => this.render());
  }

  urlState() {
    const S = this.S;
    if (!S.set) return {};
    const [name, composite] = S.set.split(SEP);
    return { spray_name: name, spray_composite: composite, spray_class: S.target, spray_step: S.step, spray_member: S.member };
  }

  async start() {
    const u = await getUrlState();
    this.deep = { set: u.spray_name && u.spray_composite ? `${u.spray_name}${SEP}${u.spray_composite}` : null,
      target: /^\d+$/.test(u.spray_class || "") ? Number(u.spray_class) : null,
      step: /^\d+$/.test(u.spray_step || "") ? Number(u.spray_step) : null,
      member: /^\d+$/.test(u.spray_member || "") ? Number(u.spray_member) : null };
    await this.loadTags();
  }

  async reload() {
    this.cache.clear();
    await this.loadTags();
  }

  async loadTags() {
    try {
      this.tags = (await getJSON("spray/tags")).runs || {};
    } catch (e) {
      this.el.hidden = false;
      showError(this.msg, e, { title: "Could not load SpRAy data" });
      return;
    }
    const runs = Object.keys(this.tags);
    this.el.hidden = !runs.length;
    if (!runs.length) return;
    await this.app.runChosen;
    const want = this.app.S.run;
    await this.setRun(this.tags[want] ? want : this.tags[this.S.run] ? this.S.run : runs[0]);
  }

  /** Follow the app's run; a run without SpRAy says so. */
  async setRun(run) {
    if (!this.tags || !Object.keys(this.tags).length) return;
    const before = `${this.S.run}${SEP}${this.S.set}`;
    if (run !== this.S.run) this.S.member = null; // a member is a position in one run's analysis
    this.S.run = run;
    const entries = this.tags[run];
    if (!entries) {
      ++this.tok; // a load still running for the previous run must not ask this run for its data
      this.cur = null;
      this.S.member = null;
      this.app.memberChanged();
      this.body.replaceChildren();
      this.sub.textContent = "";
      showError(this.msg, `No SpRAy data for run “${run}”. Analyse classes with RelevanceCallback(..., spray={"examples": x_val, "classes": [...]}) or tb_nnvis.summary.spray(...).`, { kind: "info" });
      return;
    }
    const sets = [...new Set(entries.map((e) => `${e.name}${SEP}${e.composite}`))];
    const deep = this.deep || {};
    if (!sets.includes(this.S.set)) this.S.set = deep.set && sets.includes(deep.set) ? deep.set : sets[0];
    this.setSel.replaceChildren(...sets.map((s) => option(s, s.split(SEP).join(" · "))));
    this.setSel.value = this.S.set;
    // a deep-linked class is asked for even when unknown (the server says which classes exist)
    const same = before === `${run}${SEP}${this.S.set}` && this.S.target !== null;
    const known = this.classes().includes(this.S.target) ? this.S.target : null;
    await this.pick({ target: same ? this.S.target : deep.target ?? known });
  }

  classes() {
    const [name, composite] = this.S.set.split(SEP);
    return this.tags[this.S.run].filter((e) => e.name === name && e.composite === composite).map((e) => e.target);
  }

  async pick(change) {
    const before = `${this.S.set}${SEP}${this.S.target}`;
    Object.assign(this.S, change);
    const classes = this.classes();
    if (this.S.target === null || this.S.target === undefined) this.S.target = classes[0];
    this.classSel.replaceChildren(...classes.map((c) => option(String(c), `class ${c}`)));
    this.classSel.value = String(this.S.target);
    if (before !== `${this.S.set}${SEP}${this.S.target}`) this.S.cluster = this.S.member = null;
    const t = ++this.tok;
    const [name, composite] = this.S.set.split(SEP);
    const deepStep = this.deep && this.deep.step;
    if (this.deep) this.deepMember = this.deep.member; // kept until a step loads (a second pick may come first)
    this.deep = null;
    let history;
    try {
      history = await getJSON("spray/history", { run: this.S.run, name, composite, target: this.S.target });
    } catch (e) {
      if (t !== this.tok) return;
      this.cur = null;
      this.S.member = null;
      this.app.memberChanged();
      this.body.replaceChildren();
      showError(this.msg, e, { title: `No strategies to show for class ${this.S.target}` });
      this.app.writeUrl();
      return;
    }
    if (t !== this.tok) return;
    this.history = history.steps;
    const steps = this.history.map((s) => s.step);
    this.slider.setSteps(steps);
    if (deepStep !== null && deepStep !== undefined && steps.includes(deepStep)) this.S.step = deepStep;
    else if (!steps.includes(this.S.step)) this.S.step = steps[steps.length - 1];
    await this.loadStep();
  }

  params(extra = {}) {
    const [name, composite] = this.S.set.split(SEP);
    return { run: this.S.run, name, composite, target: this.S.target, step: this.S.step, ...extra };
  }

  fetch(route, extra = {}) {
    const p = this.params(extra);
    return this.cache.get(JSON.stringify([route, p]), () => getJSON(route, p));
  }

  atlas(data, step = this.S.step) {
    if (!data.has_atlas) return Promise.resolve(null);
    const src = apiUrl("spray/atlas", this.params({ step }));
    return this.cache.get(src, async () => { const img = new Image(); img.src = src; await img.decode(); return img; });
  }

  setStep(step) {
    this.S.step = step;
    this.loadStep();
  }

  async loadStep() {
    const t = ++this.tok;
    // the open member follows its example to the new step (by its dataset index)
    const open = this.cur && this.S.member !== null ? this.cur.data.indices[this.S.member] : null;
    this.slider.setValue(this.S.step);
    let data, atlas, clusterMaps;
    try {
      data = await this.fetch("spray/data");
      [atlas, ...clusterMaps] = await Promise.all([this.atlas(data),
        ...data.sizes.map((_, c) => this.fetch("spray/maps", { cluster: c, limit: MEMBERS }))]);
    } catch (e) {
      if (t === this.tok) showError(this.msg, e, { title: `Could not load SpRAy at step ${this.S.step}` });
      return;
    }
    if (t !== this.tok) return;
    this.msg.replaceChildren();
    const maps = {};
    for (const answer of clusterMaps) answer.members.forEach((m, j) => { maps[m] = Float32Array.from(answer.maps[j]); });
    this.cur = { data, atlas, maps, ...spreadStacks(scatterPositions(data.embedding, SCATTER)) };
    this.placeMember(open);
    const who = data.class_name ? `${data.class_name} (class ${data.target})` : `class ${data.target}`;
    this.sub.textContent = `${who} · ${data.n} examples · ${data.n_clusters} cluster${data.n_clusters === 1 ? "" : "s"} · step ${data.step}`;
    this.render();
    this.app.memberChanged();
    this.app.writeUrl();
  }

  /** After a step loads: the deep-linked member, or the open one's example (dataset index `open`) at this step. */
  placeMember(open) {
    const { data } = this.cur;
    const deep = this.deepMember;
    this.deepMember = null;
    if (deep !== null && deep !== undefined) {
      this.S.member = deep < data.n ? deep : null;
      if (deep >= data.n) showError(this.msg, `Member ${deep} is out of range: step ${data.step} analysed ${data.n} examples.`, { kind: "warn" });
    } else if (open !== null) {
      const j = data.indices.indexOf(open);
      this.S.member = j >= 0 ? j : null;
      if (j < 0) showError(this.msg, `Example #${open} was not analysed at step ${data.step}.`, { kind: "warn" });
    }
  }

  /** The open member as a subject of the main view (member.js), or null. */
  subject() {
    return this.cur && this.S.member !== null && this.S.member < this.cur.data.n ? memberSubject(this, this.S.member) : null;
  }

  async memberMap(i) {
    if (this.cur.maps[i]) return this.cur.maps[i];
    const answer = await this.fetch("spray/maps", { members: String(i) });
    this.cur.maps[i] = Float32Array.from(answer.maps[0]);
    return this.cur.maps[i];
  }

  render() {
    if (!this.cur) return;
    const { data } = this.cur;
    const top = el("div", "nv-spray-row");
    top.append(this.scatterBox(), this.previewBox(), this.spectrumBox());
    const clusters = el("div", "nv-spray-clusters");
    data.sizes.forEach((size, c) => clusters.append(this.clusterCard(c, size)));
    const history = el("div", "nv-spray-box");
    history.append(el("div", "nv-spray-caption", "Clusters at each loaded step (click one to see it)"),
      historyBars(this.history, this.S.step, (step) => this.setStep(step)));
    this.body.replaceChildren(top, clusters, history);
    // start the preview on the smallest cluster's first member: the strategy that is easiest to miss
    const smallest = data.sizes.indexOf(Math.min(...data.sizes));
    this.preview(this.S.member ?? data.labels.indexOf(smallest));
  }

  scatterBox() {
    const { data, positions, stacks } = this.cur;
    const box = el("figure", "nv-spray-box");
    const canvas = el("canvas", "nv-spray-scatter");
    canvas.setAttribute("role", "img");
    const stacked = stacks.length ? `; ${stacks.length} spot${stacks.length === 1 ? "" : "s"} of near-identical examples spread apart (the largest: ${stacks[0].members.length})` : "";
    canvas.setAttribute("aria-label", `embedding of ${data.n} examples, coloured by cluster${stacked}`);
    canvas.dataset.stacks = stacks.map((s) => s.members.length).join(",");
    const stackOf = new Map();
    for (const s of stacks) for (const i of s.members) stackOf.set(i, s.members.length);
    this.scatter = canvas;
    this.drawScatter();
    canvas.addEventListener("mousemove", (e) => {
      const r = canvas.getBoundingClientRect();
      const i = nearestPoint(positions, e.clientX - r.left, e.clientY - r.top);
      if (i < 0) { hideTooltip(); return; }
      const lines = [`example #${data.indices[i]}`, `cluster ${data.labels[i]}`];
      if (stackOf.has(i)) lines.push(`one of ${stackOf.get(i)} near-identical examples on one spot (spread apart)`);
      showTooltip(e.clientX, e.clientY, lines);
      this.preview(i);
    });
    canvas.addEventListener("mouseleave", hideTooltip);
    canvas.addEventListener("click", (e) => {
      const r = canvas.getBoundingClientRect();
      const i = nearestPoint(positions, e.clientX - r.left, e.clientY - r.top);
      if (i >= 0) this.openMember(i);
    });
    const ringed = stacks.length ? " · ringed ×N: N near-identical examples on one spot, spread apart" : "";
    box.append(canvas, el("figcaption", "", `${data.display === "tsne" ? "t-SNE" : "spectral"} embedding · hover a point for its input and heatmap, click to open it${ringed}`));
    return box;
  }

  drawScatter() {
    const { data, positions, stacks } = this.cur;
    drawScatter(this.scatter, SCATTER, positions, data.labels, { selected: this.S.cluster, member: this.S.member, stacks });
  }

  previewBox() {
    const box = el("figure", "nv-spray-box nv-spray-preview");
    this.previewHost = el("div", "nv-spray-preview-maps");
    this.previewText = el("figcaption", "", "Hover a point.");
    box.append(this.previewHost, this.previewText);
    return box;
  }

  async preview(i) {
    this.previewing = i;
    const values = await this.memberMap(i).catch(() => null);
    if (this.previewing !== i || !values) return;
    const { data, atlas } = this.cur;
    const m = symmetricScale(values, 99.5);
    this.previewHost.replaceChildren(memberCanvas(atlas, data.grid, data.size, i, null, m, { px: 112 }),
      memberCanvas(null, null, data.size, i, values, m, { px: 112 }));
    this.previewText.textContent = `example #${data.indices[i]} · cluster ${data.labels[i]}`;
  }

  spectrumBox() {
    const { data } = this.cur;
    const box = el("figure", "nv-spray-box");
    const canvas = el("canvas", "nv-spray-spectrum");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `the ${data.eigenvalues.length} smallest eigenvalues; the gap after ${data.gap}`);
    drawSpectrum(canvas, 280, 170, data.eigenvalues, data.gap);
    const gapText = data.gap === 1 ? "the eigengap claims no split" : `the eigengap claims ${data.gap} clusters`;
    const chosen = data.n_clusters === data.gap ? "" : ` (${data.n_clusters} asked for)`;
    box.append(canvas, el("figcaption", "", `eigenvalues of the normalised Laplacian: ${gapText}${chosen}`));
    return box;
  }

  clusterCard(c, size) {
    const { data, atlas, maps } = this.cur;
    const card = el("div", "nv-spray-cluster");
    card.setAttribute("aria-pressed", String(this.S.cluster === c));
    const head = el("button", "nv-spray-chead");
    head.type = "button";
    const swatch = el("span", "nv-spray-swatch");
    swatch.style.background = clusterColor(c);
    const pct = Math.round((100 * size) / Math.max(1, data.n));
    head.append(swatch, el("span", "nv-spray-cname", `Cluster ${c}`), el("span", "nv-sub", `${size} examples · ${pct}%`));
    head.addEventListener("click", () => { this.S.cluster = this.S.cluster === c ? null : c; this.render(); });
    const [h, w] = data.size;
    const mean = flat(data.cluster_means[c]);
    const meanBox = el("figure", "nv-spray-mean");
    new HeatmapCanvas(meanBox, { size: 96, label: `mean heatmap of cluster ${c}` }).draw({ values: mean, h, w, m: symmetricScale(mean, 99.5) });
    meanBox.append(el("figcaption", "", "mean heatmap"));
    const grid = el("div", "nv-spray-members");
    const members = data.labels.map((l, i) => (l === c ? i : -1)).filter((i) => i >= 0).slice(0, MEMBERS);
    for (const i of members) {
      const values = maps[i];
      const b = el("button", "nv-spray-member");
      b.type = "button";
      b.title = `example #${data.indices[i]}`;
      b.setAttribute("aria-label", `example ${data.indices[i]} of cluster ${c}`);
      b.append(memberCanvas(atlas, data.grid, data.size, i, values, values ? symmetricScale(values, 99.5) : 1));
      b.addEventListener("click", () => this.openMember(i));
      grid.append(b);
    }
    const more = size > members.length ? el("div", "nv-faint", `and ${size - members.length} more`) : null;
    const bodyRow = el("div", "nv-spray-cbody");
    bodyRow.append(meanBox, grid);
    card.append(head, bodyRow);
    if (more) card.append(more);
    return card;
  }

  /** Opens member i in the tab's main view. */
  openMember(i) {
    this.S.member = i;
    this.drawScatter();
    this.app.memberChanged(true);
    this.app.writeUrl();
  }

  /** Closes the open member: the main view shows the probes again. */
  closeMember() {
    this.S.member = null;
    if (this.cur) this.drawScatter();
    this.app.memberChanged();
    this.app.writeUrl();
  }
}
