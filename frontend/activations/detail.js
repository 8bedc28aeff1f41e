// Unit detail panel: the unit enlarged, the exact value under the cursor, its statistics at this step,
// the dataset examples that drive the unit most (with where its maximum is), and a filmstrip of the unit
// at every loaded step (click to jump, play to animate).

import { fmt, fmtPct } from "../shared/format.js";
import { apiUrl, showError } from "../shared/api.js";
import { valueAt, peakOf, unitTileCanvas, FLAG_NAN, FLAG_POSINF, FLAG_NEGINF } from "../shared/atlas.js";
import { COLORMAPS } from "../shared/colormap.js";
import { el } from "../shared/dom.js";
import { showCrop } from "./crops.js";

export class DetailPanel {
  /** callbacks: {onClose(), onStep(step), onPlay(playing)} */
  constructor(parent, callbacks) {
    this.cb = callbacks;
    this.el = el("div", "nv-card nv-detail");
    this.el.setAttribute("aria-label", "Unit detail");
    const head = el("div", "nv-card-title");
    this.title = el("span", "nv-detail-title", "Unit");
    this.badge = el("span", "nv-badge");
    this.sub = el("span", "nv-sub");
    const spacer = el("span");
    spacer.style.flex = "1";
    this.close = el("button", "nv-btn nv-icon", "×");
    this.close.type = "button";
    this.close.title = "Close";
    this.close.setAttribute("aria-label", "Close unit detail");
    this.close.addEventListener("click", () => this.cb.onClose && this.cb.onClose());
    head.append(this.title, this.badge, this.sub, spacer, this.close);

    this.bigWrap = el("div", "nv-big-wrap");
    this.big = el("canvas", "nv-big nv-pixelated");
    this.big.setAttribute("aria-label", "Enlarged unit map");
    this.bigWrap.appendChild(this.big);
    this.readout = el("div", "nv-readout nv-mono");
    this.readout.setAttribute("aria-live", "polite");
    this.pos = el("div", "nv-readout-pos nv-faint");

    this.stats = el("table", "nv-stats");

    // top dataset examples (hidden when the layer has none)
    this.top = el("div", "nv-top");
    this.top.hidden = true;
    this.top.setAttribute("aria-label", "Top dataset examples");
    const topHead = el("div", "nv-top-head");
    this.topStep = el("span", "nv-faint nv-top-step");
    topHead.append(el("span", "nv-section-title", "Top dataset examples"), this.topStep);
    this.topList = el("div", "nv-top-list");
    this.topMsg = el("div", "nv-top-msg");
    this.topHint = el("div", "nv-hint");
    this.top.append(topHead, this.topList, this.topMsg, this.topHint);

    const filmHead = el("div", "nv-film-head");
    this.play = el("button", "nv-btn", "▶ Play");
    this.play.type = "button";
    this.play.setAttribute("aria-label", "Play through steps");
    this.play.addEventListener("click", () => this.cb.onPlay && this.cb.onPlay(!this.playing));
    this.filmNote = el("span", "nv-faint");
    filmHead.append(el("span", "nv-section-title", "Over training"), this.play, this.filmNote);
    this.film = el("div", "nv-film");
    this.filmMsg = el("div", "nv-faint");

    this.el.append(head, this.bigWrap, this.readout, this.pos, this.stats, this.top, filmHead, this.film, this.filmMsg);
    if (parent) parent.appendChild(this.el);

    this.big.addEventListener("mousemove", (e) => this._hover(e));
    this.big.addEventListener("mouseleave", () => this._showAt(this.peak, true));
    this.playing = false;
    this.ctx = null;
  }

  setPlaying(p) {
    this.playing = p;
    this.play.textContent = p ? "❚❚ Pause" : "▶ Play";
    this.play.setAttribute("aria-pressed", String(p));
  }

