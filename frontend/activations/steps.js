// The grid's step: its /maps and /atlas fetched together and cached, scrubbing that asks only for the
// latest selection, and the neighbouring steps fetched ahead. The caches are the module's own, so that the
// first step fetched by boot.js, while the rest of the dashboard's modules load, is the app's too.

import { getJSON, getImageData, PromiseCache, showError } from "../shared/api.js";

const NO_SOURCE = { source: null, count: 0, tileW: 1, tileH: 1, srcCols: 1, cellW: 1, cellH: 1 };
const mapsCache = new PromiseCache(600);
const atlasCache = new PromiseCache(600);

/** The step's [maps, atlas] promises, fetched once per run, layer, step and probe. */
export function fetchStep(run, layer, step, probe) {
  const key = JSON.stringify([run, layer, step, probe]);
  return [mapsCache.get(key, () => getJSON("maps", { run, layer, step, probe })),
    atlasCache.get(key, () => getImageData("atlas", { run, layer, step, probe }))];
}

/** Loads and draws the app's selected step (app.S.step) into its layer view. */
export class StepLoader {
  constructor(app) {
    this.app = app;
    this.tok = 0;
    this.busy = false;
    this.pending = false;
  }

  fetch(step, probe = this.app.S.probe) {
    return fetchStep(this.app.S.run, this.app.S.layer, step, probe);
  }

  /** Loads the selected step. While a load is in flight only the latest selection is loaded after it, so
   * that scrubbing through a long series never queues a request per step it passes over. */
  request() {
    if (this.busy) { this.pending = true; return; }
    this.busy = true;
    this.load().finally(() => {
      this.busy = false;
      if (!this.pending) return;
      this.pending = false;
      const { cur, S } = this.app;
      if (!cur || cur.step !== S.step) this.request();
    });
  }

  /** Loads and draws the step app.S.step; the promise has the step it loads as `.step`. */
  load() {
    const step = this.app.S.step;
    const p = this._load(step);
    p.step = step;
    return p;
  }

  async _load(step) {
    const t = ++this.tok;
    const app = this.app, view = app.layerView;
    if (step === null || step === undefined) return;
    view.loading(true);
    let maps, img;
    try {
      [maps, img] = await Promise.all(this.fetch(step));
    } catch (e) {
      if (t !== this.tok) return;
      view.loading(false);
      app.cur = null;
      view.legendCard.hidden = true;
      showError(view.gridMsg, e, { title: `Could not load step ${step}` });
      app.grid.setSource(NO_SOURCE);
      app.unit.col.hidden = true;
      return;
    }
    if (t !== this.tok) return;
    view.loading(false);
    view.gridMsg.replaceChildren();
    app.cur = { maps, img, step };
    view.legendCard.hidden = false;
    app.updateProbeCard();
    app.recolor();
    app.overview.setCursor(app.S.unit, step);
    if (app.S.unit >= maps.range.length) app.S.unit = -1;
    this.prefetchNeighbours();
  }

  prefetchNeighbours() {
    const { steps, S } = this.app;
    const i = steps.indexOf(S.step);
    if (i < 0) return;
    for (const j of [i + 1, i - 1]) {
      if (j >= 0 && j < steps.length) for (const p of this.fetch(steps[j])) p.catch(() => {});
    }
  }

  /** Shows a failure to list the layer's steps in the grid. */
  fail(e, title) {
    showError(this.app.layerView.gridMsg, e, { title });
    this.app.grid.setSource(NO_SOURCE);
  }
}
