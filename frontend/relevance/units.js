// The units that carry the decision: for the probe, target and composite, the units of each logged layer
// ranked by their relevance (summed over positions). A click opens the unit in the Activations tab (same
// run, layer, unit and probe) when that tab has the layer's maps.

import { getJSON, PromiseCache, showError } from "../shared/api.js";
import { el, option } from "../shared/dom.js";
import { fmt } from "../shared/format.js";
import { divergingRgb } from "../shared/heatmap.js";
import { openTab, tabHref } from "../shared/links.js";
import { targetColumn, className } from "./scores.js";

const ACTIVATIONS = "nnvis_activations";

export class UnitsView {
  constructor(host, app) {
    this.host = host;
    this.app = app;
    this.cache = new PromiseCache(300);
    this.actTags = null;
    this.tok = 0;
  }

  layers() {
    const info = this.app.cur.info;
    return (info.units || {})[this.app.S.composite] || [];
  }

  /** The Activations tab's layers per run (null when that tab has no data or is not installed). */
  async activationTags() {
    if (!this.actTags) this.actTags = getJSON(`../${ACTIVATIONS}/tags`).then((t) => t.runs || {}, () => ({}));
    return this.actTags;
  }

  async render() {
    const t = ++this.tok;
    const { S } = this.app;
    const layers = this.layers();
    if (!layers.length) { this.host.replaceChildren(); return; }
    if (!layers.includes(S.layer)) S.layer = layers[0];
    const card = el("div", "nv-card nv-units-card");
    const title = el("div", "nv-card-title");
    const sel = el("select", "nv-select nv-units-layer");
    sel.setAttribute("aria-label", "Layer");
    sel.append(...layers.map((l) => option(l, l)));
    sel.value = S.layer;
    sel.addEventListener("change", () => this.app.setOption("layer", sel.value));
    title.append(el("span", "", "Units that carry the decision"), sel);
    const body = el("div", "nv-units-body");
    card.append(title, body);
    const { run, name, composite, step, probe, layer } = S;
    let units, act;
    try {
      [units, act] = await Promise.all([
        this.cache.get(JSON.stringify([run, name, composite, layer, step, probe]), () => getJSON("units", { run, name, composite, layer, step, probe })),
        this.activationTags(),
      ]);
    } catch (e) {
      if (t !== this.tok) return;
      showError(body, e, { title: "Could not load the unit relevance" });
      this.host.replaceChildren(card);
      return;
    }
    if (t !== this.tok) return;
    const data = this.app.cur.data[composite];
    const cls = targetColumn(data, probe, S.target).cls;
    const col = units.targets.indexOf(cls);
    if (col < 0) {
      showError(body, `No unit relevance for ${className(data, cls)} at step ${step}.`, { kind: "warn" });
      this.host.replaceChildren(card);
      return;
    }
    const values = units.values[col];
    const linkable = !!(act[run] && act[run][layer]);
    body.append(el("div", "nv-hint", `${layer}: ${values.length} units ranked by relevance for ${className(data, cls)} (summed over positions) · ` +
      (linkable ? "click a unit to open it in the Activations tab." : "log this layer with ActivationsCallback to open its units there.")));
    body.append(this.ranking(values, linkable));
    this.host.replaceChildren(card);
  }

  ranking(values, linkable) {
    const { S } = this.app;
    const finite = values.filter(Number.isFinite);
    const total = finite.reduce((a, b) => a + b, 0);
    const m = Math.max(1e-30, ...finite.map(Math.abs));
    const order = values.map((_, u) => u).sort((a, b) => (Number.isFinite(values[b]) ? values[b] : -Infinity) - (Number.isFinite(values[a]) ? values[a] : -Infinity) || a - b);
    const list = el("ol", "nv-unit-ranking");
    for (const u of order) {
      const v = values[u];
      const li = el("li", "nv-unit-row");
      const btn = el(linkable ? "a" : "span", "nv-unit-name", `unit ${u}`);
      if (linkable) {
        const state = { run: S.run, layer: S.layer, unit: u, probe: S.probe };
        btn.href = tabHref(ACTIVATIONS, state);
        btn.dataset.unit = String(u);
        btn.title = `Open unit ${u} of ${S.layer} in the Activations tab`;
        btn.addEventListener("click", (e) => { e.preventDefault(); openTab(ACTIVATIONS, state); });
      }
      const bar = el("span", "nv-unit-bar");
      const fill = el("span", "nv-unit-fill");
      const rgb = divergingRgb(v, m) || [128, 128, 128];
      fill.style.width = `${Number.isFinite(v) ? (Math.abs(v) / m) * 100 : 0}%`;
      fill.style.background = `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
      bar.append(fill);
      const share = Number.isFinite(v) && total ? ` (${((v / total) * 100).toFixed(1)}%)` : "";
      li.append(btn, bar, el("span", "nv-mono nv-unit-value", `${fmt(v)}${share}`));
      list.append(li);
    }
    return list;
  }
}
