// Units over training: a heatmap of unit (rows) × step (columns) of one statistic.
// Dead units (no positive activation at that step) get the colormap's "dead" colour.
// Hover shows values; click selects the unit (and the step, when an atlas is loaded for it).

import { lut, specialColors, COLORMAPS, ColorBar } from "../shared/colormap.js";
import { showTooltip, hideTooltip } from "../shared/tooltip.js";
import { cssVar } from "../shared/theme.js";
import { fmt, fmtPct } from "../shared/format.js";
import { getJSON, showError, unpackF32 } from "../shared/api.js";
import { el, option } from "../shared/dom.js";

export const OVERVIEW_FIELDS = [
  ["mean", "mean activation"],
  ["max", "max activation"],
  ["frac_active", "fraction active"],
  ["std", "std"],
];

export class Overview {
  constructor(parent, { onPick }) {
    this.onPick = onPick;
    this.el = document.createElement("div");
    this.el.className = "nv-overview";
    this.wrap = document.createElement("div");
    this.wrap.className = "nv-grid-wrap";
    this.wrap.style.maxHeight = "380px";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "nv-base";
    this.overlay = document.createElement("canvas");
    this.overlay.className = "nv-overlay";
    this.wrap.append(this.canvas, this.overlay);
    this.axis = document.createElement("div");
    this.axis.className = "nv-axis nv-faint";
    this.barBox = document.createElement("div");
    this.barBox.className = "nv-overview-legend";
    this.bar = new ColorBar(this.barBox, { width: 200 });
    this.el.append(this.wrap, this.axis, this.barBox);
    if (parent) parent.appendChild(this.el);
    this.data = null;
    this.field = "mean";
    this.cmap = "auto";
    this.showDead = true;
    this.unit = -1;
    this.step = null;
    this.cellW = 4; this.cellH = 4;
    this.canvas.addEventListener("mousemove", (e) => this._move(e));
    this.canvas.addEventListener("mouseleave", () => { hideTooltip(); this._hover = null; this._drawOverlay(); });
    this.canvas.addEventListener("click", (e) => {
      const h = this._hit(e);
      if (h && this.onPick) this.onPick(h.u, this.data.steps[h.s]);
    });
    if (typeof ResizeObserver !== "undefined") {
      let lw = -1;
      new ResizeObserver(() => { if (this.wrap.clientWidth !== lw) { lw = this.wrap.clientWidth; this.draw(); } }).observe(this.wrap);
    }
  }

  setData(data) { this.data = data; this.draw(); }
  setOptions({ field, cmap, showDead }) {
    if (field !== undefined) this.field = field;
    if (cmap !== undefined) this.cmap = cmap;
    if (showDead !== undefined) this.showDead = showDead;
    this.draw();
  }
  setCursor(unit, step) { this.unit = unit; this.step = step; this._drawOverlay(); }

  _fi(name) { return this.data ? this.data.fields.indexOf(name) : -1; }