  /**
   * ctx: {unit, img (decoded atlas ImageData), maps, colored (canvas of the coloured atlas),
   *       layout, statsRow: {field: value}, dead}
   */
  show(ctx) {
    this.ctx = ctx;
    const { unit, maps, img, colored, layout } = ctx;
    const { tile_h: th, tile_w: tw, cols } = maps.grid;
    this.title.textContent = `Unit ${unit}`;
    this.sub.textContent = `step ${maps.step} · probe ${maps.probe}`;
    const dead = ctx.dead;
    this.badge.textContent = dead ? "dead" : "alive";
    this.badge.className = `nv-badge ${dead ? "nv-deadb" : "nv-alive"}`;
    this.badge.title = dead ? "max ≤ 0 over all probes and positions at this step" : "fires for some probe at this step";

    // enlarged view: nearest-neighbour upscale of the coloured tile
    const maxW = Math.max(160, Math.min(320, this.el.clientWidth - 24 || 300));
    let s = Math.max(1, Math.floor(Math.min(maxW / tw, 240 / th)));
    let W = tw * s, H = th * s;
    if (layout === "sequence" || th === 1) { W = Math.min(maxW, Math.max(tw, maxW)); H = 48; }
    if (layout === "dense" || (th === 1 && tw === 1)) { W = H = 96; }
    this.big.width = W; this.big.height = H;
    this.big.style.width = `${W}px`; this.big.style.height = `${H}px`;
    const g = this.big.getContext("2d");
    g.imageSmoothingEnabled = false;
    g.clearRect(0, 0, W, H);
    if (colored) g.drawImage(colored, (unit % cols) * tw, Math.floor(unit / cols) * th, tw, th, 0, 0, W, H);
    this.peak = img ? peakOf(img, maps, unit) : [0, 0];
    this._showAt(this.peak, true);

    // stats
    this.stats.replaceChildren();
    const r = ctx.statsRow || {};
    const rows = [
      ["mean", fmt(r.mean)], ["std", fmt(r.std)], ["min", fmt(r.min)], ["max", fmt(r.max)],
      ["fraction active", r.frac_active === undefined ? "–" : fmtPct(r.frac_active)],
      ["non-finite values", r.nonfinite === undefined ? "–" : String(r.nonfinite)],
      ["map size", `${th}×${tw}`],
    ];
    for (const [k, v] of rows) {
      const tr = el("tr");
      tr.append(el("th", "", k), el("td", "", v));
      this.stats.appendChild(tr);
    }
  }

  /** Hides the top-examples section (layer without top examples, or nothing selected). */
  hideTop() {
    this.top.hidden = true;
    this.topKey = null;
    this.topList.replaceChildren();
    this.topMsg.replaceChildren();
  }

  /** A failed /top request other than "this layer has none": the message in the section. */
  topError(err) {
    this.top.hidden = false;
    this.topKey = null;
    this.topStep.textContent = "";
    this.topHint.textContent = "";
    this.topList.replaceChildren();
    showError(this.topMsg, err, { title: "Could not load the top dataset examples" });
  }

