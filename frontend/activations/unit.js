// The selected unit: its detail panel (enlarged map, statistics), its top dataset examples, and its
// filmstrip over the loaded steps with Play. The app owns the state; this module owns the requests.

import { getJSON, getImageData, PromiseCache, showError } from "../shared/api.js";
import { DetailPanel } from "./detail.js";
import { layerRange, resolveCmap } from "../shared/atlas.js";
import { UnitHeatmap } from "./unit_heatmap.js";
import { UnitWeights } from "./weights.js";

export class UnitView {
  constructor(parent, app) {
    this.app = app;
    this.unitCache = new PromiseCache(200);
    this.stripCache = new PromiseCache(50);
    this.topCache = new PromiseCache(400);
    this.noTop = new Set(); // JSON([run, layer]) of layers without top examples (the /top 404)
    this.tok = { top: 0, film: 0 };
    this.topReq = null;
    this.filmKey = null;
    this.playTimer = 0;
    this.col = parent;
    this.panel = new DetailPanel(parent, {
      onClose: () => app.selectUnit(-1),
      onStep: (s) => { this.stopPlay(); app.setStep(s); },
      onPlay: (p) => (p ? this.startPlay() : this.stopPlay()),
    });
    this.heatmap = new UnitHeatmap(parent); // LRP heatmap of the unit, when the Relevance tab logged one
    this.weights = new UnitWeights(parent, app); // the unit's incoming weights, when they were logged
    parent.hidden = true;
  }

  /** New data may bring (new) top examples and steps. */
  reset() {
    this.topCache.clear();
    this.unitCache.clear();
    this.stripCache.clear();
    this.noTop.clear();
    this.heatmap.reset();
    this.weights.reset();
    this.topReq = null;
    this.filmKey = null;
  }

  hide() {
    this.stopPlay();
    this.col.hidden = true;
  }

  /** Show unit app.S.unit at the current step; `withFilm` reloads the filmstrip. */
  show(withFilm) {
    const app = this.app, cur = app.cur, S = app.S;
    if (!cur || S.unit < 0 || S.unit >= cur.maps.range.length) return;
    this.col.hidden = false;
    this.panel.show({
      unit: S.unit, img: cur.img, maps: cur.maps, colored: cur.colored,
      layout: cur.maps.layout || (app.layerInfo() || {}).layout, statsRow: app.unitStats(S.unit), dead: app.isDead(S.unit),
    });
    this.loadTop();
    this.heatmap.show(S);
    this.weights.show(S);
    const filmKey = JSON.stringify([S.run, S.layer, S.probe, S.unit, S.cmap]);
    if (withFilm || this.filmKey !== filmKey) this.loadFilm(filmKey);
    else this.panel.markCurrent(S.step);
  }

  /** The dataset examples that drive the selected unit most, at the viewed step (or the latest before it). */
  async loadTop() {
    const { run, layer, unit, step } = this.app.S;
    const layerKey = JSON.stringify([run, layer]);
    const key = JSON.stringify([run, layer, unit, step]);
    if (key === this.topReq) return;
    this.topReq = key;
    const t = ++this.tok.top;
    const info = this.app.layerInfo();
    if ((info && info.top_examples === false) || this.noTop.has(layerKey)) { this.panel.hideTop(); return; }
    let d;
    try {
      d = await this.topCache.get(key, () => getJSON("top", { run, layer, unit, step }));
    } catch (e) {
      if (t !== this.tok.top) return;
      this.topReq = null;
      // 404: this layer has no top examples (the callback ran without `examples=`): no section, no error
      if (e && e.status === 404) { this.noTop.add(layerKey); this.panel.hideTop(); } else this.panel.topError(e);
      return;
    }
    if (t !== this.tok.top) return;
    this.panel.setTop(d, { run, viewStep: step });
  }

  async loadFilm(filmKey) {
    const app = this.app;
    const t = ++this.tok.film;
    this.filmKey = filmKey;
    const { run, layer, probe, unit } = app.S;
    const key = JSON.stringify([run, layer, probe, unit]);
    // Two requests for the whole filmstrip: the unit's range at every step, and its tile at every step in
    // one PNG (the strip), instead of one atlas per step.
    const infoP = this.unitCache.get(key, () => getJSON("unit", { run, layer, probe, unit }));
    const stripP = this.stripCache.get(key, () => getImageData("unit_strip", { run, layer, probe, unit }));
    stripP.catch(() => {}); // reported with the frames below
    let d;
    try {
      d = await infoP;
    } catch (e) {
      if (t !== this.tok.film) return;
      this.panel.film.replaceChildren();
      showError(this.panel.filmMsg, e, { title: "Could not load the unit over training" });
      return;
    }
    if (t !== this.tok.film) return;
    const steps = d.steps || [];
    const [glo] = layerRange(app.cur ? app.cur.maps.range : []);
    const cmapName = resolveCmap(app.S.cmap, Math.min(glo, ...d.range.map((r) => (r && Number.isFinite(r[0]) ? r[0] : 0))));
    const cols = (d.strip && d.strip.cols) || 1;
    const { tile_w: tw, tile_h: th } = d.grid;
    const strip = stripP.then((img) => {
      // a strip of other steps than /unit listed (data reloaded in between) is not used
      if (img.width !== cols * tw || img.height !== Math.ceil(steps.length / cols) * th) throw new Error("strip out of date");
      return img;
    });
    this.panel.setFilm({ steps, ranges: d.range, stripGrid: { cols, tile_w: tw, tile_h: th }, cmapName, current: app.S.step, strip });
  }

  startPlay() {
    const app = this.app;
    if (app.steps.length < 2) return;
    this.stopPlay();
    this.panel.setPlaying(true);
    this.playTimer = setInterval(() => {
      const i = app.steps.indexOf(app.S.step);
      app.setStep(app.steps[(i + 1) % app.steps.length]);
    }, 700);
  }

  stopPlay() {
    if (this.playTimer) clearInterval(this.playTimer);
    this.playTimer = 0;
    this.panel.setPlaying(false);
  }
}
