// The Activations tab's URL state: the keys other tabs deep-link with (#nnvis_activations&p.nnvis_activations.run=…
// &layer=…&unit=…&probe=…&step=…; see frontend/shared/links.js), and the display options worth sharing.

// No imports: boot.js reads the URL state with this before the rest of the dashboard has loaded.

/** The URL state of the app state `s` (defaults and unset values left out). */
export function urlState(s) {
  return {
    run: s.run, layer: s.layer, probe: s.run ? s.probe : null, step: s.step,
    unit: s.unit >= 0 ? s.unit : null,
    scale: s.scale !== "unit" ? s.scale : null,
    cmap: s.cmap !== "auto" ? s.cmap : null,
  };
}

/** Read URL state `u` into the app state `s`, ignoring malformed values and colour maps not in `colormaps`;
 * true when it named a step. */
export function readUrlState(s, u, colormaps = {}) {
  let step = false;
  if (u.run) s.run = u.run;
  if (u.layer) s.layer = u.layer;
  if (u.probe !== undefined && /^\d+$/.test(u.probe)) s.probe = Number(u.probe);
  if (u.step !== undefined && /^-?\d+$/.test(u.step)) { s.step = Number(u.step); step = true; }
  if (u.unit !== undefined && /^\d+$/.test(u.unit)) s.unit = Number(u.unit);
  if (u.scale === "layer" || u.scale === "unit") s.scale = u.scale;
  if (u.cmap && (u.cmap === "auto" || Object.hasOwn(colormaps, u.cmap))) s.cmap = u.cmap;
  return step;
}
