// Perceptual colormaps as 256-entry lookup tables, and a colour bar widget.
//
// viridis / magma: 6th-order polynomial fits of matplotlib's maps (max error < 1/255 per channel,
// after Matt Zucker's public-domain fits). Diverging: ColorBrewer RdBu (blue–white–red) for signed
// values, centred at 0 by the caller. grey: linear.
// Non-finite values get fixed colours that none of the maps use much; dead units use `dead`.

import { fmtTick, niceTicks } from "./format.js";

const POLY = {
  viridis: [
    [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
    [0.1050930431085774, 1.404613529898575, 1.384590162594685],
    [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
    [-4.634230498983486, -5.799100973351585, -19.33244095627987],
    [6.228269936347081, 14.17993336680509, 56.69055260068105],
    [4.776384997670288, -13.74514537774601, -65.35303263337234],
    [-5.435455855934631, 4.645852612178535, 26.3124352495832],
  ],
  magma: [
    [-0.002136485053939582, -0.000749655052795221, -0.005386127855323933],
    [0.2516605407371642, 0.6775232436837668, 2.494026599312351],
    [8.353717279216625, -3.577719514958484, 0.3144679030132573],
    [-27.66873308576866, 14.26473078096533, -13.64921318813922],
    [52.17613981234068, -27.94360607168351, 12.94416944238394],
    [-50.76852536473588, 29.04658282127291, 4.23415299384598],
    [18.65570506591883, -11.48977351997711, -5.601961508734096],
  ],
};

const STOPS = {
  // ColorBrewer RdBu, reversed: negative = blue, 0 = near white, positive = red.
  bwr: ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"],
  grey: ["#000000", "#ffffff"],
};

export const COLORMAPS = {
  viridis: { label: "viridis", diverging: false, special: { nan: [255, 0, 255], posinf: [0, 229, 255], neginf: [0, 0, 0], dead: [229, 57, 53] } },
  magma: { label: "magma", diverging: false, special: { nan: [0, 230, 118], posinf: [41, 121, 255], neginf: [128, 128, 128], dead: [0, 188, 212] } },
  bwr: { label: "blue–white–red (signed)", diverging: true, special: { nan: [255, 0, 255], posinf: [255, 235, 59], neginf: [0, 230, 118], dead: [255, 152, 0] } },
  grey: { label: "grey", diverging: false, special: { nan: [255, 0, 255], posinf: [255, 235, 59], neginf: [0, 188, 212], dead: [229, 57, 53] } },
};

const lutCache = new Map();

function hexToRgb(h) {
  const n = parseInt(h.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** 256×3 Uint8Array for a colormap name. */
export function lut(name) {
  if (!COLORMAPS[name]) name = "viridis";
  if (lutCache.has(name)) return lutCache.get(name);
  const out = new Uint8Array(256 * 3);
  if (POLY[name]) {
    const c = POLY[name];
    for (let i = 0; i < 256; i++) {
      const t = i / 255;
      for (let ch = 0; ch < 3; ch++) {
        let v = c[6][ch];
        for (let k = 5; k >= 0; k--) v = v * t + c[k][ch];
        out[i * 3 + ch] = Math.max(0, Math.min(255, Math.round(v * 255)));
      }
    }
  } else {
    const stops = STOPS[name].map(hexToRgb);
    const n = stops.length - 1;
    for (let i = 0; i < 256; i++) {
      const x = (i / 255) * n;
      const k = Math.min(n - 1, Math.floor(x));
      const f = x - k;
      for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = Math.round(stops[k][ch] * (1 - f) + stops[k + 1][ch] * f);
    }
  }
  lutCache.set(name, out);
  return out;
}

export function specialColors(name) {
  return (COLORMAPS[name] || COLORMAPS.viridis).special;
}

export function rgbCss(rgb) {
  return `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
}

/** CSS colour for t in [0,1]. */
export function colorAt(name, t) {
  const L = lut(name);
  const i = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
  return `rgb(${L[i]}, ${L[i + 1]}, ${L[i + 2]})`;
}

/**
 * A horizontal colour bar with tick labels and swatches for NaN/±Inf (and optionally "dead").
 *   const bar = new ColorBar(parent, {width: 220});
 *   bar.update({cmap: "viridis", lo: 0, hi: 3.2, label: "activation", showDead: true});
 * For diverging maps the caller passes a symmetric [lo, hi] (−m..m) so white sits at 0.
 */
export class ColorBar {
  constructor(parent, { width = 220, height = 12 } = {}) {
    this.el = document.createElement("div");
    this.el.className = "nv-colorbar";
    this.title = document.createElement("div");
    this.canvas = document.createElement("canvas");
    this.canvas.width = width;
    this.canvas.height = height;
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.ticks = document.createElement("div");
    this.ticks.className = "nv-ticks";
    this.ticks.style.width = `${width}px`;
    this.special = document.createElement("div");
    this.special.className = "nv-special";
    this.el.append(this.title, this.canvas, this.ticks, this.special);
    this.width = width;
    if (parent) parent.appendChild(this.el);
  }

  update({ cmap = "viridis", lo = 0, hi = 1, label = "", showDead = false, normalized = false } = {}) {
    this.title.textContent = label;
    const ctx = this.canvas.getContext("2d");
    const L = lut(cmap);
    const img = ctx.createImageData(this.canvas.width, this.canvas.height);
    for (let x = 0; x < img.width; x++) {
      const i = Math.round((x / (img.width - 1)) * 255) * 3;
      for (let y = 0; y < img.height; y++) {
        const o = (y * img.width + x) * 4;
        img.data[o] = L[i]; img.data[o + 1] = L[i + 1]; img.data[o + 2] = L[i + 2]; img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);

    this.ticks.replaceChildren();
    const addTick = (text, frac, cls = "") => {
      const s = document.createElement("span");
      s.textContent = text;
      s.style.left = `${frac * 100}%`;
      if (cls) s.className = cls;
      this.ticks.appendChild(s);
    };
    if (normalized) {
      addTick("unit min", 0, "nv-first");
      if (COLORMAPS[cmap] && COLORMAPS[cmap].diverging) addTick("0", 0.5);
      addTick("unit max", 1, "nv-last");
    } else if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) {
      const ticks = niceTicks(lo, hi, Math.max(2, Math.floor(this.width / 55)));
      const minGap = 38 / this.width; // keep labels from overlapping the end labels
      const inner = ticks.filter((t) => (t - lo) / (hi - lo) > minGap && (t - lo) / (hi - lo) < 1 - minGap);
      addTick(fmtTick(lo), 0, "nv-first");
      for (const t of inner) addTick(fmtTick(t), (t - lo) / (hi - lo));
      addTick(fmtTick(hi), 1, "nv-last");
    } else if (Number.isFinite(lo)) {
      addTick(fmtTick(lo), 0, "nv-first");
    }

    this.special.replaceChildren();
    const sp = specialColors(cmap);
    const items = [["NaN", sp.nan], ["+Inf", sp.posinf], ["−Inf", sp.neginf]];
    if (showDead) items.push(["dead unit", sp.dead]);
    for (const [name, rgb] of items) {
      const s = document.createElement("span");
      const sw = document.createElement("span");
      sw.className = "nv-swatch";
      sw.style.background = rgbCss(rgb);
      s.append(sw, document.createTextNode(name));
      this.special.appendChild(s);
    }
  }
}