  /**
   * data: the /top answer {step, unit, examples: [{value, index, y, x}], map_shape: [H, W], images};
   * run: for the example image URLs; viewStep: the step the dashboard shows.
   */
  setTop(data, { run, viewStep }) {
    this.top.hidden = false;
    this.topMsg.replaceChildren();
    const used = data.step;
    this.top.dataset.unit = String(data.unit);
    this.top.dataset.step = String(used);
    this.topStep.textContent = used === viewStep ? `· step ${used}` : `· from step ${used}`;
    this.topStep.title = used === viewStep ? "" : `Top examples are written per epoch; step ${viewStep} has none, these are from step ${used}.`;
    const examples = data.examples || [];
    const [H, W] = data.map_shape && data.map_shape.length === 2 ? data.map_shape : [1, 1];
    const marked = data.images && H * W > 1;
    const key = JSON.stringify([run, data.unit, used, examples, H, W, data.images]);
    if (key === this.topKey) return;
    this.topKey = key;
    this.topList.replaceChildren();
    if (!examples.length) {
      this.topHint.textContent = "";
      showError(this.topMsg, "No examples recorded for this unit.", { kind: "warn" });
      return;
    }
    examples.forEach((ex, rank) => {
      const where = H * W > 1 ? ` · peak at y = ${ex.y}, x = ${ex.x}` : "";
      const item = el("div", "nv-top-ex");
      item.title = `#${ex.index} · value ${fmt(ex.value, 5)}${where}`;
      item.dataset.index = String(ex.index);
      const box = el("div", "nv-top-img");
      if (data.images) {
        const img = el("img", "nv-pixelated");
        img.alt = `dataset example ${ex.index} (rank ${rank + 1})`;
        img.draggable = false;
        box.classList.add("nv-loading");
        img.addEventListener("load", () => box.classList.remove("nv-loading"));
        img.addEventListener("error", () => { img.remove(); box.classList.remove("nv-loading"); box.classList.add("nv-noimg"); box.textContent = `#${ex.index}`; });
        img.src = apiUrl("example", { run, index: ex.index });
        box.appendChild(img);
        showCrop(box, img, ex.crop); // the receptive field at the peak, when known
        if (marked) {
          const m = el("span", "nv-top-mark");
          m.style.left = `${((ex.x + 0.5) / W) * 100}%`;
          m.style.top = `${((ex.y + 0.5) / H) * 100}%`;
          box.appendChild(m);
        }
      } else {
        box.classList.add("nv-noimg");
        box.textContent = `#${ex.index}`;
      }
      const lab = el("span", "nv-top-value nv-mono", fmt(ex.value));
      item.append(box, lab);
      this.topList.appendChild(item);
    });
    const cropped = data.images && examples.some((ex) => Array.isArray(ex.crop) && ex.crop.length);
    this.topHint.textContent = cropped ? "The inputs that excite this unit most, cropped to its receptive field at the peak (hover: the whole image)."
      : marked ? "The inputs that excite this unit most; the ring marks where in the map its maximum is."
        : "The inputs that excite this unit most.";
  }

