// All cells of a layer as sparklines over one probe text (one canvas, one row per cell). Click a row or
// use ↑/↓ to choose the cell the text is coloured by; the selected span is shaded on every row.

import { el } from "../shared/dom.js";
import { cssVar } from "../shared/theme.js";
import { showTooltip, hideTooltip } from "../shared/tooltip.js";
import { fmt } from "../shared/format.js";
import { displayToken } from "./data.js";

const ROW = 18;
const LABEL = 40;

export class CellsPanel {
  /** on: {cell(u)} */
  constructor(parent, on) {
    this.on = on;
    this.card = el("div", "nv-card nv-cells-card");
    const head = el("div", "nv-card-title");
    this.title = el("span", "", "Cells");
    this.sub = el("span", "nv-sub");
    head.append(this.title, this.sub);
    this.wrap = el("div", "nv-cells-wrap");
    this.canvas = el("canvas", "nv-cells-canvas");
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("role", "listbox");
    this.canvas.setAttribute("aria-label", "Cells: ↑/↓ choose the cell");
    this.wrap.append(this.canvas);
    this.card.append(head, this.wrap);
    parent.append(this.card);
    this.canvas.addEventListener("click", (e) => { const u = this.rowAt(e); if (u >= 0) this.on.cell(u); });
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => hideTooltip());
    this.canvas.addEventListener("keydown", (e) => {
      if (!this.traces || !["ArrowUp", "ArrowDown"].includes(e.key)) return;
      e.preventDefault();
      const u = Math.max(0, Math.min(this.traces.U - 1, this.cell + (e.key === "ArrowDown" ? 1 : -1)));
      this.on.cell(u);
    });
    new ResizeObserver(() => this.draw()).observe(this.wrap);
    this.wrap.addEventListener("scroll", () => { if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); }); });
  }

  set({ traces, kind, probe, cell, selection }) {
    Object.assign(this, { traces, kind, probe, cell, selection });
    this.title.textContent = `${traces.U} cells`;
    this.sub.textContent = `${kind === "state" ? "state (tanh c)" : kind.replace("_", " ")} over probe ${probe} · click or ↑/↓ to choose`;
    this.scrollToCell();
    this.draw();
  }

  scrollToCell() {
    const top = this.cell * ROW, h = this.wrap.clientHeight;
    if (top < this.wrap.scrollTop || top + ROW > this.wrap.scrollTop + h) this.wrap.scrollTop = Math.max(0, top - h / 2);
  }

  rowAt(e) {
    if (!this.traces) return -1;
    const r = this.canvas.getBoundingClientRect();
    const u = Math.floor((e.clientY - r.top) / ROW);
    return u >= 0 && u < this.traces.U ? u : -1;
  }

  hover(e) {
    const u = this.rowAt(e);
    if (u < 0) { hideTooltip(); return; }
    const r = this.canvas.getBoundingClientRect();
    const n = this.traces.lengths[this.probe];
    const t = Math.max(0, Math.min(n - 1, Math.floor(((e.clientX - r.left - LABEL) / (r.width - LABEL - 4)) * n)));
    const v = this.traces.at(this.kind, this.probe, t, u);
    showTooltip(e.clientX, e.clientY, [`cell ${u}`, `“${displayToken(this.traces.tokens[this.probe][t])}” at ${t}: ${fmt(v)}`]);
  }

  draw() {
    const tr = this.traces;
    if (!tr) return;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(200, this.wrap.clientWidth - 2);
    const height = tr.U * ROW;
    const n = tr.lengths[this.probe];
    const geo = { width, plotW: width - LABEL - 4, n, x: (t) => LABEL + (t / Math.max(1, n)) * (width - LABEL - 4) };
    const colors = { text: cssVar("--nv-text-2"), grid: cssVar("--nv-border"), line: cssVar("--nv-link"), sel: cssVar("--nv-selected"), accent: cssVar("--nv-accent") };
    // Rows are drawn once per (data, kind, probe, size, theme, selection) into an offscreen canvas, and
    // only when scrolled into view: choosing another cell costs one copy and one row, so ↑/↓ stays fast.
    const sel = this.selection && this.selection.probe === this.probe ? this.selection : null;
    const key = JSON.stringify([this.kind, this.probe, width, dpr, colors, sel && [sel.start, sel.end]]);
    if (!this.base || this.base.key !== key || this.base.traces !== tr) {
      const off = document.createElement("canvas");
      off.width = Math.round(width * dpr);
      off.height = Math.round(height * dpr);
      const octx = off.getContext("2d");
      octx.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (sel) { octx.fillStyle = colors.sel; octx.fillRect(geo.x(sel.start), 0, geo.x(sel.end) - geo.x(sel.start), height); }
      this.base = { key, traces: tr, canvas: off, ctx: octx, drawn: new Uint8Array(tr.U) };
    }
    const first = Math.max(0, Math.floor(this.wrap.scrollTop / ROW) - 8);
    const last = Math.min(tr.U, Math.ceil((this.wrap.scrollTop + Math.max(this.wrap.clientHeight, 420)) / ROW) + 8);
    for (let u = first; u < last; u++) {
      if (!this.base.drawn[u]) { this.row(this.base.ctx, u, geo, colors, false); this.base.drawn[u] = 1; }
    }
    this.canvas.width = this.base.canvas.width;
    this.canvas.height = this.base.canvas.height;
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    const ctx = this.canvas.getContext("2d");
    ctx.drawImage(this.base.canvas, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (this.cell >= 0 && this.cell < tr.U) {
      ctx.fillStyle = colors.sel;
      ctx.fillRect(0, this.cell * ROW, width, ROW);
      this.row(ctx, this.cell, geo, colors, true);
    }
  }

  /** One cell's label, zero line and sparkline (min and max per pixel column when tokens are many). */
  row(ctx, u, { plotW, n, x }, colors, current) {
    const tr = this.traces, v = tr.values(this.kind);
    const y0 = u * ROW;
    ctx.font = `11px ${cssVar("--nv-mono") || "monospace"}`;
    ctx.textBaseline = "middle";
    ctx.fillStyle = current ? colors.accent : colors.text;
    ctx.fillText(String(u), 4, y0 + ROW / 2);
    const { center, half } = tr.scale(this.kind, u);
    const yOf = (val) => y0 + ROW / 2 - Math.max(-1, Math.min(1, (val - center) / half)) * (ROW / 2 - 2);
    ctx.strokeStyle = colors.grid;
    ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(LABEL, y0 + ROW / 2); ctx.lineTo(LABEL + plotW, y0 + ROW / 2); ctx.stroke();
    ctx.strokeStyle = current ? colors.accent : colors.line;
    ctx.lineWidth = current ? 1.5 : 1;
    ctx.beginPath();
    let pen = false;
    const step = Math.max(1, Math.floor(n / plotW));
    for (let t = 0; t < n; t += step) {
      let lo = Infinity, hi = -Infinity;
      for (let s = t; s < Math.min(n, t + step); s++) {
        const val = v[(this.probe * tr.T + s) * tr.U + u];
        if (Number.isFinite(val)) { lo = Math.min(lo, val); hi = Math.max(hi, val); }
      }
      if (lo === Infinity) { pen = false; continue; }
      const px = x(t + step / 2);
      if (!pen) { ctx.moveTo(px, yOf(lo)); pen = true; } else ctx.lineTo(px, yOf(lo));
      if (hi !== lo) ctx.lineTo(px, yOf(hi));
    }
    ctx.stroke();
  }
}
