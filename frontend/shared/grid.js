// A canvas grid of many small maps (one per unit), smooth with thousands of units.
//
// All tiles are drawn onto ONE canvas from a single source image (an "atlas": unit u's tile is at
// column u % srcCols, row floor(u / srcCols), each tileW×tileH pixels), upscaled with nearest
// neighbour. Hover, focus and selection rings live on a second, transparent overlay canvas, so moving
// the pointer never redraws the tiles. Hit-testing is arithmetic. Keyboard: arrow keys move between
// units (as in the Deep Visualization Toolbox), Home/End, PageUp/PageDown, Enter/Space select.

import { showTooltip, hideTooltip } from "./tooltip.js";
import { cssVar } from "./theme.js";

export class TileGrid {
  /**
   * @param parent element to append to
   * @param opts {onSelect(u), onHover(u|null, px, py), describe(u, px, py) -> string[] for the tooltip,
   *              label: accessible name}
   */
  constructor(parent, opts = {}) {
    this.opts = opts;
    this.wrap = document.createElement("div");
    this.wrap.className = "nv-grid-wrap";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "nv-base";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("role", "grid");
    this.canvas.setAttribute("aria-label", opts.label || "units");
    this.overlay = document.createElement("canvas");
    this.overlay.className = "nv-overlay";
    this.overlay.setAttribute("aria-hidden", "true");
    this.wrap.append(this.canvas, this.overlay);
    if (parent) parent.appendChild(this.wrap);

    this.count = 0;
    this.source = null;
    this.tileW = 1; this.tileH = 1; this.srcCols = 1;
    this.cellW = 24; this.cellH = 24; this.gap = 2;
    this.cols = 1; this.rows = 0;
    this.marks = null;      // Uint8Array per unit: 1 = dead
    this.showMarks = true;
    this.markColor = "#e53935";
    this.selected = -1;
    this.hover = -1;
    this.focus = -1;
    this.dpr = 1;
    this._raf = 0;
    this._lastWidth = -1;

    this.canvas.addEventListener("mousemove", (e) => this._onMove(e));
    this.canvas.addEventListener("mouseleave", () => this._setHover(-1, null));
    this.canvas.addEventListener("click", (e) => {
      const hit = this._hit(e);
      if (hit) {
        this.focus = hit.u;
        this.select(hit.u, true);
      }
    });
    this.canvas.addEventListener("keydown", (e) => this._onKey(e));
    this.canvas.addEventListener("focus", () => {
      this.wrap.classList.add("nv-focused");
      if (this.focus < 0 && this.count) this.focus = this.selected >= 0 ? this.selected : 0;
      this._drawOverlay();
    });
    this.canvas.addEventListener("blur", () => {
      this.wrap.classList.remove("nv-focused");
      hideTooltip();
      this._drawOverlay();
    });
    if (typeof ResizeObserver !== "undefined") {
      this._ro = new ResizeObserver(() => {
        const w = this.wrap.clientWidth;
        if (w !== this._lastWidth) this.redraw();
      });
      this._ro.observe(this.wrap);
    }
  }

  /**
   * @param p {source: CanvasImageSource, count, tileW, tileH, srcCols, cellW, cellH, gap, sizer}
   *   cellW/cellH: on-screen tile size in CSS px (nearest-neighbour upscaled); or sizer(width) ->
   *   [cellW, cellH, gap] to choose them from the available width (re-evaluated on resize).
   */
  setSource(p) {
    this.source = p.source;
    this.count = p.count;
    this.tileW = p.tileW; this.tileH = p.tileH; this.srcCols = p.srcCols;
    this.cellW = p.cellW; this.cellH = p.cellH;
    this.gap = p.gap ?? 2;
    this.sizer = p.sizer || null; // optional (availableWidth) -> [cellW, cellH, gap?], re-run on resize
    if (this.selected >= this.count) this.selected = -1;
    if (this.focus >= this.count) this.focus = -1;
    this.redraw();
  }

  setMarks(marks, show = true, color = null) {
    this.marks = marks;
    this.showMarks = show;
    if (color) this.markColor = color;
    this.redraw();
  }

