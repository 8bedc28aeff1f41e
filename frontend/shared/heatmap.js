// Signed heatmaps (LRP relevance and the like) on canvases: a diverging colormap centred at zero with a
// symmetric scale (clipped at a percentile of |value|), NaN/±Inf drawn as missing (transparent over a
// checkerboard, never as a colour), an overlay on the input image, and the exact value under the cursor.

import { lut } from "./colormap.js";
import { fmt } from "./format.js";
import { showTooltip, hideTooltip } from "./tooltip.js";
import { addStylesheet } from "./theme.js";

addStylesheet(new URL("./heatmap.css", import.meta.url).href);

/** The scale m for [-m, m]: the `pct` percentile (0–100) of |v| over finite values (1 if there are none). */
export function symmetricScale(values, pct = 100) {
  const abs = [];
  for (const v of values) if (Number.isFinite(v)) abs.push(Math.abs(v));
  if (!abs.length) return 1;
  abs.sort((a, b) => a - b);
  const i = Math.min(abs.length - 1, Math.max(0, Math.ceil((pct / 100) * abs.length) - 1));
  return abs[i] > 0 ? abs[i] : abs[abs.length - 1] || 1;
}

/** [r, g, b] of v on the diverging map over [-m, m] (clipped), or null when v is not finite. */
export function divergingRgb(v, m, cmap = "bwr") {
  if (!Number.isFinite(v)) return null;
  const L = lut(cmap);
  const t = Math.max(0, Math.min(1, 0.5 + v / (2 * m)));
  const i = Math.round(t * 255) * 3;
  return [L[i], L[i + 1], L[i + 2]];
}

/** ImageData of `values` (h×w, row-major) on the diverging map; non-finite pixels are transparent. */
export function heatmapImage(values, h, w, m, { alpha = 255, cmap = "bwr" } = {}) {
  const img = new ImageData(w, h);
  const L = lut(cmap);
  for (let k = 0; k < h * w; k++) {
    const v = values[k];
    if (!Number.isFinite(v)) continue; // missing: alpha 0
    const t = Math.max(0, Math.min(1, 0.5 + v / (2 * m)));
    const i = Math.round(t * 255) * 3;
    img.data[k * 4] = L[i]; img.data[k * 4 + 1] = L[i + 1]; img.data[k * 4 + 2] = L[i + 2];
    img.data[k * 4 + 3] = alpha;
  }
  return img;
}

/**
 * A canvas that shows one h×w map, scaled up with crisp pixels, optionally over an input image, with the
 * exact value under the cursor in a tooltip (and in `onHover(value, y, x)`).
 *   const hm = new HeatmapCanvas(parent, {size: 180, label: "relevance"});
 *   hm.draw({values, h, w, m, image: HTMLImageElement|null, opacity: 0.6});
 */
export class HeatmapCanvas {
  constructor(parent, { size = 180, label = "heatmap", describe = null, onHover = null } = {}) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "nv-heatmap nv-pixelated";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", label);
    this.size = size;
    this.describe = describe;
    this.onHover = onHover;
    this.state = null;
    this.canvas.addEventListener("mousemove", (e) => this._hover(e));
    this.canvas.addEventListener("mouseleave", () => { hideTooltip(); if (this.onHover) this.onHover(null); });
    if (parent) parent.appendChild(this.canvas);
  }

  draw({ values, h, w, m, image = null, opacity = 1, showMap = true }) {
    this.state = { values, h, w, m };
    const scale = Math.max(1, Math.floor(this.size / Math.max(h, w)));
    const c = this.canvas;
    c.width = w * scale;
    c.height = h * scale;
    c.style.width = `${w * scale}px`;
    c.style.height = `${h * scale}px`;
    const ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, c.width, c.height);
    if (image) ctx.drawImage(image, 0, 0, c.width, c.height);
    if (!showMap) return;
    const small = document.createElement("canvas");
    small.width = w;
    small.height = h;
    small.getContext("2d").putImageData(heatmapImage(values, h, w, m), 0, 0);
    ctx.globalAlpha = image ? opacity : 1;
    ctx.drawImage(small, 0, 0, c.width, c.height);
    ctx.globalAlpha = 1;
  }

  /** The value at client coordinates, as {y, x, value}, or null outside. */
  valueAt(clientX, clientY) {
    if (!this.state) return null;
    const r = this.canvas.getBoundingClientRect();
    const { h, w, values } = this.state;
    const x = Math.floor(((clientX - r.left) / r.width) * w);
    const y = Math.floor(((clientY - r.top) / r.height) * h);
    if (x < 0 || y < 0 || x >= w || y >= h) return null;
    return { y, x, value: values[y * w + x] };
  }

  _hover(e) {
    const at = this.valueAt(e.clientX, e.clientY);
    if (!at) { hideTooltip(); return; }
    const text = Number.isNaN(at.value) ? "missing (NaN)" : fmt(at.value);
    const lines = [`(${at.y}, ${at.x}): ${text}`];
    if (this.describe) lines.push(...this.describe(at));
    showTooltip(e.clientX, e.clientY, lines);
    if (this.onHover) this.onHover(at);
  }
}
