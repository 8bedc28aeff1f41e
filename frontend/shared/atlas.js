// Decoding and colouring of activation atlases: the one place that turns the Activations plugin's
// /maps + /atlas answers into colours, for the Activations tab's grid, unit panel and filmstrip and for
// any other tab that shows a unit's maps (Feature visualization), so that a map looks the same everywhere.
//
// The backend sends an RGB PNG: unit u's tile sits at tile row floor(u/cols), col u % cols; red = q
// (0..255, value = lo + q/255·(hi − lo) with the unit's [lo, hi]); green = flag (0 finite, 1 NaN,
// 2 +Inf, 3 −Inf). A step without NaN or Inf comes as a grey PNG (maps.channels === 1), which decodes to
// R = G = B = q: every function here that is given `maps` clears green first (see asFlags).

import { lut, specialColors, COLORMAPS } from "./colormap.js";

export const FLAG_NAN = 1, FLAG_POSINF = 2, FLAG_NEGINF = 3;

/** The atlas with green as the NaN/Inf flag: a grey atlas gets green and blue cleared, once (the
 * ImageData is marked, as callers cache and share it). Returns img. */
export function asFlags(img, maps) {
  if (maps.channels !== 1 || img.nvFlags) return img;
  const d = img.data;
  for (let o = 1; o < d.length; o += 4) { d[o] = 0; d[o + 1] = 0; }
  img.nvFlags = true;
  return img;
}

/** Finite [min, max] over all units' ranges (ignores non-finite ends). */
export function layerRange(ranges) {
  let lo = Infinity, hi = -Infinity;
  for (const r of ranges || []) {
    if (!r) continue;
    if (Number.isFinite(r[0])) lo = Math.min(lo, r[0]);
    if (Number.isFinite(r[1])) hi = Math.max(hi, r[1]);
    if (Number.isFinite(r[0])) hi = Math.max(hi, r[0]);
    if (Number.isFinite(r[1])) lo = Math.min(lo, r[1]);
  }
  if (lo === Infinity) return [0, 0];
  return [lo, hi];
}

/** "auto" resolves to the diverging map when the data has negative values. */
export function resolveCmap(cmap, lo) {
  if (cmap && cmap !== "auto" && COLORMAPS[cmap]) return cmap;
  return lo < 0 ? "bwr" : "viridis";
}

/** Table q (0..255) -> colormap index (0..255) for a tile quantised over [lo, hi] and coloured over [a, b];
 *  `constT` is where a constant colour interval (a == b) lands on the map. */
function valueTable(lo, hi, a, b, constT, out = new Uint8Array(256)) {
  const span = b - a;
  for (let q = 0; q < 256; q++) {
    const v = hi === lo ? lo : lo + (q / 255) * (hi - lo);
    const t = span > 0 ? (v - a) / span : constT;
    out[q] = Math.max(0, Math.min(255, Math.round(t * 255)));
  }
  return out;
}

/**
 * Per-unit table q (0..255) -> colormap index (0..255) for the chosen scale.
 * mode "unit": each unit stretched over its own [lo, hi] (diverging: over ±max|·|, 0 at the centre).
 * mode "layer": one scale [glo, ghi] for every unit (diverging: ±max(|glo|, |ghi|)).
 * Returns {tables: Uint8Array(count*256), lo, hi} where lo/hi describe the colour bar ("layer" mode).
 */
export function scaleTables(ranges, count, mode, diverging, fixed = null, unitIntervals = null) {
  const tables = new Uint8Array(count * 256);
  let [glo, ghi] = fixed || layerRange(ranges);
  if (diverging) {
    const m = Math.max(Math.abs(glo), Math.abs(ghi));
    glo = -m; ghi = m;
  }
  for (let u = 0; u < count; u++) {
    const r = ranges[u] || [0, 0];
    const lo = Number.isFinite(r[0]) ? r[0] : 0;
    const hi = Number.isFinite(r[1]) ? r[1] : lo;
    let a, b; // target colour interval for this unit's values
    if (mode === "unit") {
      // unitIntervals (e.g. the unit's min/max over all probes) replace this probe's own range;
      // needed for dense layers, where one probe gives one value per unit (lo == hi).
      let ua = lo, ub = hi;
      const iv = unitIntervals && unitIntervals[u];
      if (iv && Number.isFinite(iv[0]) && Number.isFinite(iv[1])) { ua = iv[0]; ub = iv[1]; }
      if (diverging) { const m = Math.max(Math.abs(ua), Math.abs(ub)); a = -m; b = m; }
      else { a = ua; b = ub; }
    } else { a = glo; b = ghi; }
    valueTable(lo, hi, a, b, diverging ? 0.5 : 0, tables.subarray(u * 256, (u + 1) * 256));
  }
  return { tables, lo: glo, hi: ghi };
}

