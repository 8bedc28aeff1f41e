// What every dashboard does first: load ./tags, say plainly when there is nothing to show, and pick the
// run to open (the deep-linked one when it has data, else the first, with a banner saying why).

import { getJSON, errorText, showError } from "./api.js";
import { el } from "./dom.js";
import { connectHost, getHostRuns, getUrlState, onDataReloaded, onRunsChanged, primeUrlState } from "./host.js";

/**
 * What every tab does on start: connect to TensorBoard, read its URL state into the app (app.readUrl),
 * and follow the host's run list (app.renderRuns) and data reloads (app.reload).
 */
export async function connectApp(app) {
  connectHost();
  const [urlState, hostRuns] = await Promise.all([getUrlState(), getHostRuns()]);
  app.readUrl(urlState);
  primeUrlState(urlState);
  app.hostRuns = hostRuns;
  onRunsChanged((runs) => { app.hostRuns = runs; app.renderRuns(); });
  onDataReloaded(() => app.reload());
}

/** SideList items for the runs: those with data first, then the host's other runs, faint ("no data").
 *  `unit` names what a run's entries in tags.runs are ("layers", "sets"). */
export function runItems(tags, hostRuns, unit = "layers") {
  const have = Object.keys((tags && tags.runs) || {});
  const host = Array.isArray(hostRuns) ? hostRuns.filter((r) => !have.includes(r)) : [];
  return [...have, ...host].map((r) => ({ key: r, name: r, faint: !have.includes(r),
    meta: have.includes(r) ? `${Object.keys(tags.runs[r]).length} ${unit}` : "no data" }));
}

/** True when a run's probe inputs (`probeInputs`, from the Activations tags' probe_inputs) were written after
 *  the step `stepInfo` ({step, wall_time}) of a layer: the run was restarted under the same name with other
 *  probes, so they are not the inputs that step's maps were computed on.
 *  probesNewerThan({count: 2, wall_time: 2000}, {step: 4, wall_time: 1004}) === true */
export function probesNewerThan(probeInputs, stepInfo) {
  return !!(probeInputs && probeInputs.wall_time && stepInfo && stepInfo.wall_time < probeInputs.wall_time - 2); // a restart takes longer
}

/** After TensorBoard reloaded its data: fresh tags into app.tags and the run list redrawn. Returns false
 *  when the tags could not be read (the page keeps what it shows). */
export async function refreshTags(app) {
  if (!app.tags) { await app.loadTags(); return false; }
  try { app.tags = await getJSON("tags"); } catch (_) { return false; }
  app.renderRuns();
  return true;
}

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

/**
 * Load the steps of app.S.layer of app.S.run into app.steps and app.slider, and choose app.S.step: the
 * latest on a first load or when the latest was shown before a reload; a step from the URL
 * (app.urlStep) is kept even when it is not loaded, for the caller to say so. Returns false when the
 * request failed (its message is in app.stepMsg) or a newer layer was chosen meanwhile.
 */
export async function loadLayerSteps(app, isReload) {
  const t = ++app.tok.layer;
  let d;
  try {
    d = await getJSON("steps", { run: app.S.run, layer: app.S.layer });
  } catch (e) {
    if (t === app.tok.layer) showError(app.stepMsg, e, { title: "Could not load steps" });
    return false;
  }
  if (t !== app.tok.layer) return false;
  const prev = app.steps;
  app.steps = d.steps.map((s) => s.step);
  app.slider.setSteps(app.steps, { sampleLimit: d.sample_limit, hint: d.hint || "" });
  const last = app.steps[app.steps.length - 1];
  const wasLatest = isReload && prev.length && app.S.step === prev[prev.length - 1];
  if (wasLatest || app.S.step === null || (!app.steps.includes(app.S.step) && !app.urlStep)) app.S.step = last;
  app.urlStep = false;
  return true;
}
