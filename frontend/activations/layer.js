// The layer view: the probe input, the colour bar, and every unit of the layer as a small map on one
// canvas (frontend/shared/grid.js), coloured from the 8-bit atlas with per-unit or shared scales.

import { ColorBar, COLORMAPS, specialColors, rgbCss } from "../shared/colormap.js";
import { TileGrid } from "../shared/grid.js";
import { el } from "../shared/dom.js";
import { fmt, fmtPct } from "../shared/format.js";
import { colorizeAtlas, cellSize, valueAt, resolveCmap, layerRange, statIntervals } from "../shared/atlas.js";

const TILE_ZOOM = { s: 0.6, m: 1, l: 1.7 };

export class LayerView {
  /** Appends the left column (probe, colour bar) and the grid card to `row`; `app` owns the state. */
  constructor(row, app) {
    this.app = app;
    const leftCol = el("div", "nv-col-left");
    this.probeCard = el("div", "nv-card nv-probe-card");
    this.probeImg = el("img", "nv-probe-img");
    this.probeImg.alt = "probe input";
    this.probeCaption = el("div", "nv-faint");
    this.probeStale = el("div", "nv-message nv-warn nv-probe-stale", "This step was written before the run's "
      + "current probe inputs (the run was restarted under the same name): its input is not shown.");
    this.probeStale.hidden = true;
    this.probeCard.append(el("div", "nv-card-title", "Input"), this.probeImg, this.probeStale, this.probeCaption);
    this.probeImg.addEventListener("error", () => { this.probeCard.hidden = true; });
    this.probeImg.addEventListener("load", () => { this.probeCard.hidden = false; });
    this.legendCard = el("div", "nv-card nv-legend-card");
    this.colorbar = new ColorBar(this.legendCard, { width: 200 });
    leftCol.append(this.probeCard, this.legendCard);

    const gridCard = el("div", "nv-card nv-grid-card");
    const gt = el("div", "nv-card-title");
    this.gridTitle = el("span", "", "Units");
    this.gridInfo = el("span", "nv-sub nv-hover-info");
    gt.append(this.gridTitle, this.gridInfo);
    this.gridMsg = el("div", "nv-grid-msg");
    const gridHost = el("div", "nv-grid-host");
    gridCard.append(gt, this.gridMsg, gridHost, el("div", "nv-hint", "Click a unit or use the arrow keys and Enter to inspect it."));
    this.grid = new TileGrid(gridHost, {
      label: "Units of the layer",
      onSelect: (u) => app.selectUnit(u),
      onHover: (u) => this.onGridHover(u),
      describe: (u, px, py) => this.describeUnit(u, px, py),
    });
    row.append(leftCol, gridCard);
  }

  loading(on) {
    this.gridInfo.replaceChildren();
    if (on) this.gridInfo.append(el("span", "nv-spinner"), document.createTextNode(" loading…"));
  }

  /** Show the probe image at `src` (null: the run logged no probe images); `stale`: the probes were
   * replaced after this step was written (a restarted run), so say so instead of showing the wrong input. */
  showProbe(src, caption, stale = false) {
    this.probeStale.hidden = !stale;
    this.probeImg.classList.toggle("nv-hidden", stale);
    if (!src) {
      this.probeCard.hidden = true;
      this.probeImg.removeAttribute("src");
      return;
    }
    if (stale) this.probeCard.hidden = false;
    if (this.probeImg.getAttribute("src") !== src) this.probeImg.src = src;
    this.probeCaption.textContent = stale ? "" : caption;
  }

  recolor() {
    if (!this.app.cur) return;
    const { maps, img } = this.app.cur;
    const count = maps.range.length;
    // Dense layers: one value per unit and probe, so "per unit" means the unit's range over all probes.
    this.app.cur.single = maps.grid.tile_h * maps.grid.tile_w === 1;
    const unitIntervals = statIntervals(maps);
    const res = colorizeAtlas(img, maps, { mode: this.app.S.scale, cmap: this.app.S.cmap, count, unitIntervals });
    this.app.cur.colored = res.canvas;
    this.app.cur.cmapName = res.cmap;
    const { tile_h: th, tile_w: tw, cols } = maps.grid;
    const zoom = TILE_ZOOM[this.app.S.size] || 1;
    const sizer = (width) => {
      const [cw, ch] = cellSize(th, tw, { count, area: Math.max(300, width) * 300, zoom, maxPx: 150 });
      return [cw, ch, th === 1 && tw > 1 ? 6 : cw >= 20 ? 3 : 2]; // strips (sequences) get wider gaps
    };
    this.grid.setSource({ source: res.canvas, count, tileW: tw, tileH: th, srcCols: cols, cellW: 24, cellH: 24, gap: 2, sizer });
    this.grid.select(this.app.S.unit);
    this.updateMarks();
    if (this.app.S.unit >= 0) this.app.unit.show(false);
  }

  updateMarks() {
    if (!this.app.cur) return;
    const n = this.app.cur.maps.range.length;
    const marks = new Uint8Array(n);
    let dead = 0;
    for (let u = 0; u < n; u++) if (this.app.isDead(u)) { marks[u] = 1; dead++; }
    const sp = specialColors(this.app.cur.cmapName || "viridis");
    this.grid.setMarks(marks, this.app.S.dead, rgbCss(sp.dead));
    const nonfinite = (this.app.cur.maps.nonfinite || []).reduce((a, b) => a + (b || 0), 0);
    const parts = [`step ${this.app.cur.maps.step}`, `${dead} dead`];
    if (nonfinite) parts.push(`${nonfinite} non-finite values`);
    this.gridSummary = parts.join(" · ");
    this.gridInfo.textContent = this.gridSummary;
    // colour bar: actual numbers for the shared scale, "unit min/max" for per-unit scaling
    let [lo, hi] = layerRange(this.app.cur.maps.range);
    const name = resolveCmap(this.app.S.cmap, lo);
    if (COLORMAPS[name].diverging) { const m = Math.max(Math.abs(lo), Math.abs(hi)); lo = -m; hi = m; }
    const label = this.app.S.scale === "layer" ? "activation · one scale for the layer"
      : this.app.cur.single ? "activation · each unit on its range over all probes" : "activation · each unit on its own scale";
    this.colorbar.update({ cmap: name, lo, hi, label, showDead: this.app.S.dead, normalized: this.app.S.scale === "unit" });
  }

  describeUnit(u, px, py) {
    const lines = [`unit ${u}`];
    if (!this.app.cur) return lines;
    const s = this.app.unitStats(u);
    if (px >= 0 && py >= 0) {
      const v = valueAt(this.app.cur.img, this.app.cur.maps, u, py, px);
      const { tile_h: th, tile_w: tw } = this.app.cur.maps.grid;
      if (v) {
        const pos = th === 1 && tw === 1 ? "" : th === 1 ? ` at t=${px}` : ` at (${py}, ${px})`;
        lines.push(`value${pos}: ${fmt(v.value)}`);
      }
    }
    lines.push(`mean ${fmt(s.mean)} · max ${fmt(s.max)}`);
    lines.push(`active ${s.frac_active === undefined ? "–" : fmtPct(s.frac_active)}${this.app.isDead(u) ? " · dead" : ""}`);
    if (s.nonfinite) lines.push(`non-finite values: ${s.nonfinite}`);
    return lines;
  }

  onGridHover(u) {
    if (!this.app.cur) return;
    this.gridInfo.textContent = u >= 0 ? `unit ${u} · ${this.gridSummary}` : this.gridSummary;
  }
}
