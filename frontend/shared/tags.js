// What every dashboard does first: load ./tags, say plainly when there is nothing to show, and pick the
// run to open (the deep-linked one when it has data, else the first, with a banner saying why).

import { getJSON, errorText, showError } from "./api.js";
import { el } from "./dom.js";

/** Replaces the page body `content` with a centred title and explanation in `empty` (text only). */
export function showEmpty(empty, content, title, text) {
  empty.replaceChildren(el("div", "nv-empty-title", title), el("div", "", text));
  empty.hidden = false;
  content.hidden = true;
}

/**
 * Loads the tags into app.tags and returns the run to open, or null when there is none.
 *   app: {S: {run}, empty, content, banner, renderRuns()}
 *   what: "RNN traces"; howTo: how to log them (shown when no run has any).
 */
export async function loadRunTags(app, { what, howTo }) {
  try {
    app.tags = await getJSON("tags");
  } catch (e) {
    app.tags = null;
    showEmpty(app.empty, app.content, `Could not load ${what}`, errorText(e));
    return null;
  }
  app.renderRuns();
  const runs = Object.keys(app.tags.runs || {});
  if (!runs.length) {
    showEmpty(app.empty, app.content, `No ${what}`, `No run in this log directory has ${what} yet. ${howTo} This page updates when TensorBoard reloads.`);
    return null;
  }
  if (!app.S.run || !runs.includes(app.S.run)) {
    if (app.S.run) showError(app.banner, `No ${what} for run “${app.S.run}”.`, { kind: "warn" });
    app.S.run = runs[0];
  }
  return app.S.run;
}
