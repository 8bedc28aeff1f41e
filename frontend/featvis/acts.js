// The Activations tab's view of the open unit, inside the Feature visualization panel: the unit's feature
// maps for every probe input at the Activations step nearest to the one shown (coloured by
// frontend/shared/atlas.js, exactly as the Activations tab colours them: each map on its own scale) and
// its top dataset examples, with links there. Reads the Activations plugin's routes
// (/data/plugin/nnvis_activations/...); all data text goes in with textContent.

import { getJSON, getImageData, PromiseCache, showError, errorText } from "../shared/api.js";
import { unitMapCanvas, statIntervals, valueAt } from "../shared/atlas.js";
import { tabHref } from "../shared/links.js";
import { probesNewerThan } from "../shared/tags.js";
import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";

const ACTS = "nnvis_activations";
const BASE = `../${ACTS}/`;
const MAX_PROBES = 16; // maps shown; the Activations tab has them all
const MAP_PX = 72; // CSS pixels of a map's longer side

/** The loaded step nearest `step` (the earlier one on a tie), or null when there is none.
 *  nearestStep([0, 4, 8], 5) === 4 */
export function nearestStep(steps, step) {
  let best = null;
  for (const s of steps) if (best === null || Math.abs(s - step) < Math.abs(best - step)) best = s;
  return best;
}

export class ActivationsSection {
  constructor(parent) {
    this.el = el("div", "nv-fv-acts");
    parent.append(this.el);
    this.cache = new PromiseCache(300);
    this.tok = 0;
    this.key = null;
  }

  /** New data in the logdir: ask again. */
  reset() { this.cache.clear(); this.key = null; }

  get(route, params, image = false) {
    const key = JSON.stringify([route, params]);
    return this.cache.get(key, () => (image ? getImageData(`${BASE}${route}`, params) : getJSON(`${BASE}${route}`, params)));
  }

  /** Shows unit `unit` of `layer` in `run` near step `step` (nothing is asked again for the same unit and step). */
  async show({ run, layer, unit, step }) {
    const key = JSON.stringify([run, layer, unit, step]);
    if (key === this.key) return;
    this.key = key;
    const t = ++this.tok;
    let head;
    try {
      head = await this.load(run, layer, unit, step);
    } catch (e) {
      if (t === this.tok) { this.key = null; this.render(null, `The Activations tab could not be asked: ${errorText(e)}`); }
      return;
    }
    if (t !== this.tok) return;
    this.render(head.info ? tabHref(ACTS, { run, layer, unit, step: head.step }) : null, head.message);
    if (!head.info) return;
    this.showMaps(head, { run, layer, unit, t });
    this.showTop(head, { run, layer, unit, t });
  }

  /** {info, step, probes, message}: what the Activations tab logged for this run and layer. */
  async load(run, layer, unit, step) {
    const tags = await this.get("tags", {});
    const info = ((tags.runs || {})[run] || {})[layer];
    if (!info) return { info: null, message: `The Activations tab has no maps of layer “${layer}” in run “${run}”.` };
    const steps = (await this.get("steps", { run, layer })).steps;
    const probes = (tags.probe_inputs || {})[run];
    const near = nearestStep(steps.map((s) => s.step), step);
    const stale = probesNewerThan(probes, steps.find((s) => s.step === near));
    return { info, step: near, asked: step, probeImages: !!(probes && probes.count) && !stale, stale, message: "" };
  }

  render(href, message) {
    const head = el("div", "nv-fv-acts-head");
    head.append(el("div", "nv-section-title", "In the Activations tab"));
    if (href) {
      const a = el("a", "nv-fv-link", "Open this unit in Activations ↗");
      a.href = href;
      a.target = "_top";
      head.append(a);
    }
    this.maps = el("div", "nv-fv-maps-sec");
    this.top = el("div", "nv-fv-top-sec");
    this.el.replaceChildren(head, this.maps, this.top);
    if (message) this.el.append(el("div", "nv-faint", message));
  }

