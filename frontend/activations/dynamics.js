// Weight dynamics of a run, as small multiples (one panel per layer): the update-to-weight ratio at each
// logged step on a log scale, with the usual band (1e-4 to 1e-2 around 1e-3) shaded, and each unit's weight
// norm over training (the mean in bold). Layers whose latest ratio is out of the band are highlighted: a
// learning rate too high (ratio far above 1e-3) or too low (far below). Hidden for runs without the data.

import { getJSON, showError } from "../shared/api.js";
import { cssVar, addStylesheet } from "../shared/theme.js";
import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";
import { showTooltip, hideTooltip } from "../shared/tooltip.js";

addStylesheet(new URL("./weights.css", import.meta.url).href);

const W = 240, H = 84, PAD = { l: 40, r: 6, t: 6, b: 14 };

export class WeightDynamics {
  constructor(parent) {
    this.card = el("section", "nv-card nv-dynamics-card");
    this.card.setAttribute("aria-label", "Weight dynamics");
    this.card.hidden = true;
    const title = el("div", "nv-card-title");
    this.sub = el("span", "nv-sub");
    title.append(el("span", "", "Weight dynamics"), this.sub);
    this.msg = el("div");
    this.grid = el("div", "nv-dynamics-grid");
    this.card.append(title, this.msg, this.grid);
    parent.append(this.card);
    this.tok = 0;
    this.data = null;
  }

  /** Show the run's weight dynamics; `logged` false (no layer of the run has weights) hides the card
   * without asking the server. */
  async show(run, logged = true) {
    const t = ++this.tok;
    if (!logged) { this.data = null; this.card.hidden = true; return; }
    let d;
    try {
      d = await getJSON("weight_dynamics", { run });
    } catch (e) {
      if (t !== this.tok) return;
      this.data = null;
      if (e && e.status === 404) { this.card.hidden = true; return; } // not logged for this run
      this.card.hidden = false;
      this.grid.replaceChildren();
      showError(this.msg, e, { title: "Could not load the weight dynamics" });
      return;
    }
    if (t !== this.tok) return;
    this.data = d;
    this.msg.replaceChildren();
    this.card.hidden = false;
    const flagged = Object.entries(d.layers).filter(([, v]) => v.flagged).map(([k]) => k);
    this.sub.textContent = `update ratio ‖ΔW‖/‖W‖ per logged step (shaded: ${exp10(d.band[0])} to ${exp10(d.band[1])}) and unit weight norms` +
      (flagged.length ? ` · ${flagged.length} layer${flagged.length > 1 ? "s" : ""} out of range` : "");
    this.draw();
  }

  draw() {
    if (!this.data) return;
    const d = this.data;
    this.grid.replaceChildren();
    for (const [layer, v] of Object.entries(d.layers)) {
      const panel = el("figure", "nv-dyn-panel" + (v.flagged ? " nv-dyn-flagged" : ""));
      panel.dataset.layer = layer;
      const head = el("figcaption", "nv-dyn-head");
      head.append(el("span", "nv-dyn-name", layer));
      const last = lastFinite(v.ratios);
      if (last !== null) {
        const verdict = last > d.band[1] ? " · too high?" : last < d.band[0] ? " · too low?" : "";
        const badge = el("span", "nv-dyn-ratio nv-mono", `${fmt(last, 2)}${verdict}`);
        badge.title = v.flagged ? `The latest update ratio is outside ${exp10(d.band[0])} to ${exp10(d.band[1])}: the learning rate may be ${last > d.band[1] ? "too high" : "too low"} for this layer.` : "The latest update ratio";
        head.append(badge);
      }
      panel.append(head);
      if (v.ratio_steps.length) panel.append(this.ratioChart(v, d));
      else panel.append(el("div", "nv-faint", "no update ratios (written from the first optimizer step on)"));
      if (v.steps.length) panel.append(this.normChart(v));
      this.grid.append(panel);
    }
  }

  /** log10 of the update ratio per step, the band shaded and 1e-3 dashed. */
  ratioChart(v, d) {
    const pts = v.ratio_steps.map((s, i) => [s, v.ratios[i]]).filter(([, r]) => Number.isFinite(r) && r > 0);
    const logs = pts.map(([, r]) => Math.log10(r));
    const lo = Math.min(Math.log10(d.band[0]) - 0.5, ...logs), hi = Math.max(Math.log10(d.band[1]) + 0.5, ...logs);
    const xs = axis(v.ratio_steps.concat(v.steps));
    const y = (l) => PAD.t + (1 - (l - lo) / (hi - lo)) * (H - PAD.t - PAD.b);
    const { canvas, g } = chart("update ratio over steps (log scale)");
    g.fillStyle = cssVar("--nv-accent-weak");
    g.fillRect(PAD.l, y(Math.log10(d.band[1])), W - PAD.l - PAD.r, y(Math.log10(d.band[0])) - y(Math.log10(d.band[1])));
    g.strokeStyle = cssVar("--nv-text-3");
    g.setLineDash([3, 3]);
    line(g, [[PAD.l, y(Math.log10(d.target))], [W - PAD.r, y(Math.log10(d.target))]]);
    g.setLineDash([]);
    g.strokeStyle = v.flagged ? cssVar("--nv-dead") : cssVar("--nv-link");
    g.fillStyle = g.strokeStyle;
    const xy = pts.map(([s, r]) => [xs(s), y(Math.log10(r))]);
    g.lineWidth = 1.5;
    line(g, xy);
    for (const [px, py] of xy) g.fillRect(px - 1.5, py - 1.5, 3, 3);
    ticks(g, range(Math.ceil(lo), Math.floor(hi)).map((e) => [y(e), `1e${e}`]), xs, v.ratio_steps.concat(v.steps));
    hover(canvas, pts, xs, (s, r) => [`step ${s}`, `update ratio ${fmt(r, 3)}`]);
    return canvas;
  }