/**
 * Per-unit colour intervals for maps of one value per unit and probe (dense layers): the unit's [min, max]
 * over all probes from the step's statistics, so that "each unit on its own scale" still shows contrast
 * between probes; null for spatial maps (each probe's tile has its own range).
 */
export function statIntervals(maps) {
  const { grid, stats } = maps;
  if (!grid || grid.tile_h * grid.tile_w !== 1 || !stats || !stats.values) return null;
  const fmin = stats.fields.indexOf("min"), fmax = stats.fields.indexOf("max");
  if (fmin < 0 || fmax < 0) return null;
  return stats.values.map((r) => [r[fmin], r[fmax]]);
}

/** The colouring of a step's maps: {name, diverging, tables, lo, hi} (see scaleTables). */
function coloring(maps, { mode = "unit", cmap = "auto", count = null, unitIntervals = null } = {}) {
  const n = count ?? maps.range.length;
  const name = resolveCmap(cmap, layerRange(maps.range)[0]);
  const diverging = !!COLORMAPS[name].diverging;
  return { name, diverging, ...scaleTables(maps.range, n, mode, diverging, null, unitIntervals) };
}

/** Colours the tile at (x0, y0) of `img` (tw × th) through `table` (q -> colormap index) into `out` at (ox, oy). */
function paintTile(img, x0, y0, tw, th, table, name, out, ox, oy) {
  const L = lut(name), sp = specialColors(name);
  const src = img.data, dst = out.data;
  for (let y = 0; y < th && y0 + y < img.height; y++) {
    for (let x = 0; x < tw && x0 + x < img.width; x++) {
      const o = ((y0 + y) * img.width + x0 + x) * 4;
      const d = ((oy + y) * out.width + ox + x) * 4;
      const flag = src[o + 1];
      if (flag === 0) {
        const k = table[src[o]] * 3;
        dst[d] = L[k]; dst[d + 1] = L[k + 1]; dst[d + 2] = L[k + 2];
      } else {
        const c = flag === FLAG_NAN ? sp.nan : flag === FLAG_POSINF ? sp.posinf : sp.neginf;
        dst[d] = c[0]; dst[d + 1] = c[1]; dst[d + 2] = c[2];
      }
      dst[d + 3] = 255;
    }
  }
}

function toCanvas(imageData) {
  const canvas = document.createElement("canvas");
  canvas.width = imageData.width; canvas.height = imageData.height;
  canvas.getContext("2d").putImageData(imageData, 0, 0);
  return canvas;
}

/**
 * Colours a decoded atlas. Returns {canvas, lo, hi, cmap, diverging}.
 *   img: ImageData of the atlas;  maps: the `maps` JSON (grid, range).
 */
export function colorizeAtlas(img, maps, opts = {}) {
  asFlags(img, maps);
  const { cols, tile_h: th, tile_w: tw } = maps.grid;
  const c = coloring(maps, opts);
  const n = c.tables.length / 256;
  const out = new ImageData(img.width, img.height); // pixels outside every unit's tile stay transparent
  for (let u = 0; u < n; u++) {
    const x0 = (u % cols) * tw, y0 = Math.floor(u / cols) * th;
    paintTile(img, x0, y0, tw, th, c.tables.subarray(u * 256, (u + 1) * 256), c.name, out, x0, y0);
  }
  return { canvas: toCanvas(out), lo: c.lo, hi: c.hi, cmap: c.name, diverging: c.diverging };
}

/**
 * Unit u's map out of an atlas on its own canvas (tile_w × tile_h), coloured exactly as colorizeAtlas
 * colours it in the whole layer's grid with the same options. Returns {canvas, cmap}.
 */
