// Drawing for the Strategies (SpRAy) view: the embedding as a scatter coloured by cluster, the eigenvalue
// spectrum with the chosen gap, member thumbnails cut from the atlas, and the clusters across steps.
// Canvas drawing only; text goes in with textContent.

import { cssVar } from "../shared/theme.js";
import { HeatmapCanvas } from "../shared/heatmap.js";
import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";

// Ten distinguishable colours (Tableau 10), readable on light and dark backgrounds.
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

export function clusterColor(c) { return PALETTE[c % PALETTE.length]; }

/** A canvas of CSS size w × h drawn at the device's pixel ratio; returns [canvas, ctx]. */
export function hiDpi(canvas, w, h) {
  const r = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * r);
  canvas.height = Math.round(h * r);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(r, 0, 0, r, 0, 0);
  return ctx;
}

/** Pixel positions of the embedding's points (coordinates are in [-1, 1]) in a size × size square. */
export function scatterPositions(embedding, size, pad = 10) {
  const half = (size - 2 * pad) / 2;
  return embedding.map(([x, y]) => [pad + half * (1 + x), pad + half * (1 - y)]);
}

const GOLDEN = Math.PI * (3 - Math.sqrt(5));

/**
 * Makes stacked points visible: points closer than `radius` px to a stack's first point (near-identical
 * heatmaps land on one spot of the embedding) are spread deterministically around the spot on a sunflower
 * spiral, `spacing` px apart (less for big stacks, to stay within about 40 px), so that each one can be hovered
 * and clicked. Returns {positions, stacks: [{x, y, r, members}]} (stacks of two or more, biggest first).
 */
export function spreadStacks(points, { radius = 1.5, spacing = 3.5 } = {}) {
  const seeds = new Map(); // grid cell -> stacks whose first point lies in it
  const stacks = [];
  const cell = (v) => Math.floor(v / radius);
  points.forEach(([x, y], i) => {
    let best = null, bestD = radius * radius;
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (const s of seeds.get(`${cell(x) + dx},${cell(y) + dy}`) || []) {
          const d = (s.x - x) ** 2 + (s.y - y) ** 2;
          if (d <= bestD) { best = s; bestD = d; }
        }
      }
    }
    if (best) { best.members.push(i); return; }
    const s = { x, y, members: [i] };
    stacks.push(s);
    const key = `${cell(x)},${cell(y)}`;
    seeds.set(key, [...(seeds.get(key) || []), s]);
  });
  const positions = points.map(([x, y]) => [x, y]);
  const multi = stacks.filter((s) => s.members.length > 1);
  for (const s of multi) {
    const k = s.members.length;
    const gap = Math.max(2, Math.min(spacing, 40 / Math.sqrt(k)));
    s.members.forEach((i, j) => {
      const r = gap * Math.sqrt(j + 0.5);
      positions[i] = [s.x + r * Math.cos(j * GOLDEN), s.y + r * Math.sin(j * GOLDEN)];
    });
    s.r = gap * Math.sqrt(k) + 4;
  }
  return { positions, stacks: multi.sort((a, b) => b.members.length - a.members.length) };
}

/** The scatter: one dot per example in its cluster's colour; `selected` cluster drawn on top, others faded;
 *  each stack of `ringFrom` or more near-identical points (see spreadStacks) ringed and labelled with its count. */
