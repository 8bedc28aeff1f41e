// In the unit panel: the unit's incoming weights beside its map, as the Deep Visualization Toolbox shows a
// filter beside its activation. A first-layer convolution over RGB is one colour image (each channel scaled
// by the filter's largest |weight|, 0 at mid-grey); deeper kernels are one small map per input channel,
// strongest (L2 norm) first; a Dense unit's inputs are one strip. The weights are those of the latest step
// written at or before the viewed one, so the panel follows the step slider. Hidden when the layer has none
// (the callback ran without weights=True).

import { getJSON, PromiseCache, showError } from "../shared/api.js";
import { HeatmapCanvas } from "../shared/heatmap.js";
import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";
import { showTooltip, hideTooltip } from "../shared/tooltip.js";
import { addStylesheet } from "../shared/theme.js";

addStylesheet(new URL("./weights.css", import.meta.url).href);

const CHANNELS = 16;

export class UnitWeights {
  constructor(parent, app) {
    this.app = app;
    this.box = el("section", "nv-card nv-unit-weights");
    this.box.setAttribute("aria-label", "Incoming weights of the unit");
    this.box.hidden = true;
    const head = el("div", "nv-card-title");
    this.when = el("span", "nv-sub");
    head.append(el("span", "", "Incoming weights"), this.when);
    this.body = el("div", "nv-weights-body");
    this.caption = el("div", "nv-hint");
    this.msg = el("div");
    this.box.append(head, this.body, this.msg, this.caption);
    this.parent = parent;
    parent.append(this.box);
    this.cache = new PromiseCache(300);
    this.tok = 0;
  }

  reset() {
    this.cache.clear();
  }

  async show({ run, layer, unit, step }) {
    const t = ++this.tok;
    const info = this.app.layerInfo();
    if (!info || !info.weights || unit < 0 || step === null) { this.box.hidden = true; return; }
    let d;
    try {
      d = await this.cache.get(JSON.stringify([run, layer, unit, step]),
        () => getJSON("weights", { run, layer, unit, step, channels: CHANNELS }));
    } catch (e) {
      if (t !== this.tok) return;
      this.box.hidden = false;
      this.body.replaceChildren();
      this.caption.textContent = "";
      showError(this.msg, e, { title: `Could not load the weights of unit ${unit}` });
      return;
    }
    if (t !== this.tok) return;
    this.msg.replaceChildren();
    this.body.replaceChildren();
    this.box.hidden = false;
    this.box.dataset.mode = d.mode;
    this.box.dataset.step = String(d.step);
    this.when.textContent = d.step === step ? `· step ${d.step}` : `· step ${d.step} (latest at or before ${step})`;
    const m = Math.max(Math.abs(d.range[0]), Math.abs(d.range[1])) || 1;
    if (d.mode === "rgb") this.drawRgb(d, m);
    else if (d.mode === "channels") this.drawChannels(d, m);
    else this.drawVector(d, m);
    this.place();
  }

  /** A colour filter [kh][kw][3]: 0 is mid-grey, ±max|w| is 0 or 255 in each channel. */
  drawRgb(d, m) {
    const [h, w] = d.shape;
    const img = new ImageData(w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 3; c++) img.data[(y * w + x) * 4 + c] = Math.round(127.5 + (127.5 * d.values[y][x][c]) / m);
        img.data[(y * w + x) * 4 + 3] = 255;
      }
    }
    const scale = Math.max(1, Math.floor(150 / Math.max(h, w)));
    const canvas = el("canvas", "nv-weights-rgb nv-pixelated");
    canvas.width = w * scale;
    canvas.height = h * scale;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `colour filter ${h}×${w}`);
    const small = document.createElement("canvas");
    small.width = w;
    small.height = h;
    small.getContext("2d").putImageData(img, 0, 0);
    const g = canvas.getContext("2d");
    g.imageSmoothingEnabled = false;
    g.drawImage(small, 0, 0, canvas.width, canvas.height);
    canvas.addEventListener("mousemove", (e) => {
      const r = canvas.getBoundingClientRect();
      const x = Math.min(w - 1, Math.floor(((e.clientX - r.left) / r.width) * w));
      const y = Math.min(h - 1, Math.floor(((e.clientY - r.top) / r.height) * h));
      const [R, G, B] = d.values[y][x];
      showTooltip(e.clientX, e.clientY, [`(${y}, ${x})`, `R ${fmt(R)} · G ${fmt(G)} · B ${fmt(B)}`]);
    });
    canvas.addEventListener("mouseleave", hideTooltip);
    this.body.append(canvas);
    this.caption.textContent = `The unit's ${h}×${w} filter over the input's colours · grey is 0, full colour ±${fmt(m)}`;
  }

  /** One map per input channel, strongest first, on a shared symmetric scale. */
  drawChannels(d, m) {
    const grid = el("div", "nv-weights-grid");
    for (const ch of d.channels) {
      const cell = el("figure", "nv-weights-cell");
      cell.dataset.channel = String(ch.channel);
      const h = ch.values.length, w = ch.values[0].length;
      const heat = new HeatmapCanvas(cell, { size: 44, label: `weights from input channel ${ch.channel}` });
      heat.draw({ values: Float32Array.from(ch.values.flat()), h, w, m });
      cell.append(el("figcaption", "nv-faint nv-mono", `ch ${ch.channel}`));
      cell.title = `input channel ${ch.channel} · norm ${fmt(ch.norm)}`;
      grid.append(cell);
    }
    this.body.append(grid);
    const shown = d.channels.length < d.count ? `the ${d.channels.length} strongest of ${d.count}` : `all ${d.count}`;
    this.caption.textContent = `Weights from ${shown} input channels, strongest first · red positive, blue negative, ±${fmt(m)}`;
  }

  /** A Dense unit: its weight from every input, as one strip. */
  drawVector(d, m) {
    const n = d.values.length;
    const cols = Math.min(n, 64), rows = Math.ceil(n / cols);
    const values = new Float32Array(rows * cols).fill(NaN);
    values.set(d.values);
    const heat = new HeatmapCanvas(this.body, {
      size: 300, label: `weights from ${n} inputs`,
      describe: ({ y, x }) => (y * cols + x < n ? [`input ${y * cols + x}`] : []),
    });
    heat.draw({ values, h: rows, w: cols, m });
    this.caption.textContent = `Weights from the ${n} inputs of the layer before${rows > 1 ? `, ${cols} a row` : ""} · red positive, blue negative, ±${fmt(m)}`;
  }

  /** Under the unit's enlarged map (after its readout and any heatmap), before its statistics, so the filter
   * stands beside the map. */
  place() {
    const stats = this.parent.querySelector(".nv-detail .nv-stats");
    if (stats && stats.previousElementSibling !== this.box) stats.before(this.box);
  }
}