export function unitMapCanvas(img, maps, u, opts = {}) {
  asFlags(img, maps);
  const { cols, tile_h: th, tile_w: tw } = maps.grid;
  const c = coloring(maps, opts);
  const out = new ImageData(tw, th);
  paintTile(img, (u % cols) * tw, Math.floor(u / cols) * th, tw, th, c.tables.subarray(u * 256, (u + 1) * 256), c.name, out, 0, 0);
  return { canvas: toCanvas(out), cmap: c.name };
}

/**
 * Exact value of unit u at tile pixel (y, x): {value, flag, q, halfStep}.
 * value is NaN / ±Infinity for flagged pixels.
 */
export function valueAt(img, maps, u, y, x) {
  asFlags(img, maps);
  const { cols, tile_h: th, tile_w: tw } = maps.grid;
  const ax = (u % cols) * tw + x, ay = Math.floor(u / cols) * th + y;
  if (ax >= img.width || ay >= img.height) return null;
  const o = (ay * img.width + ax) * 4;
  const q = img.data[o], flag = img.data[o + 1];
  const r = maps.range[u] || [0, 0];
  const lo = r[0], hi = r[1];
  let value;
  if (flag === FLAG_NAN) value = NaN;
  else if (flag === FLAG_POSINF) value = Infinity;
  else if (flag === FLAG_NEGINF) value = -Infinity;
  else value = hi === lo ? lo : lo + (q / 255) * (hi - lo);
  const halfStep = Number.isFinite(hi - lo) ? Math.abs(hi - lo) / 510 : 0;
  return { value, flag, q, halfStep };
}

/** Pixel (y, x) of the unit's largest finite value (first one), or null. */
export function peakOf(img, maps, u) {
  asFlags(img, maps);
  const { cols, tile_h: th, tile_w: tw } = maps.grid;
  const x0 = (u % cols) * tw, y0 = Math.floor(u / cols) * th;
  let best = -1, by = 0, bx = 0, anyFinite = false;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const o = ((y0 + y) * img.width + x0 + x) * 4;
      if (img.data[o + 1] !== 0) continue;
      anyFinite = true;
      if (img.data[o] > best) { best = img.data[o]; by = y; bx = x; }
    }
  }
  return anyFinite ? [by, bx] : [0, 0];
}

/**
 * Colours one unit's tile out of an atlas onto a new canvas (tile_w × tile_h), with a fixed
 * value interval [a, b] (for filmstrips: same colours at every step).
 */
export function unitTileCanvas(img, grid, u, range, cmapName, a, b) {
  const { cols, tile_h: th, tile_w: tw } = grid;
  const lo = range ? range[0] : 0, hi = range ? range[1] : 0;
  const table = valueTable(lo, hi, a, b, a < 0 || b < 0 ? 0.5 : 0); // constant: as the grid does
  const out = new ImageData(tw, th);
  paintTile(img, (u % cols) * tw, Math.floor(u / cols) * th, tw, th, table, cmapName, out, 0, 0);
  return toCanvas(out);
}

/**
 * On-screen tile size [w, h] in CSS px for maps of h×w pixels: nearest-neighbour upscaling by an
 * integer factor so the grid of `count` units roughly fills `area` px² (few units → big tiles, 1,000+ →
 * small ones), times `zoom` (tile size S/M/L). Sequences (1×T) stay at least `minPx` tall.
 */
export function cellSize(h, w, { count = 1, area = 900 * 420, zoom = 1, minPx = 12, maxPx = 200 } = {}) {
  const big = Math.max(h, w);
  const target = Math.max(16, Math.min(maxPx, Math.sqrt(area / Math.max(1, count)))) * zoom;
  let cw, ch;
  if (big <= target) {
    const s = Math.max(1, Math.floor(target / big));
    cw = w * s; ch = h * s;
  } else {
    // larger than the target: integer downscale keeps it readable; never below minPx
    const f = target / big;
    cw = Math.max(minPx, Math.round(w * f)); ch = Math.max(minPx, Math.round(h * f));
  }
  if (ch < minPx) ch = Math.ceil(minPx / h) * h;
  if (cw < minPx) cw = Math.ceil(minPx / w) * w;
  return [cw, ch];
}