export function drawScatter(canvas, size, positions, labels, { selected = null, member = null, stacks = [], ringFrom = 5 } = {}) {
  const ctx = hiDpi(canvas, size, size);
  ctx.fillStyle = cssVar("--nv-canvas-bg") || "#fff";
  ctx.fillRect(0, 0, size, size);
  ctx.strokeStyle = cssVar("--nv-border") || "#ddd";
  ctx.strokeRect(0.5, 0.5, size - 1, size - 1);
  const order = positions.map((_, i) => i).sort((a, b) => (labels[a] === selected) - (labels[b] === selected));
  for (const i of order) {
    const faded = selected !== null && labels[i] !== selected;
    ctx.globalAlpha = faded ? 0.25 : 1;
    ctx.fillStyle = clusterColor(labels[i]);
    ctx.beginPath();
    ctx.arc(positions[i][0], positions[i][1], 3, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = ctx.fillStyle = cssVar("--nv-text-2") || "#666";
  ctx.font = `bold 11px ${cssVar("--nv-font") || "sans-serif"}`;
  ctx.textAlign = "left";
  for (const s of stacks) {
    if (s.members.length < ringFrom) continue; // small stacks are only spread: rings there would bury the plot
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 2]);
    ctx.beginPath();
    ctx.arc(s.x, s.y, s.r, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.setLineDash([]);
    const a = -Math.PI / 4, tx = s.x + s.r * Math.cos(a) + 2, ty = s.y + s.r * Math.sin(a) - 2;
    ctx.fillText(`×${s.members.length}`, Math.min(tx, size - 26), Math.max(ty, 11));
  }
  if (member !== null && positions[member]) {
    ctx.strokeStyle = cssVar("--nv-text") || "#000";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(positions[member][0], positions[member][1], 6, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

/** Index of the point nearest (x, y) within `radius` CSS pixels, or -1. */
export function nearestPoint(positions, x, y, radius = 7) {
  let best = -1, bestD = radius * radius;
  positions.forEach(([px, py], i) => {
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d <= bestD) { best = i; bestD = d; }
  });
  return best;
}

/** The eigenvalue spectrum: one dot per eigenvalue (ascending), a dashed line in the gap after `gap`. */
export function drawSpectrum(canvas, w, h, eigenvalues, gap) {
  const ctx = hiDpi(canvas, w, h);
  const text = cssVar("--nv-text-2") || "#666";
  const pad = { l: 34, r: 8, t: 8, b: 20 };
  ctx.fillStyle = cssVar("--nv-canvas-bg") || "#fff";
  ctx.fillRect(0, 0, w, h);
  const n = eigenvalues.length;
  const top = Math.max(1e-9, ...eigenvalues.filter(Number.isFinite));
  const X = (i) => pad.l + ((i + 0.5) / n) * (w - pad.l - pad.r);
  const Y = (v) => h - pad.b - (v / top) * (h - pad.t - pad.b);
  ctx.strokeStyle = cssVar("--nv-border-strong") || "#ccc";
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t);
  ctx.lineTo(pad.l, h - pad.b);
  ctx.lineTo(w - pad.r, h - pad.b);
  ctx.stroke();
  ctx.fillStyle = text;
  ctx.font = `11px ${cssVar("--nv-font") || "sans-serif"}`;
  ctx.textAlign = "right";
  ctx.fillText(fmt(top, 2), pad.l - 4, pad.t + 8);
  ctx.fillText("0", pad.l - 4, h - pad.b);
  ctx.textAlign = "center";
  for (let i = 0; i < n; i++) if (n <= 12 || i % 2 === 0) ctx.fillText(String(i + 1), X(i), h - 6);
  if (gap >= 1 && gap < n) {
    const gx = (X(gap - 1) + X(gap)) / 2;
    ctx.strokeStyle = cssVar("--nv-accent") || "#f57c00";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(gx, pad.t);
    ctx.lineTo(gx, h - pad.b);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  eigenvalues.forEach((v, i) => {
    ctx.fillStyle = i < gap ? (cssVar("--nv-accent") || "#f57c00") : (cssVar("--nv-text-2") || "#666");
    ctx.beginPath();
    ctx.arc(X(i), Y(Number.isFinite(v) ? v : 0), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  });
}

/** Member i's input thumbnail cut from the atlas, at its own size (a canvas), or null without an atlas. */
export function thumbnail(atlas, grid, hw, i) {
  if (!atlas || !grid) return null;
  const [h, w] = hw;
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const [r, col] = [Math.floor(i / grid[1]), i % grid[1]];
  c.getContext("2d").drawImage(atlas, col * w, r * h, w, h, 0, 0, w, h);
  return c;
}

/** A canvas with member i's thumbnail and, when `values` are given, its heatmap over it (the exact value
 *  under the cursor in a tooltip). */
export function memberCanvas(atlas, grid, hw, i, values, m, { px = 44, opacity = 0.65, label = "member" } = {}) {
  const [h, w] = hw;
  const image = thumbnail(atlas, grid, hw, i);
  const hm = new HeatmapCanvas(null, { size: px, label });
  hm.draw({ values: values || new Float32Array(h * w), h, w, m, image, opacity: image ? opacity : 1, showMap: !!values });
  return hm.canvas;
}

/** Rows of stacked bars, one per loaded step: each cluster's share of the class, in its colour. */
export function historyBars(steps, current, onPick) {
  const list = el("ol", "nv-spray-history");
  list.setAttribute("aria-label", "Clusters at each loaded step");
  for (const s of steps) {
    const row = el("li", "nv-spray-hrow");
    const b = el("button", "nv-spray-hbtn");
    b.type = "button";
    b.setAttribute("aria-pressed", String(s.step === current));
    b.title = `step ${s.step}: ${s.n_clusters} cluster${s.n_clusters === 1 ? "" : "s"} of ${s.n} examples (${s.sizes.join(", ")})`;
    b.addEventListener("click", () => onPick(s.step));
    const bar = el("span", "nv-spray-hbar");
    s.sizes.forEach((size, c) => {
      const seg = el("span", "nv-spray-hseg");
      seg.style.width = `${(100 * size) / Math.max(1, s.n)}%`;
      seg.style.background = clusterColor(c);
      bar.append(seg);
    });
    b.append(el("span", "nv-spray-hstep", `step ${s.step}`), bar, el("span", "nv-spray-hk", `${s.n_clusters} · ${s.sizes.join(" / ")}`));
    row.append(b);
    list.append(row);
  }
  return list;
}