  _hover(e) {
    if (!this.ctx) return;
    const { maps } = this.ctx;
    const { tile_h: th, tile_w: tw } = maps.grid;
    const r = this.big.getBoundingClientRect();
    const x = Math.min(tw - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * tw)));
    const y = Math.min(th - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * th)));
    this._showAt([y, x], false);
  }

  _showAt(p, isPeak) {
    if (!this.ctx || !p || !this.ctx.img) { this.readout.textContent = ""; this.pos.textContent = ""; return; }
    const { img, maps, unit, layout } = this.ctx;
    const [y, x] = p;
    const v = valueAt(img, maps, unit, y, x);
    if (!v) { this.readout.textContent = ""; return; }
    let text;
    if (v.flag === FLAG_NAN) text = "NaN";
    else if (v.flag === FLAG_POSINF) text = "+Inf";
    else if (v.flag === FLAG_NEGINF) text = "−Inf";
    else text = v.halfStep > 0 ? `${fmt(v.value, 5)} ± ${fmt(v.halfStep, 2)}` : fmt(v.value, 5);
    this.readout.textContent = text;
    this.readout.dataset.value = String(v.value);
    let where;
    if (layout === "dense" || (maps.grid.tile_h === 1 && maps.grid.tile_w === 1)) where = "value";
    else if (layout === "sequence" || maps.grid.tile_h === 1) where = `t = ${x}`;
    else where = `y = ${y}, x = ${x}`;
    const note = v.flag === 0 && v.halfStep > 0 ? " (± half a quantisation step)" : "";
    this.pos.textContent = `${isPeak && where !== "value" ? "peak at " : ""}${where}${note}${isPeak && where !== "value" ? " · hover to read other positions" : ""}`;
  }

  /**
   * Filmstrip: the unit at every loaded step (`steps`, `ranges`), drawn from `strip`, a promise of the
   * /unit_strip image whose tile i (row-major in `stripGrid.cols` columns) is step i.
   * Colours use one interval for all steps (the unit's min/max over the loaded steps).
   */
  setFilm({ steps, ranges, stripGrid, cmapName, current, strip }) {
    const gen = (this.filmGen = (this.filmGen || 0) + 1);
    this.film.replaceChildren();
    delete this.film.dataset.drawn;
    this.filmMsg.textContent = "";
    if (!steps || !steps.length) { this.filmMsg.textContent = "No other steps loaded."; return; }
    let a = Infinity, b = -Infinity;
    for (const r of ranges) {
      if (!r) continue;
      for (const v of r) if (Number.isFinite(v)) { a = Math.min(a, v); b = Math.max(b, v); }
    }
    if (a === Infinity) { a = 0; b = 0; }
    if (COLORMAPS[cmapName] && COLORMAPS[cmapName].diverging) { const m = Math.max(Math.abs(a), Math.abs(b)); a = -m; b = m; }
    this.filmNote.textContent = `same colour scale at every step: ${fmt(a, 3)} … ${fmt(b, 3)}`;
    const { tile_h: th, tile_w: tw } = stripGrid;
    const size = 52;
    let s = Math.max(1, Math.floor(size / Math.max(th, tw)));
    let W = tw * s, H = th * s;
    if (th === 1 && tw > 1) { W = Math.min(120, Math.max(tw, 60)); H = 14; }
    if (th === 1 && tw === 1) { W = H = 28; }
    const draws = [];
    steps.forEach((step, i) => {
      const b2 = el("button", "nv-frame");
      b2.type = "button";
      b2.title = `step ${step}`;
      b2.setAttribute("aria-label", `Show step ${step}`);
      if (step === current) b2.setAttribute("aria-current", "true");
      const c = el("canvas", "nv-pixelated");
      c.width = W; c.height = H;
      c.style.width = `${W}px`; c.style.height = `${H}px`;
      const lab = el("span", "nv-frame-label", String(step));
      b2.append(c, lab);
      b2.addEventListener("click", () => this.cb.onStep && this.cb.onStep(step));
      this.film.appendChild(b2);
      draws.push((img) => {
        const tile = unitTileCanvas(img, stripGrid, i, ranges[i], cmapName, a, b);
        const g = c.getContext("2d");
        g.imageSmoothingEnabled = false;
        g.drawImage(tile, 0, 0, W, H);
      });
    });
    strip.then((img) => {
      if (gen !== this.filmGen) return; // a newer filmstrip replaced this one
      draws.forEach((draw) => draw(img));
      this.film.dataset.drawn = String(draws.length);
    }, (e) => {
      if (gen !== this.filmGen) return;
      for (const f of this.film.querySelectorAll(".nv-frame")) f.classList.add("nv-missing");
      showError(this.filmMsg, e, { title: "Could not load the unit's maps over training", kind: "warn" });
    });
    const cur = this.film.querySelector("[aria-current]");
    if (cur) this._reveal(cur);
  }

  /** Scrolls the filmstrip (only it, never the page) so that frame `b` is visible. */
  _reveal(b) {
    const f = this.film, fr = f.getBoundingClientRect(), br = b.getBoundingClientRect();
    if (br.left < fr.left) f.scrollLeft += br.left - fr.left - 4;
    else if (br.right > fr.right) f.scrollLeft += br.right - fr.right + 4;
  }

  markCurrent(step) {
    for (const b of this.film.querySelectorAll(".nv-frame")) {
      if (b.title === `step ${step}`) {
        b.setAttribute("aria-current", "true");
        this._reveal(b);
      } else b.removeAttribute("aria-current");
    }
  }
}
