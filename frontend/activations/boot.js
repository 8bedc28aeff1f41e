// What the first grid needs, asked for while the rest of the dashboard's modules load (index.js starts it):
// the URL state, the host's runs and /tags, then the first step's /maps and /atlas for the view the app
// opens with. The app awaits the same promise and picks its view with the same functions, so the first grid
// waits for the slower of the modules and the data, not for one after the other. Its imports import nothing,
// so that it runs as soon as its own five files are in.

import { getJSON } from "../shared/api.js";
import { connectHost, getHostRuns, getUrlState, hostHashState } from "../shared/host.js";
import { readUrlState } from "./url.js";
import { fetchStep } from "./steps.js";

/** Runs with data first (host order), then the host's other runs (no activations; shown faint). */
export function runNames(tags, hostRuns) {
  const have = Object.keys((tags && tags.runs) || {});
  if (!Array.isArray(hostRuns) || !hostRuns.length) return have;
  const inHost = hostRuns.filter((r) => have.includes(r));
  const hostOnly = hostRuns.filter((r) => !have.includes(r));
  return [...inHost, ...have.filter((r) => !inHost.includes(r) && !hostOnly.includes(r)), ...hostOnly];
}

/** The run to open: the one asked for when it has data, else the first with data. */
export function pickRun(run, tags, runs) {
  return run && runs.includes(run) ? run : runs.find((r) => tags.runs[r]) || Object.keys(tags.runs)[0];
}

/** The layer to open in a run's `layers`: the one asked for when it has data, else the first. */
export function pickLayer(layer, layers) {
  return layer && layers[layer] ? layer : Object.keys(layers)[0];
}

/** The step the first grid shows before /steps answers: the latest (from /tags), or the one asked for. */
export function firstStep(step, last, fromUrl) {
  const guess = step === null || step === undefined ? last : fromUrl || step === last ? step : null;
  return Number.isInteger(guess) ? guess : null;
}

let started = null;

/** {urlState, hostRuns, tags: Promise, partial: whether tags holds one run only}, started once per page;
 * fetches the first step as a side effect. */
export function boot() {
  if (!started) started = start();
  return started;
}

async function start() {
  connectHost();
  // /tags of the run the page opens with alone (the app asks for the full list once the first grid is drawn):
  // on a logdir of many runs the server lists one run's series instead of all, and TensorBoard's Python loader
  // walks every step of every series it lists. The run the host page's own URL names is known at once (index.js
  // preloaded the same URL); else the host's first run, which the app opens when it has data.
  const direct = hostHashState();
  const named = direct && direct.run ? direct.run : null;
  const host = Promise.all([getUrlState(), getHostRuns()]);
  const opening = named ? Promise.resolve(named) : host.then(([u, runs]) => (u && u.run) || (runs && runs[0]) || null);
  const tags = opening.then((run) => getJSON("tags", run ? { run } : {}));
  tags.catch(() => {}); // the app shows the error
  // The first step is asked for as soon as /tags answers: at once when the host page's own URL names the run
  // (the host, busy drawing its page, can take tens of milliseconds to answer), else with the host's answers.
  const view = named ? [direct, null] : host;
  Promise.all([tags, view]).then(([t, [urlState, hostRuns]]) => prefetch(t, urlState, hostRuns), () => {});
  const [urlState, hostRuns] = await host;
  return { urlState, hostRuns, tags, partial: !!(await opening) };
}

function prefetch(tags, urlState, hostRuns) {
  if (!tags || !tags.runs || !Object.keys(tags.runs).length) return;
  const S = { run: null, layer: null, probe: 0, step: null };
  const fromUrl = readUrlState(S, urlState);
  const run = pickRun(S.run, tags, runNames(tags, hostRuns));
  const layers = tags.runs[run];
  if (!layers || !Object.keys(layers).length) return;
  const layer = pickLayer(S.layer, layers);
  const info = layers[layer];
  const step = firstStep(S.step, info.last_step, fromUrl);
  const pi = (tags.probe_inputs || {})[run];
  const probes = info.probes || (pi && pi.count) || 1;
  if (step !== null) for (const p of fetchStep(run, layer, step, S.probe < probes ? S.probe : 0)) p.catch(() => {});
}
