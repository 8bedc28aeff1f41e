// The image view: for the selected probe, its input, each composite's heatmap (diverging, centred at zero,
// symmetric scale clipped at a percentile) and overlay, the exact relevance under the cursor, how much
// relevance the rule conserved, and the class scores; a strip of all probes and a filmstrip over steps.

import { getBlob, apiUrl, PromiseCache, showError } from "../shared/api.js";
import { ColorBar } from "../shared/colormap.js";
import { HeatmapCanvas, symmetricScale } from "../shared/heatmap.js";
import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";
import { scoresTable, softmax, targetColumn, className } from "./scores.js";

export class ImageView {
  constructor(app) {
    this.app = app;
    this.relCache = new PromiseCache(400);
    this.imgCache = new PromiseCache(200);
    this.tok = 0;
  }

  /** float32 [T, H, W] of one probe at one step, for one composite. */
  relevance(step, composite, probe) {
    const { run, name } = this.app.S;
    const key = JSON.stringify([run, name, composite, step, probe]);
    return this.relCache.get(key, async () => new Float32Array(await (await getBlob("relevance", { run, name, composite, step, probe })).arrayBuffer()));
  }

  input(step, composite, probe) {
    const { run, name } = this.app.S;
    const src = apiUrl("input", { run, name, composite, step, probe });
    return this.imgCache.get(src, async () => { const img = new Image(); img.src = src; await img.decode(); return img; });
  }

  async render(host) {
    const t = ++this.tok;
    const { S, cur } = this.app;
    const comps = cur.info.composites;
    const p = S.probe;
    const [h, w] = cur.data[comps[0]].shape.slice(2);
    let rels, image;
    try {
      [image, ...rels] = await Promise.all([this.input(S.step, comps[0], p), ...comps.map((c) => this.relevance(S.step, c, p))]);
    } catch (e) {
      if (t === this.tok) showError(host, e, { title: "Could not load the heatmaps" });
      return;
    }
    if (t !== this.tok) return;
    const view = el("div", "nv-image-view");
    const card = el("div", "nv-card nv-probe-detail");
    const main = cur.data[S.composite];
    const tc = targetColumn(main, p, S.target);
    const title = el("div", "nv-card-title");
    title.append(el("span", "", `Probe ${p}`), el("span", "nv-sub nv-target-line", `relevance for ${className(main, tc.cls)} · step ${S.step}`));
    card.append(title);
    if (tc.note) card.append(showError(null, tc.note, { kind: "warn" }));
    this.readout = el("div", "nv-readout nv-mono", "Hover a heatmap for the exact relevance.");
    const row = el("div", "nv-map-row");
    const inputBox = el("figure", "nv-map-box");
    new HeatmapCanvas(inputBox, { size: 200, label: "input" }).draw({ values: new Float32Array(h * w), h, w, m: 1, image, showMap: false });
    inputBox.append(el("figcaption", "", "input"));
    row.append(inputBox);
    comps.forEach((c, i) => row.append(this.compositeBox(c, cur.data[c], rels[i], image, h, w)));
    card.append(row, this.readout);
    card.append(scoresTable(main, p, tc.cls, (cls) => this.app.setOption("target", `c${cls}`)));
    view.append(card, this.probeStrip(), this.filmstrip());
    host.replaceChildren(view);
  }

