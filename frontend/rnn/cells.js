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
  }

  set({ traces, kind, probe, cell, selection }) {
    Object.assign(this, { traces, kind, probe, cell, selection });
    this.title.textContent = `${traces.U} cells`;
    this.sub.textContent = `${kind === "state" ? "state (tanh c)" : kind.replace("_", " ")} over probe ${probe} · click or ↑/↓ to choose`;
    this.draw();
    this.scrollToCell();
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
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const n = tr.lengths[this.probe];
    const plotW = width - LABEL - 4;
    const x = (t) => LABEL + (t / Math.max(1, n)) * plotW;
    const scaleOf = (u) => tr.scale(this.kind, u);
    const colors = { text: cssVar("--nv-text-2"), grid: cssVar("--nv-border"), line: cssVar("--nv-link"), sel: cssVar("--nv-selected"), accent: cssVar("--nv-accent") };
    ctx.font = `11px ${cssVar("--nv-mono") || "monospace"}`;
    ctx.textBaseline = "middle";
    if (this.selection && this.selection.probe === this.probe) {
      ctx.fillStyle = colors.sel;
      ctx.fillRect(x(this.selection.start), 0, x(this.selection.end) - x(this.selection.start), height);
    }
    const v = tr.values(this.kind);
    for (let u = 0; u < tr.U; u++) {
      const y0 = u * ROW;
      if (u === this.cell) { ctx.fillStyle = colors.sel; ctx.fillRect(0, y0, width, ROW); }
      ctx.fillStyle = u === this.cell ? colors.accent : colors.text;
      ctx.fillText(String(u), 4, y0 + ROW / 2);
      const { center, half } = scaleOf(u);
      const yOf = (val) => y0 + ROW / 2 - Math.max(-1, Math.min(1, (val - center) / half)) * (ROW / 2 - 2);
      ctx.strokeStyle = colors.grid;
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(LABEL, y0 + ROW / 2); ctx.lineTo(LABEL + plotW, y0 + ROW / 2); ctx.stroke();
      ctx.strokeStyle = u === this.cell ? colors.accent : colors.line;
      ctx.lineWidth = u === this.cell ? 1.5 : 1;
      ctx.beginPath();
      let pen = false;
      // One point per token, or the min and max of the tokens under each pixel column when they are many.
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
}