  /** Each unit's weight norm per step (faint), their mean (bold). */
  normChart(v) {
    const units = v.norms.length ? v.norms[v.norms.length - 1].length : 0;
    const all = v.norms.flat().filter(Number.isFinite);
    const lo = 0, hi = Math.max(...all, 1e-12);
    const xs = axis(v.ratio_steps.concat(v.steps));
    const y = (n) => PAD.t + (1 - (n - lo) / (hi - lo)) * (H - PAD.t - PAD.b);
    const { canvas, g } = chart("unit weight norms over steps");
    g.strokeStyle = cssVar("--nv-text-3");
    g.globalAlpha = Math.max(0.15, Math.min(0.6, 6 / Math.max(1, units)));
    for (let u = 0; u < units; u++) line(g, v.steps.map((s, i) => [xs(s), y(v.norms[i][u])]));
    g.globalAlpha = 1;
    g.strokeStyle = cssVar("--nv-text");
    g.lineWidth = 1.5;
    const means = v.norms.map((row) => row.reduce((a, b) => a + b, 0) / Math.max(1, row.length));
    line(g, v.steps.map((s, i) => [xs(s), y(means[i])]));
    ticks(g, [[y(hi), fmt(hi, 2)], [y(0), "0"]], xs, v.ratio_steps.concat(v.steps));
    hover(canvas, v.steps.map((s, i) => [s, means[i]]), xs, (s, m, i) => [`step ${s}`, `mean unit norm ${fmt(m, 3)}`,
      `min ${fmt(Math.min(...v.norms[i]), 3)} · max ${fmt(Math.max(...v.norms[i]), 3)}`]);
    return canvas;
  }
}

function chart(label) {
  const canvas = el("canvas", "nv-dyn-chart");
  const dpr = window.devicePixelRatio || 1;
  canvas.width = W * dpr;
  canvas.height = H * dpr;
  canvas.style.width = `${W}px`;
  canvas.style.height = `${H}px`;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.fillStyle = cssVar("--nv-canvas-bg");
  g.fillRect(0, 0, W, H);
  return { canvas, g };
}

function axis(steps) {
  const lo = Math.min(...steps), hi = Math.max(...steps);
  return (s) => PAD.l + (hi > lo ? (s - lo) / (hi - lo) : 0.5) * (W - PAD.l - PAD.r);
}

function line(g, pts) {
  if (!pts.length) return;
  g.beginPath();
  pts.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
  g.stroke();
}

function range(a, b) {
  const out = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

/** y tick labels [[y, text]], and the first and last step under the x axis. */
function ticks(g, ys, xs, steps) {
  g.fillStyle = cssVar("--nv-text-2");
  g.font = "9px " + cssVar("--nv-mono");
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const [y, t] of ys) g.fillText(t, PAD.l - 3, y);
  if (!steps.length) return;
  g.textBaseline = "bottom";
  g.textAlign = "left";
  g.fillText(String(Math.min(...steps)), PAD.l, H);
  g.textAlign = "right";
  g.fillText(String(Math.max(...steps)), W - PAD.r, H);
}

/** A tooltip for the logged step nearest the cursor. */
function hover(canvas, pts, xs, lines) {
  canvas.addEventListener("mousemove", (e) => {
    if (!pts.length) return;
    const r = canvas.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * W;
    let best = 0;
    pts.forEach(([s], i) => { if (Math.abs(xs(s) - x) < Math.abs(xs(pts[best][0]) - x)) best = i; });
    showTooltip(e.clientX, e.clientY, lines(pts[best][0], pts[best][1], best));
  });
  canvas.addEventListener("mouseleave", hideTooltip);
}

/** 1e-4 for 0.0001. */
function exp10(v) {
  return `1e${Math.round(Math.log10(v))}`;
}

function lastFinite(values) {
  for (let i = values.length - 1; i >= 0; i--) if (Number.isFinite(values[i])) return values[i];
  return null;
}