  draw() {
    const d = this.data;
    if (!d || !d.steps || !d.steps.length || !d.values.length) {
      this.canvas.width = this.canvas.height = 0;
      this.overlay.width = this.overlay.height = 0;
      this.axis.textContent = "";
      return;
    }
    const S = d.steps.length, C = d.values[0].length;
    const fi = this._fi(this.field), fa = this._fi("frac_active"), fmax = this._fi("max");
    let lo = Infinity, hi = -Infinity;
    for (let s = 0; s < S; s++) for (let u = 0; u < C; u++) {
      const v = d.values[s][u][fi];
      if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (this.field === "frac_active") { lo = 0; hi = 1; }
    let name = this.cmap !== "auto" && COLORMAPS[this.cmap] ? this.cmap : (lo < 0 ? "bwr" : "viridis");
    const div = COLORMAPS[name].diverging;
    if (div) { const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1; lo = -m; hi = m; }
    this.range = [lo, hi];
    const L = lut(name), sp = specialColors(name);

    const avail = Math.max(100, this.wrap.clientWidth - 2);
    this.cellW = Math.max(2, Math.floor(avail / S));
    this.cellH = Math.max(2, Math.min(14, Math.floor(360 / C)));
    const W = this.cellW * S, H = this.cellH * C;
    // draw at 1 px per cell, then scale up with CSS (pixelated): cheap for 1000 units × 200 steps
    const img = new ImageData(S, C);
    for (let u = 0; u < C; u++) for (let s = 0; s < S; s++) {
      const row = d.values[s][u];
      const v = row[fi];
      const dead = this.showDead && ((fa >= 0 && row[fa] === 0) || (fa < 0 && fmax >= 0 && row[fmax] <= 0));
      let c;
      if (dead) c = sp.dead;
      else if (Number.isNaN(v)) c = sp.nan;
      else if (v === Infinity) c = sp.posinf;
      else if (v === -Infinity) c = sp.neginf;
      else {
        const k = Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo || 1)) * 255))) * 3;
        c = [L[k], L[k + 1], L[k + 2]];
      }
      const o = (u * S + s) * 4;
      img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
    }
    this.canvas.width = S; this.canvas.height = C;
    this.canvas.getContext("2d").putImageData(img, 0, 0);
    this.canvas.style.width = `${W}px`; this.canvas.style.height = `${H}px`;
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    this.dpr = dpr;
    this.overlay.width = Math.round(W * dpr); this.overlay.height = Math.round(H * dpr);
    this.overlay.style.width = `${W}px`; this.overlay.style.height = `${H}px`;

    this.axis.replaceChildren();
    this.axis.style.position = "relative";
    this.axis.style.height = "16px";
    this.axis.style.width = `${W}px`;
    const nLabels = Math.min(S, Math.max(2, Math.floor(W / 70)));
    const seen = new Set();
    for (let i = 0; i < nLabels; i++) {
      const s = nLabels === 1 ? 0 : Math.round((i * (S - 1)) / (nLabels - 1));
      if (seen.has(s)) continue;
      seen.add(s);
      const span = document.createElement("span");
      span.textContent = String(d.steps[s]);
      span.style.position = "absolute";
      span.style.left = `${s * this.cellW + this.cellW / 2}px`;
      span.style.transform = i === 0 ? "none" : i === nLabels - 1 ? "translateX(-100%)" : "translateX(-50%)";
      span.style.fontSize = "11px";
      this.axis.appendChild(span);
    }
    const label = OVERVIEW_FIELDS.find((f) => f[0] === this.field);
    this.bar.update({ cmap: name, lo, hi, label: `${label ? label[1] : this.field} (rows: units ${0}–${C - 1}, columns: steps)`, showDead: this.showDead });
    this._drawOverlay();
  }

  _hit(e) {
    if (!this.data) return null;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    const s = Math.floor(x / this.cellW), u = Math.floor(y / this.cellH);
    const S = this.data.steps.length, C = this.data.values[0].length;
    if (s < 0 || u < 0 || s >= S || u >= C) return null;
    return { s, u };
  }

  _move(e) {
    const h = this._hit(e);
    this._hover = h;
    this._drawOverlay();
    if (!h) { hideTooltip(); return; }
    const d = this.data;
    const row = d.values[h.s][h.u];
    const get = (n) => { const i = d.fields.indexOf(n); return i >= 0 ? row[i] : undefined; };
    const fa = get("frac_active");
    const lines = [
      `unit ${h.u} · step ${d.steps[h.s]}`,
      `mean ${fmt(get("mean"))}  std ${fmt(get("std"))}`,
      `min ${fmt(get("min"))}  max ${fmt(get("max"))}`,
      `active ${fa === undefined ? "–" : fmtPct(fa)}${fa === 0 ? "  (dead)" : ""}`,
    ];
    const nf = get("nonfinite");
    if (nf) lines.push(`non-finite ${nf}`);
    showTooltip(e.clientX, e.clientY, lines);
  }

  _drawOverlay() {
    if (!this.data || !this.overlay.width) return;
    const ctx = this.overlay.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const W = this.overlay.width / this.dpr, H = this.overlay.height / this.dpr;
    ctx.clearRect(0, 0, W, H);
    const accent = cssVar("--nv-accent") || "#f57c00";
    const text = cssVar("--nv-text") || "#000";
    const si = this.data.steps.indexOf(this.step);
    ctx.lineWidth = 1.5;
    if (si >= 0) { ctx.strokeStyle = accent; ctx.strokeRect(si * this.cellW + 0.75, 0.75, this.cellW - 1.5, H - 1.5); }
    if (this.unit >= 0) { ctx.strokeStyle = accent; ctx.strokeRect(0.75, this.unit * this.cellH + 0.25, W - 1.5, this.cellH - 0.5); }
    if (this._hover) { ctx.strokeStyle = text; ctx.lineWidth = 1; ctx.strokeRect(this._hover.s * this.cellW + 0.5, this._hover.u * this.cellH + 0.5, this.cellW - 1, this.cellH - 1); }
  }
}

/** The "Units over training" card: the overview of one statistic (picked here), and its data. */
export class OverviewCard {
  constructor(parent, { onPick, onStat }) {
    const card = el("div", "nv-card nv-overview-card");
    const title = el("div", "nv-card-title");
    this.statSel = el("select", "nv-select nv-stat-select");
    this.statSel.setAttribute("aria-label", "Statistic");
    for (const [k, t] of OVERVIEW_FIELDS) this.statSel.append(option(k, t));
    this.statSel.style.flex = "0 0 auto";
    this.statSel.addEventListener("change", () => { onStat(this.statSel.value); this.overview.setOptions({ field: this.statSel.value }); });
    const spacer = el("span");
    spacer.style.flex = "1";
    title.append(el("span", "", "Units over training"), el("span", "nv-sub", "rows: units · columns: steps · click to select"), spacer, this.statSel);
    this.msg = el("div");
    card.append(title, this.msg);
    this.overview = new Overview(card, { onPick });
    parent.append(card);
  }

  /** Every loaded step's unit statistics of a layer (packed float32), asked for once `after` settles. */
  fetch(run, layer, after) {
    return (after || Promise.resolve()).catch(() => {}).then(() => getJSON("stats", { run, layer, encoding: "f32" }))
      .then((d) => ({ steps: d.steps, fields: d.fields, values: unpackF32(d.f32, d.shape) }));
  }

  /** Draw the statistics `statsP` brings, unless `current()` says the view moved on; S: the app's state. */
  show(statsP, current, S) {
    statsP.then((d) => {
      if (!current()) return;
      this.msg.replaceChildren();
      if (!d.steps || !d.steps.length) showError(this.msg, "No statistics logged for this layer yet.", { kind: "warn" });
      this.overview.setData(d);
      this.overview.setOptions({ field: S.stat, cmap: S.cmap, showDead: S.dead });
      this.overview.setCursor(S.unit, S.step);
    }, (e) => {
      if (current()) showError(this.msg, e, { title: "Could not load statistics" });
    });
  }
}
