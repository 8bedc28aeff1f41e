// The image view: one subject (a probe, or a SpRAy member: see member.js) with its input, each composite's
// heatmap (diverging, centred at zero, symmetric scale clipped at the sidebar's percentile) and overlay, the
// exact relevance under the cursor and a colour bar; below it, strips of the subject's neighbours (all
// probes, or the cluster's members) and of the subject over training. The probe subject is built here.
//
// A subject is {title, sub, note, load() -> {image, maps: [{composite, values, h, w, footer}]}, details(),
// strips(), onClose, closeText}: whatever it is, it is drawn by the same components with the same controls.

import { getBlob, apiUrl, PromiseCache, showError } from "../shared/api.js";
import { ColorBar } from "../shared/colormap.js";
import { HeatmapCanvas, symmetricScale } from "../shared/heatmap.js";
import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";
import { scoresTable, softmax, targetColumn, className } from "./scores.js";

/** A strip card: a title and one button per item, each a heatmap thumbnail drawn when its data arrives.
 *  items: [{label, aria, pressed, dataset, size, onClick, draw: (HeatmapCanvas, button) => Promise}] */
export function heatmapStrip(title, items, { card = "nv-probe-strip", row = "nv-strip-row", item = "nv-strip-item", caption = "nv-strip-label" } = {}) {
  const box = el("div", `nv-card ${card}`);
  box.append(el("div", "nv-card-title", title));
  const line = el("div", row);
  box.append(line);
  for (const it of items) {
    const b = el("button", item);
    b.type = "button";
    b.setAttribute("aria-label", it.aria);
    b.setAttribute("aria-pressed", String(!!it.pressed));
    Object.assign(b.dataset, it.dataset || {});
    const hm = new HeatmapCanvas(b, { size: it.size || 64, label: `${it.aria} heatmap` });
    b.append(el("span", caption, it.label));
    b.addEventListener("click", it.onClick);
    line.append(b);
    it.draw(hm, b).catch(() => b.classList.add("nv-failed"));
  }
  return box;
}

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

  /** Draws the selected probe. */
  render(host) { return this.show(host, this.probeSubject()); }

  /** Draws `subject` into `host` (a newer call wins over one still loading). */
  async show(host, subject) {
    const t = ++this.tok;
    let loaded;
    try {
      loaded = await subject.load();
    } catch (e) {
      if (t === this.tok) showError(host, e, { title: "Could not load the heatmaps" });
      return;
    }
    if (t !== this.tok) return;
    const { image, maps } = loaded;
    const { h, w } = maps[0];
    const view = el("div", "nv-image-view");
    const card = el("div", `nv-card nv-probe-detail${subject.onClose ? " nv-member-detail" : ""}`);
    const title = el("div", "nv-card-title");
    title.append(el("span", "nv-subject-title", subject.title), el("span", "nv-sub nv-target-line", subject.sub));
    if (subject.onClose) {
      const spacer = el("span");
      spacer.style.flex = "1";
      const close = el("button", "nv-btn nv-subject-close", subject.closeText);
      close.type = "button";
      close.addEventListener("click", subject.onClose);
      title.append(spacer, close);
    }
    card.append(title);
    if (subject.note) card.append(showError(null, subject.note, { kind: "warn" }));
    this.readout = el("div", "nv-readout nv-mono", "Hover a heatmap for the exact relevance.");
    const row = el("div", "nv-map-row");
    if (image) {
      const inputBox = el("figure", "nv-map-box");
      new HeatmapCanvas(inputBox, { size: 200, label: "input" }).draw({ values: new Float32Array(h * w), h, w, m: 1, image, showMap: false });
      inputBox.append(el("figcaption", "", "input"));
      row.append(inputBox);
    }
    for (const map of maps) row.append(this.compositeBox(map, image));
    card.append(row, this.readout, ...subject.details());
    view.append(card, ...subject.strips());
    host.replaceChildren(view);
  }

  /** One composite's heatmap and overlay on the sidebar's scale and opacity, a footer, and the colour bar. */
  compositeBox({ composite, values, h, w, footer }, image) {
    const { S } = this.app;
    const m = symmetricScale(values, S.pct);
    const box = el("figure", "nv-map-box nv-composite-box");
    box.dataset.composite = composite;
    const pair = el("div", "nv-map-pair");
    const onHover = (at) => { this.readout.textContent = at ? `${composite} · (${at.y}, ${at.x}) · R = ${Number.isNaN(at.value) ? "missing (NaN)" : fmt(at.value, 6)}` : ""; };
    const heat = new HeatmapCanvas(pair, { size: 200, label: `${composite} heatmap`, onHover });
    heat.canvas.classList.add("nv-heat");
    heat.draw({ values, h, w, m });
    if (image) {
      const over = new HeatmapCanvas(pair, { size: 200, label: `${composite} overlay`, onHover });
      over.canvas.classList.add("nv-overlay");
      over.draw({ values, h, w, m, image, opacity: S.opacity });
    }
    const bar = new ColorBar(null, { width: 200 });
    bar.update({ cmap: "bwr", lo: -m, hi: m, label: `relevance · clipped at the ${S.pct}th percentile of |R|` });
    bar.el.querySelector(".nv-special").replaceChildren(el("span", "nv-missing-key", "missing (NaN/Inf): no colour"));
    box.append(el("figcaption", "nv-composite-name", composite), pair);
    if (footer) box.append(footer);
    box.append(bar.el);
    return box;
  }

  /** The selected probe as a subject: every composite for the chosen target, conservation, class scores. */
  probeSubject() {
    const { S, cur } = this.app;
    const comps = cur.info.composites;
    const p = S.probe;
    const main = cur.data[S.composite];
    const tc = targetColumn(main, p, S.target);
    const [h, w] = cur.data[comps[0]].shape.slice(2);
    return {
      title: `Probe ${p}`,
      sub: `relevance for ${className(main, tc.cls)} · step ${S.step}`,
      note: tc.note,
      load: async () => {
        const [image, ...rels] = await Promise.all([this.input(S.step, comps[0], p), ...comps.map((c) => this.relevance(S.step, c, p))]);
        return { image, maps: comps.map((c, i) => {
          const col = targetColumn(cur.data[c], p, S.target).col;
          return { composite: c, values: rels[i].subarray(col * h * w, (col + 1) * h * w), h, w, footer: this.conservation(cur.data[c], col) };
        }) };
      },
      details: () => [scoresTable(main, p, tc.cls, (cls) => this.app.setOption("target", `c${cls}`))],
      strips: () => [this.probeStrip(), this.filmstrip()],
    };
  }

  /** How much of the target's logit the heatmap of logged column `col` holds. */
  conservation(data, col) {
    const p = this.app.S.probe;
    const sum = data.sums[p][col];
    const logit = data.scores[p][data.targets[p][col]];
    const kept = Number.isFinite(sum) && logit ? sum / logit : NaN;
    const cons = el("div", "nv-conservation", `ΣR = ${fmt(sum)} of logit ${fmt(logit)} (${Number.isFinite(kept) ? `${(kept * 100).toFixed(1)}%` : "–"} conserved)`);
    cons.title = "With a conserving rule the heatmap sums to the target's logit; biases and ε absorb the rest.";
    if (Number.isFinite(kept) && Math.abs(kept - 1) > 0.2) cons.classList.add("nv-lossy");
    return cons;
  }

  /** Every probe's heatmap for the chosen target (the composite of the sidebar); click to select. */
  probeStrip() {
    const { S, cur } = this.app;
    const data = cur.data[S.composite];
    const [count, , h, w] = data.shape;
    const items = Array.from({ length: count }, (_, i) => ({
      label: String(i), aria: `probe ${i}`, pressed: i === S.probe, onClick: () => this.app.setOption("probe", i),
      draw: async (hm) => {
        const [rel, image] = await Promise.all([this.relevance(S.step, S.composite, i), this.input(S.step, S.composite, i)]);
        const col = targetColumn(data, i, S.target).col;
        const values = rel.subarray(col * h * w, (col + 1) * h * w);
        hm.draw({ values, h, w, m: symmetricScale(values, S.pct), image, opacity: S.opacity });
      },
    }));
    return heatmapStrip(`All probes · ${S.composite}`, items);
  }

  /** The selected probe's overlay at every loaded step (each on its own scale); click to go there. */
  filmstrip() {
    const { S, steps } = this.app;
    const items = steps.map((step) => ({
      label: `step ${step}`, aria: `step ${step}`, pressed: step === S.step, size: 72, dataset: { step: String(step) },
      onClick: () => this.app.setStep(step),
      draw: async (hm, b) => {
        const [data, rel, image] = await Promise.all([this.app.fetchData(step, S.composite), this.relevance(step, S.composite, S.probe), this.input(step, S.composite, S.probe)]);
        const [, , h, w] = data.shape;
        const col = targetColumn(data, S.probe, S.target).col;
        const values = rel.subarray(col * h * w, (col + 1) * h * w);
        hm.draw({ values, h, w, m: symmetricScale(values, S.pct), image, opacity: S.opacity });
        b.title = `step ${step}: ${className(data, data.targets[S.probe][col])} (p = ${fmt(softmax(data.scores[S.probe])[data.targets[S.probe][col]], 3)})`;
      },
    }));
    return heatmapStrip(`Probe ${S.probe} over training · ${S.composite} · each frame on its own scale`, items, FILM);
  }
}

/** The classes of a strip over training (the filmstrip). */
export const FILM = { card: "nv-film-card", row: "nv-film", item: "nv-film-item", caption: "nv-film-step" };
