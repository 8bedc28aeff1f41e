// Two views of a layer beyond one text: gate saturation (for each gate, each cell's fraction of steps
// left-saturated < 0.1 against right-saturated > 0.9, as in Karpathy et al. 2015, Fig. 3) and the
// selected cell across training steps (rows = loaded steps, columns = tokens of the probe).

import { el } from "../shared/dom.js";
import { showError } from "../shared/api.js";
import { cssVar } from "../shared/theme.js";
import { showTooltip, hideTooltip } from "../shared/tooltip.js";
import { fmt, fmtPct } from "../shared/format.js";
import { valueColor, displayToken, KIND_LABELS } from "./data.js";

const SIZE = 150;
const PAD = 26;

function canvasOf(w, h) {
  const dpr = window.devicePixelRatio || 1;
  const c = el("canvas");
  c.width = Math.round(w * dpr);
  c.height = Math.round(h * dpr);
  c.style.width = `${w}px`;
  c.style.height = `${h}px`;
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return [c, ctx];
}

export class SaturationPanel {
  /** on: {cell(u)} */
  constructor(parent, on) {
    this.on = on;
    this.card = el("div", "nv-card nv-saturation-card");
    this.card.append(el("div", "nv-card-title", "Gate saturation"));
    this.body = el("div", "nv-sat-row");
    this.hint = el("div", "nv-hint", "One point per cell: x = fraction of steps with the gate < 0.1, y = fraction > 0.9. Click a point to choose the cell.");
    this.card.append(this.body, this.hint);
    parent.append(this.card);
  }

  setData(d, cell) {
    this.data = d;
    this.cell = cell;
    this.draw();
  }

  setCell(cell) { this.cell = cell; this.draw(); }

  draw() {
    const gates = Object.entries((this.data && this.data.gates) || {});
    this.card.hidden = !gates.length;
    this.body.replaceChildren();
    const text = cssVar("--nv-text-2"), grid = cssVar("--nv-border"), dot = cssVar("--nv-link"), accent = cssVar("--nv-accent");
    for (const [gate, { left, right }] of gates) {
      const box = el("div", "nv-sat");
      const [c, ctx] = canvasOf(SIZE + PAD, SIZE + PAD);
      const xy = (u) => [PAD + left[u] * SIZE, SIZE - right[u] * SIZE + 2];
      ctx.strokeStyle = grid;
      ctx.strokeRect(PAD, 2, SIZE, SIZE);
      ctx.beginPath(); ctx.moveTo(PAD, SIZE + 2); ctx.lineTo(PAD + SIZE, 2); ctx.stroke();
      ctx.fillStyle = text;
      ctx.font = "10px sans-serif";
      ctx.fillText("0", PAD - 8, SIZE + 12);
      ctx.fillText("1", PAD + SIZE - 4, SIZE + 14);
      ctx.fillText("1", PAD - 9, 10);
      ctx.fillText("< 0.1 →", PAD + SIZE / 2 - 18, SIZE + 20);
      ctx.save(); ctx.translate(9, SIZE / 2 + 20); ctx.rotate(-Math.PI / 2); ctx.fillText("> 0.9 →", 0, 0); ctx.restore();
      for (let u = 0; u < left.length; u++) {
        const [x, y] = xy(u);
        ctx.fillStyle = u === this.cell ? accent : dot;
        ctx.globalAlpha = u === this.cell ? 1 : 0.55;
        ctx.beginPath(); ctx.arc(x, y, u === this.cell ? 4.5 : 2.5, 0, 2 * Math.PI); ctx.fill();
      }
      ctx.globalAlpha = 1;
      const nearest = (e) => {
        const r = c.getBoundingClientRect();
        let best = -1, bd = 64;
        for (let u = 0; u < left.length; u++) {
          const [x, y] = xy(u);
          const d = (x - (e.clientX - r.left)) ** 2 + (y - (e.clientY - r.top)) ** 2;
          if (d < bd) { bd = d; best = u; }
        }
        return best;
      };
      c.addEventListener("click", (e) => { const u = nearest(e); if (u >= 0) this.on.cell(u); });
      c.addEventListener("mousemove", (e) => {
        const u = nearest(e);
        if (u < 0) { hideTooltip(); return; }
        showTooltip(e.clientX, e.clientY, [`cell ${u}`, `< 0.1: ${fmtPct(left[u])}`, `> 0.9: ${fmtPct(right[u])}`]);
      });
      c.addEventListener("mouseleave", () => hideTooltip());
      box.append(el("div", "nv-sat-title", KIND_LABELS[gate] || gate), c);
      this.body.append(box);
    }
  }
}

export class HistoryPanel {
  /** on: {step(s)} */
  constructor(parent, on) {
    this.on = on;
    this.card = el("div", "nv-card nv-history-card");
    const head = el("div", "nv-card-title");
    this.title = el("span", "", "The cell over training");
    this.sub = el("span", "nv-sub", "rows: loaded steps · columns: tokens · click a row to view that step");
    head.append(this.title, this.sub);
    this.msg = el("div");
    this.wrap = el("div", "nv-history-wrap");
    this.card.append(head, this.msg, this.wrap);
    parent.append(this.card);
  }

  /** d: the /cell answer; tokens: the probe's tokens; scale: the colour scale of the kind. */
  setData(d, tokens, scale, currentStep) {
    this.msg.replaceChildren();
    this.title.textContent = `Cell ${d.cell} over training`;
    const rows = d.values.length, n = tokens.length;
    // Tokens 2 to 8 px wide, narrower for long texts, but never a canvas wider than browsers draw.
    const cw = Math.min(Math.max(2, Math.min(8, Math.floor(900 / Math.max(1, n)))), 16000 / Math.max(1, n));
    const rh = 14, left = 64;
    const [c, ctx] = canvasOf(Math.ceil(left + n * cw + 2), rows * rh + 2);
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    d.values.forEach((row, r) => {
      ctx.fillStyle = d.steps[r] === currentStep ? cssVar("--nv-accent") : cssVar("--nv-text-2");
      ctx.fillText(`step ${d.steps[r]}`, 2, r * rh + rh / 2 + 1);
      for (let t = 0; t < row.length; t++) {
        ctx.fillStyle = valueColor(row[t], scale);
        ctx.fillRect(left + t * cw, r * rh + 1, Math.max(cw, 1), rh - 1);
      }
    });
    c.addEventListener("click", (e) => {
      const r = Math.floor((e.clientY - c.getBoundingClientRect().top) / rh);
      if (r >= 0 && r < rows) this.on.step(d.steps[r]);
    });
    c.addEventListener("mousemove", (e) => {
      const b = c.getBoundingClientRect();
      const r = Math.floor((e.clientY - b.top) / rh), t = Math.floor((e.clientX - b.left - left) / cw);
      if (r < 0 || r >= rows || t < 0 || t >= n) { hideTooltip(); return; }
      showTooltip(e.clientX, e.clientY, [`step ${d.steps[r]}`, `“${displayToken(tokens[t])}” at ${t}: ${fmt(d.values[r][t])}`]);
    });
    c.addEventListener("mouseleave", () => hideTooltip());
    this.wrap.replaceChildren(c);
  }

  error(e) {
    showError(this.msg, e, { title: "Could not load the cell over training" });
    this.wrap.replaceChildren();
  }
}