  compositeBox(composite, data, rel, image, h, w) {
    const { S } = this.app;
    const tc = targetColumn(data, S.probe, S.target);
    const values = rel.subarray(tc.col * h * w, (tc.col + 1) * h * w);
    const m = symmetricScale(values, S.pct);
    const box = el("figure", "nv-map-box nv-composite-box");
    box.dataset.composite = composite;
    const pair = el("div", "nv-map-pair");
    const onHover = (at) => { this.readout.textContent = at ? `${composite} · (${at.y}, ${at.x}) · R = ${Number.isNaN(at.value) ? "missing (NaN)" : fmt(at.value, 6)}` : ""; };
    const heat = new HeatmapCanvas(pair, { size: 200, label: `${composite} heatmap`, onHover });
    heat.canvas.classList.add("nv-heat");
    heat.draw({ values, h, w, m });
    const over = new HeatmapCanvas(pair, { size: 200, label: `${composite} overlay`, onHover });
    over.canvas.classList.add("nv-overlay");
    over.draw({ values, h, w, m, image, opacity: S.opacity });
    const sum = data.sums[S.probe][tc.col];
    const logit = data.scores[S.probe][tc.cls];
    const kept = Number.isFinite(sum) && logit ? sum / logit : NaN;
    const cons = el("div", "nv-conservation", `ΣR = ${fmt(sum)} of logit ${fmt(logit)} (${Number.isFinite(kept) ? `${(kept * 100).toFixed(1)}%` : "–"} conserved)`);
    cons.title = "With a conserving rule the heatmap sums to the target's logit; biases and ε absorb the rest.";
    if (Number.isFinite(kept) && Math.abs(kept - 1) > 0.2) cons.classList.add("nv-lossy");
    const bar = new ColorBar(null, { width: 200 });
    bar.update({ cmap: "bwr", lo: -m, hi: m, label: `relevance · clipped at the ${S.pct}th percentile of |R|` });
    bar.el.querySelector(".nv-special").replaceChildren(el("span", "nv-missing-key", "missing (NaN/Inf): no colour"));
    box.append(el("figcaption", "nv-composite-name", composite), pair, cons, bar.el);
    return box;
  }

  /** Every probe's heatmap for the chosen target (the composite of the sidebar); click to select. */
  probeStrip() {
    const { S, cur } = this.app;
    const data = cur.data[S.composite];
    const [count, , h, w] = data.shape;
    const strip = el("div", "nv-card nv-probe-strip");
    strip.append(el("div", "nv-card-title", `All probes · ${S.composite}`));
    const row = el("div", "nv-strip-row");
    strip.append(row);
    for (let i = 0; i < count; i++) {
      const b = el("button", "nv-strip-item");
      b.type = "button";
      b.setAttribute("aria-label", `probe ${i}`);
      b.setAttribute("aria-pressed", String(i === S.probe));
      const hm = new HeatmapCanvas(b, { size: 64, label: `probe ${i} heatmap` });
      b.append(el("span", "nv-strip-label", String(i)));
      b.addEventListener("click", () => this.app.setOption("probe", i));
      row.append(b);
      Promise.all([this.relevance(S.step, S.composite, i), this.input(S.step, S.composite, i)]).then(([rel, image]) => {
        const col = targetColumn(data, i, S.target).col;
        const values = rel.subarray(col * h * w, (col + 1) * h * w);
        hm.draw({ values, h, w, m: symmetricScale(values, S.pct), image, opacity: S.opacity });
      }, () => b.classList.add("nv-failed"));
    }
    return strip;
  }

  /** The selected probe's overlay at every loaded step (each on its own scale); click to go there. */
  filmstrip() {
    const { S, steps } = this.app;
    const card = el("div", "nv-card nv-film-card");
    card.append(el("div", "nv-card-title", `Probe ${S.probe} over training · ${S.composite} · each frame on its own scale`));
    const row = el("div", "nv-film");
    card.append(row);
    for (const step of steps) {
      const b = el("button", "nv-film-item");
      b.type = "button";
      b.dataset.step = String(step);
      b.setAttribute("aria-pressed", String(step === S.step));
      const hm = new HeatmapCanvas(b, { size: 72, label: `step ${step}` });
      b.append(el("span", "nv-film-step", `step ${step}`));
      b.addEventListener("click", () => this.app.setStep(step));
      row.append(b);
      Promise.all([this.app.fetchData(step, S.composite), this.relevance(step, S.composite, S.probe), this.input(step, S.composite, S.probe)])
        .then(([data, rel, image]) => {
          const [, , h, w] = data.shape;
          const col = targetColumn(data, S.probe, S.target).col;
          const values = rel.subarray(col * h * w, (col + 1) * h * w);
          hm.draw({ values, h, w, m: symmetricScale(values, S.pct), image, opacity: S.opacity });
          b.title = `step ${step}: ${className(data, data.targets[S.probe][col])} (p = ${fmt(softmax(data.scores[S.probe])[data.targets[S.probe][col]], 3)})`;
        }, () => b.classList.add("nv-failed"));
    }
    return card;
  }
}
