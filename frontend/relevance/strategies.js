// The Strategies view (SpRAy): for one analysed class, the eigenvalue spectrum with the chosen gap, the
// examples' embedding as a scatter coloured by cluster (hover shows the input and its heatmap), each
// cluster's mean heatmap, size and members (click one to open it), and the clusters at every loaded step.
// Reads the /spray/* routes; all data text goes in with textContent.

import { getJSON, apiUrl, PromiseCache, showError } from "../shared/api.js";
import { addStylesheet, onThemeChange } from "../shared/theme.js";
import { getUrlState } from "../shared/host.js";
import { StepSlider } from "../shared/slider.js";
import { el, option, field } from "../shared/dom.js";
import { HeatmapCanvas, symmetricScale } from "../shared/heatmap.js";
import { showTooltip, hideTooltip } from "../shared/tooltip.js";
import { clusterColor, scatterPositions, drawScatter, nearestPoint, drawSpectrum, memberCanvas, thumbnail, historyBars } from "./spray_plots.js";

const SCATTER = 300;
const MEMBERS = 24;
const SEP = "\u0000";

const flat = (nested) => Float32Array.from(nested.flat(Infinity));

export class StrategiesView {
  constructor(app) {
    this.app = app;
    this.S = { run: null, set: null, target: null, step: null, cluster: null, member: null };
    this.tags = null;
    this.cur = null; // {data, atlas, maps: {member: Float32Array}, positions}
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
    this.slider = new StepSlider(null, (step) => { this.S.step = step; this.loadStep(); });
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
    return { spray_name: name, spray_composite: composite, spray_class: S.target, spray_step: S.step };
  }

  async start() {
    const u = await getUrlState();
    this.deep = { set: u.spray_name && u.spray_composite ? `${u.spray_name}${SEP}${u.spray_composite}` : null,
      target: /^\d+$/.test(u.spray_class || "") ? Number(u.spray_class) : null,
      step: /^\d+$/.test(u.spray_step || "") ? Number(u.spray_step) : null };
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
    const want = this.app.S.run;
    await this.setRun(this.tags[want] ? want : this.tags[this.S.run] ? this.S.run : runs[0]);
  }

  /** Follow the app's run; a run without SpRAy says so. */
  async setRun(run) {
    if (!this.tags || !Object.keys(this.tags).length) return;
    const before = `${this.S.run}${SEP}${this.S.set}`;
    this.S.run = run;
    const entries = this.tags[run];
    if (!entries) {
      ++this.tok; // a load still running for the previous run must not ask this run for its data
      this.cur = null;
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
    this.deep = null;
    let history;
    try {
      history = await getJSON("spray/history", { run: this.S.run, name, composite, target: this.S.target });
    } catch (e) {
      if (t !== this.tok) return;
      this.cur = null;
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

  atlas(data) {
    if (!data.has_atlas) return Promise.resolve(null);
    const src = apiUrl("spray/atlas", this.params());
    return this.cache.get(src, async () => { const img = new Image(); img.src = src; await img.decode(); return img; });
  }

  async loadStep() {
    const t = ++this.tok;
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
    this.cur = { data, atlas, maps, positions: scatterPositions(data.embedding, SCATTER) };
    const who = data.class_name ? `${data.class_name} (class ${data.target})` : `class ${data.target}`;
    this.sub.textContent = `${who} · ${data.n} examples · ${data.n_clusters} cluster${data.n_clusters === 1 ? "" : "s"} · step ${data.step}`;
    this.render();
    this.app.writeUrl();
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
    this.detail = el("div", "nv-spray-detail");
    const history = el("div", "nv-spray-box");
    history.append(el("div", "nv-spray-caption", "Clusters at each loaded step (click one to see it)"),
      historyBars(this.history, this.S.step, (step) => { this.S.step = step; this.loadStep(); }));
    this.body.replaceChildren(top, clusters, this.detail, history);
    if (this.S.member !== null) this.openMember(this.S.member);
    // start the preview on the smallest cluster's first member: the strategy that is easiest to miss
    const smallest = data.sizes.indexOf(Math.min(...data.sizes));
    this.preview(this.S.member ?? data.labels.indexOf(smallest));
  }

  scatterBox() {
    const { data, positions } = this.cur;
    const box = el("figure", "nv-spray-box");
    const canvas = el("canvas", "nv-spray-scatter");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `embedding of ${data.n} examples, coloured by cluster`);
    this.scatter = canvas;
    this.drawScatter();
    canvas.addEventListener("mousemove", (e) => {
      const r = canvas.getBoundingClientRect();
      const i = nearestPoint(positions, e.clientX - r.left, e.clientY - r.top);
      if (i < 0) { hideTooltip(); return; }
      showTooltip(e.clientX, e.clientY, [`example #${data.indices[i]}`, `cluster ${data.labels[i]}`]);
      this.preview(i);
    });
    canvas.addEventListener("mouseleave", hideTooltip);
    canvas.addEventListener("click", (e) => {
      const r = canvas.getBoundingClientRect();
      const i = nearestPoint(positions, e.clientX - r.left, e.clientY - r.top);
      if (i >= 0) this.openMember(i);
    });
    box.append(canvas, el("figcaption", "", `${data.display === "tsne" ? "t-SNE" : "spectral"} embedding · hover a point for its input and heatmap`));
    return box;
  }

  drawScatter() {
    const { data, positions } = this.cur;
    drawScatter(this.scatter, SCATTER, positions, data.labels, { selected: this.S.cluster, member: this.S.member });
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

  /** The per-example view: input, heatmap (exact value under the cursor) and overlay, at full map size. */
  async openMember(i) {
    this.S.member = i;
    this.drawScatter();
    const values = await this.memberMap(i).catch((e) => { showError(this.detail, e); return null; });
    if (!values || this.S.member !== i) return;
    const { data, atlas } = this.cur;
    const [h, w] = data.size;
    const m = symmetricScale(values, 99.5);
    const card = el("div", "nv-spray-box");
    card.append(el("div", "nv-spray-caption", `Example #${data.indices[i]} · cluster ${data.labels[i]} · step ${data.step}`));
    const row = el("div", "nv-map-row");
    const thumb = thumbnail(atlas, data.grid, data.size, i);
    for (const [label, opts] of [["input", { showMap: false }], ["relevance", {}], ["overlay", { opacity: 0.6 }]]) {
      if (!thumb && label !== "relevance") continue;
      const fig = el("figure", "nv-map-box");
      new HeatmapCanvas(fig, { size: 160, label: `${label} of example ${data.indices[i]}` })
        .draw({ values, h, w, m, image: label === "relevance" ? null : thumb, ...opts });
      fig.append(el("figcaption", "", label));
      row.append(fig);
    }
    card.append(row);
    this.detail.replaceChildren(card);
  }
}