  select(u, fromUser = false) {
    this.selected = u;
    if (u >= 0) this.focus = u;
    this._drawOverlay();
    if (fromUser && this.opts.onSelect) this.opts.onSelect(u);
  }

  /** Coalesces redraws into one animation frame. */
  redraw() {
    if (this._raf) return;
    this._raf = requestAnimationFrame(() => {
      this._raf = 0;
      this._draw();
    });
  }

  /** Draws synchronously (tests, first paint). */
  drawNow() {
    if (this._raf) { cancelAnimationFrame(this._raf); this._raf = 0; }
    this._draw();
  }

  _layout() {
    if (this.sizer) {
      const r = this.sizer(Math.max(50, this.wrap.clientWidth - 2));
      this.cellW = r[0]; this.cellH = r[1];
      if (r[2] !== undefined) this.gap = r[2];
    }
    const avail = Math.max(this.cellW, this.wrap.clientWidth - 2);
    this._lastWidth = this.wrap.clientWidth;
    this.cols = Math.max(1, Math.floor((avail + this.gap) / (this.cellW + this.gap)));
    this.cols = Math.min(this.cols, Math.max(1, this.count));
    this.rows = Math.ceil(this.count / this.cols);
  }

  _cssSize() {
    return [
      Math.max(1, this.cols * (this.cellW + this.gap) - this.gap),
      Math.max(1, this.rows * (this.cellH + this.gap) - this.gap),
    ];
  }

  _draw() {
    this._layout();
    const [w, h] = this._cssSize();
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    // Keep the backing store within browser limits for very tall grids.
    this.dpr = h * dpr > 32000 ? Math.max(0.5, 32000 / h) : dpr;
    for (const c of [this.canvas, this.overlay]) {
      c.width = Math.round(w * this.dpr);
      c.height = Math.round(h * this.dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, w, h);
    if (!this.source || !this.count) { this._drawOverlay(); return; }
    const { cellW, cellH, gap, cols, tileW, tileH, srcCols } = this;
    for (let u = 0; u < this.count; u++) {
      const x = (u % cols) * (cellW + gap);
      const y = Math.floor(u / cols) * (cellH + gap);
      const sx = (u % srcCols) * tileW;
      const sy = Math.floor(u / srcCols) * tileH;
      ctx.drawImage(this.source, sx, sy, tileW, tileH, x, y, cellW, cellH);
    }
    // hairline outline so near-background tiles (white in a diverging map) keep their edges
    if (cellW >= 10 && cellH >= 10 && gap > 0) {
      ctx.strokeStyle = "rgba(128, 128, 128, 0.35)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let u = 0; u < this.count; u++) {
        const x = (u % cols) * (cellW + gap);
        const y = Math.floor(u / cols) * (cellH + gap);
        ctx.rect(x + 0.5, y + 0.5, cellW - 1, cellH - 1);
      }
      ctx.stroke();
    }
    if (this.marks && this.showMarks) {
      ctx.strokeStyle = this.markColor;
      ctx.fillStyle = this.markColor;
      const m = Math.max(6, Math.min(14, Math.round(Math.min(cellW, cellH) * 0.4)));
      for (let u = 0; u < this.count; u++) {
        if (!this.marks[u]) continue;
        const x = (u % cols) * (cellW + gap);
        const y = Math.floor(u / cols) * (cellH + gap);
        // a corner triangle in the colormap's "dead" colour (one none of the maps use much)
        ctx.beginPath();
        ctx.moveTo(x + cellW - m, y);
        ctx.lineTo(x + cellW, y);
        ctx.lineTo(x + cellW, y + m);
        ctx.closePath();
        ctx.fill();
      }
    }
    this._drawOverlay();
  }

  _tileRect(u) {
    const x = (u % this.cols) * (this.cellW + this.gap);
    const y = Math.floor(u / this.cols) * (this.cellH + this.gap);
    return [x, y, this.cellW, this.cellH];
  }