  /** The unit's map for each probe input (the first MAX_PROBES), each on its own scale as in the Activations grid. */
  async showMaps(head, { run, layer, unit, t }) {
    if (head.step === null) { this.maps.append(el("div", "nv-faint", "No steps of this layer are loaded in the Activations tab.")); return; }
    const { step } = head;
    const count = Math.min(head.info.probes || 1, MAX_PROBES);
    const title = el("div", "nv-fv-acts-sub");
    title.append(el("span", "nv-section-title", "Feature maps"), el("span", "nv-faint",
      step === head.asked ? ` · step ${step}` : ` · from step ${step}, the nearest to ${head.asked}`));
    const row = el("div", "nv-fv-maps");
    const readout = el("div", "nv-readout nv-mono nv-fv-map-readout");
    const more = head.info.probes > count ? ` (the first ${count} of ${head.info.probes} probes)` : "";
    this.maps.replaceChildren(title, row, readout, el("div", "nv-hint",
      `The unit's map for each probe input${more}, each on its own scale, coloured as in the Activations tab. Hover for the value.`));
    if (head.stale) {
      row.before(el("div", "nv-message nv-warn nv-probe-stale", "This step was written before the run's current probe "
        + "inputs (the run was restarted under the same name): its inputs are not shown."));
    }
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: count }, (_, probe) => Promise.all([
        this.get("maps", { run, layer, step, probe }), this.get("atlas", { run, layer, step, probe }, true)])));
    } catch (e) {
      if (t === this.tok) showError(row, e, { title: "Could not load the unit's feature maps", kind: "warn" });
      return;
    }
    if (t !== this.tok) return;
    answers.forEach(([maps, img], probe) => {
      if (unit >= maps.range.length) return;
      row.append(this.mapFigure({ run, layer, unit, step, probe, maps, img, readout, probeImage: head.probeImages }));
    });
  }

  mapFigure({ run, layer, unit, step, probe, maps, img, readout, probeImage }) {
    const { tile_h: th, tile_w: tw } = maps.grid;
    const fig = el("a", "nv-fv-map");
    fig.href = tabHref(ACTS, { run, layer, unit, probe, step });
    fig.target = "_top";
    fig.dataset.probe = String(probe);
    fig.title = `probe ${probe} in the Activations tab`;
    if (probeImage) {
      const input = el("img", "nv-fv-map-input");
      input.alt = `probe ${probe}`;
      input.src = `${BASE}probe?${new URLSearchParams({ run, index: probe })}`;
      fig.append(input);
    }
    const { canvas } = unitMapCanvas(img, maps, unit, { unitIntervals: statIntervals(maps) });
    const s = Math.max(1, Math.floor(MAP_PX / Math.max(th, tw)));
    canvas.className = "nv-fv-map-canvas";
    canvas.style.width = `${tw * s}px`;
    canvas.style.height = `${th * s}px`;
    canvas.addEventListener("mousemove", (e) => {
      const r = canvas.getBoundingClientRect();
      const x = Math.min(tw - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * tw)));
      const y = Math.min(th - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * th)));
      const v = valueAt(img, maps, unit, y, x);
      if (v) readout.textContent = `probe ${probe} · (${y}, ${x}) · ${fmt(v.value, 5)}`;
    });
    canvas.addEventListener("mouseleave", () => { readout.textContent = ""; });
    fig.append(canvas, el("span", "nv-fv-caption", `probe ${probe}`));
    return fig;
  }

  /** The unit's top dataset examples at the Activations step (or the latest before it). */
  async showTop(head, { run, layer, unit, t }) {
    if (!head.info.top_examples) {
      this.top.append(el("div", "nv-faint", "No top dataset examples were logged for this layer (ActivationsCallback(..., examples=x_val))."));
      return;
    }
    let top;
    try {
      top = await this.get("top", { run, layer, unit, step: head.asked });
    } catch (e) {
      if (t === this.tok) showError(this.top, e, { title: "Could not load the top dataset examples", kind: "warn" });
      return;
    }
    if (t !== this.tok) return;
    if (!top.images) { this.top.append(el("div", "nv-faint", "Top examples were logged without their images.")); return; }
    const row = el("div", "nv-fv-examples");
    for (const ex of top.examples) {
      const fig = el("figure", "nv-fv-example");
      const img = el("img");
      img.src = `${BASE}example?${new URLSearchParams({ run, index: ex.index })}`;
      img.alt = `dataset example ${ex.index}`;
      fig.append(img, el("figcaption", "", fmt(ex.value, 3)));
      fig.title = `example ${ex.index}: peak ${fmt(ex.value)}`;
      row.append(fig);
    }
    this.top.append(el("div", "nv-section-title", "Top dataset examples"), row,
      el("div", "nv-hint", "The dataset examples that excite this unit most (its peak response)."));
  }
}