  _drawOverlay() {
    const ctx = this.overlay.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.overlay.width / this.dpr, this.overlay.height / this.dpr);
    if (!this.count) return;
    const ring = (u, color, width, inset = 0) => {
      if (u < 0 || u >= this.count) return;
      const [x, y, w, h] = this._tileRect(u);
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      const o = width / 2 - inset;
      ctx.strokeRect(x - o, y - o, w + 2 * o, h + 2 * o);
    };
    const text = cssVar("--nv-text") || "#000";
    const accent = cssVar("--nv-accent") || "#f57c00";
    const focusColor = cssVar("--nv-focus") || "#1976d2";
    if (this.hover >= 0 && this.hover !== this.selected) ring(this.hover, text, 1.5);
    if (document.activeElement === this.canvas && this.focus >= 0 && this.focus !== this.selected) ring(this.focus, focusColor, 2);
    if (this.selected >= 0) {
      ring(this.selected, accent, 3);
      if (document.activeElement === this.canvas && this.focus === this.selected) ring(this.selected, focusColor, 1, 3);
    }
  }

  _hit(e) {
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    if (x < 0 || y < 0) return null;
    const col = Math.floor(x / (this.cellW + this.gap));
    const row = Math.floor(y / (this.cellH + this.gap));
    if (col >= this.cols) return null;
    const lx = x - col * (this.cellW + this.gap), ly = y - row * (this.cellH + this.gap);
    if (lx >= this.cellW || ly >= this.cellH) return null;
    const u = row * this.cols + col;
    if (u >= this.count) return null;
    const px = Math.min(this.tileW - 1, Math.floor((lx / this.cellW) * this.tileW));
    const py = Math.min(this.tileH - 1, Math.floor((ly / this.cellH) * this.tileH));
    return { u, px, py };
  }

  _onMove(e) {
    const hit = this._hit(e);
    this._setHover(hit ? hit.u : -1, hit, e);
  }

  _setHover(u, hit, e) {
    if (u !== this.hover) {
      this.hover = u;
      this._drawOverlay();
    }
    if (this.opts.onHover) this.opts.onHover(u, hit ? hit.px : -1, hit ? hit.py : -1);
    if (u >= 0 && e && this.opts.describe) showTooltip(e.clientX, e.clientY, this.opts.describe(u, hit.px, hit.py));
    else hideTooltip();
  }

  _onKey(e) {
    if (!this.count) return;
    let f = this.focus >= 0 ? this.focus : (this.selected >= 0 ? this.selected : 0);
    const pageRows = Math.max(1, Math.floor(this.wrap.clientHeight / (this.cellH + this.gap)) - 1);
    switch (e.key) {
      case "ArrowLeft": f = Math.max(0, f - 1); break;
      case "ArrowRight": f = Math.min(this.count - 1, f + 1); break;
      case "ArrowUp": if (f - this.cols >= 0) f -= this.cols; break;
      case "ArrowDown": if (f + this.cols < this.count) f += this.cols; break;
      case "Home": f = 0; break;
      case "End": f = this.count - 1; break;
      case "PageUp": f = Math.max(0, f - pageRows * this.cols); break;
      case "PageDown": f = Math.min(this.count - 1, f + pageRows * this.cols); break;
      case "Enter":
      case " ":
        e.preventDefault();
        this.select(f, true);
        return;
      case "Escape":
        hideTooltip();
        return;
      default:
        return;
    }
    e.preventDefault();
    this.focus = f;
    this._scrollIntoView(f);
    this._drawOverlay();
    if (this.opts.onHover) this.opts.onHover(f, -1, -1);
    if (this.opts.describe) {
      const r = this.canvas.getBoundingClientRect();
      const [x, y, w, h] = this._tileRect(f);
      showTooltip(r.left + x + w, r.top + y + h, this.opts.describe(f, -1, -1));
    }
  }

  _scrollIntoView(u) {
    const [, y, , h] = this._tileRect(u);
    const top = this.wrap.scrollTop, vh = this.wrap.clientHeight;
    if (y < top) this.wrap.scrollTop = y - 4;
    else if (y + h > top + vh) this.wrap.scrollTop = y + h - vh + 4;
  }

  /** Client-space centre of unit u (for tests and keyboard tooltips). */
  tileCenter(u) {
    const r = this.canvas.getBoundingClientRect();
    const [x, y, w, h] = this._tileRect(u);
    return [r.left + x + w / 2, r.top + y + h / 2];
  }
}
