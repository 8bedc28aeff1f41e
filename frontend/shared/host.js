// Guest side of TensorBoard's iframe plugin host protocol, plus URL state for deep links.
//
// Protocol (tensorboard/components/experimental/plugin_lib, host in webapp/plugins/plugin_api_host):
//   guest -> parent: window.parent.postMessage("experimental.bootstrap", "*", [port2])
//   then both sides exchange JSON strings over the MessagePort:
//     {type, id, payload, error, isReply}
//   requests from the guest:   "experimental.GetRuns"          -> [run names]
//                              "experimental.GetURLPluginData" -> {key: value} of the host URL hash
//                                                                 keys "p.<plugin>.<key>"
//   broadcasts from the host:  "experimental.RunsChanged" (payload: [run names])
//                              "experimental.DataReloaded"
//   Every request is answered with a message of the same type and id, isReply: true.
//
// The protocol has no setter for URL data, so deep links are written with the host's own URL store
// (window.parent.tensorboard.tf_storage, reachable because the iframe is same-origin) when it exists,
// and always mirrored into this frame's own location.hash. Standalone (no host), everything works
// from location.hash / the query string.

const VERSION = "experimental";

class GuestIPC {
  constructor(port) {
    this.port = port;
    this.nextId = 0;
    this.waits = new Map();
    this.listeners = new Map();
    port.addEventListener("message", (e) => this._onMessage(e));
    port.start();
  }
  listen(type, cb) { this.listeners.set(type, cb); }
  _post(msg) { this.port.postMessage(JSON.stringify(msg)); }
  async _onMessage(event) {
    let msg;
    try { msg = typeof event.data === "string" ? JSON.parse(event.data) : event.data; } catch (_) { return; }
    if (!msg || typeof msg.type !== "string") return;
    if (msg.isReply) {
      const w = this.waits.get(msg.id);
      if (!w) return;
      this.waits.delete(msg.id);
      clearTimeout(w.timer);
      if (msg.error) w.reject(new Error(String(msg.error)));
      else w.resolve(msg.payload);
      return;
    }
    let payload = null, error = null;
    const cb = this.listeners.get(msg.type);
    if (cb) {
      try { payload = (await cb(msg.payload)) ?? null; } catch (e) { error = String(e && e.message || e); }
    }
    this._post({ type: msg.type, id: msg.id, payload, error, isReply: true });
  }
  send(type, payload = null, timeoutMs = 2000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waits.delete(id);
        reject(new Error(`host did not answer ${type}`));
      }, timeoutMs);
      this.waits.set(id, { resolve, reject, timer });
      this._post({ type, id, payload, error: null, isReply: false });
    });
  }
}

let ipc = null;
let connected = false;
const runsListeners = new Set();
const reloadListeners = new Set();

/** Name of this plugin, from the base URL TensorBoard gives the iframe (".../plugin/NAME/"). */
export function pluginName(fallback = "") {
  const m = /\/plugin\/([^/]+)\/?/.exec(new URL(document.baseURI).pathname);
  return m ? decodeURIComponent(m[1]) : fallback;
}

function inFrame() {
  try { return window.parent && window.parent !== window; } catch (_) { return true; }
}

/** Opens the channel to TensorBoard (idempotent). Returns true when running inside a host frame. */
export function connectHost() {
  if (ipc || !inFrame()) return !!ipc;
  const channel = new MessageChannel();
  ipc = new GuestIPC(channel.port1);
  ipc.listen(`${VERSION}.RunsChanged`, (runs) => {
    connected = true;
    for (const cb of runsListeners) { try { cb(Array.isArray(runs) ? runs : []); } catch (e) { console.error(e); } }
  });
  ipc.listen(`${VERSION}.DataReloaded`, () => {
    connected = true;
    for (const cb of reloadListeners) { try { cb(); } catch (e) { console.error(e); } }
  });
  try {
    window.parent.postMessage(`${VERSION}.bootstrap`, "*", [channel.port2]);
  } catch (_) {
    ipc = null;
    return false;
  }
  return true;
}

/** Whether the host has answered at least one message. */
export function hostConnected() { return connected; }

/** Run names known to the host, or null when there is no host (or it does not answer). */
export async function getHostRuns(timeoutMs = 2000) {
  if (!connectHost()) return null;
  try {
    const runs = await ipc.send(`${VERSION}.GetRuns`, null, timeoutMs);
    connected = true;
    return Array.isArray(runs) ? runs.map(String) : null;
  } catch (_) {
    return null;
  }
}

/** cb(runNames) whenever the host's run list changes. */
export function onRunsChanged(cb) { connectHost(); runsListeners.add(cb); return () => runsListeners.delete(cb); }
/** cb() whenever TensorBoard reloads data (auto-reload or the reload button). */
export function onDataReloaded(cb) { connectHost(); reloadListeners.add(cb); return () => reloadListeners.delete(cb); }

// ---------------------------------------------------------------- URL state

function parseHashLike(s) {
  const out = {};
  s = s.replace(/^[#?]/, "");
  if (!s) return out;
  for (const part of s.split("&")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    try { out[decodeURIComponent(part.slice(0, i))] = decodeURIComponent(part.slice(i + 1)); } catch (_) { /* skip */ }
  }
  return out;
}

function localState() {
  // Own query string first (standalone links like index.html?run=x), then own hash.
  return { ...parseHashLike(location.search), ...parseHashLike(location.hash) };
}

function hostStorage() {
  try {
    const s = window.parent && window.parent !== window && window.parent.tensorboard && window.parent.tensorboard.tf_storage;
    if (s && typeof s.setString === "function") return s;
  } catch (_) { /* cross-origin */ }
  return null;
}

/** "p.<plugin>.<key>" entries of the host page's URL hash, read directly (same-origin, no host round trip),
 * or null. */
export function hostHashState() {
  try {
    if (!window.parent || window.parent === window) return null;
    const hash = window.parent.location.hash; // throws when cross-origin
    const prefix = `p.${pluginName()}.`;
    const out = {};
    for (const [k, v] of Object.entries(parseHashLike(hash))) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
    return out;
  } catch (_) {
    return null;
  }
}

/**
 * URL state for deep links: {run, layer, probe, step, unit, ...} as strings.
 * Standalone: this frame's own query/hash. In TensorBoard: the host's answer to
 * experimental.GetURLPluginData, overridden by the host URL hash itself when it is readable
 * (TensorBoard 2.21 answers GetURLPluginData from a dictionary that is only refreshed on
 * `hashchange`, so on a fresh page load it can be empty).
 */
export async function getUrlState(timeoutMs = 1500) {
  if (!connectHost()) return localState();
  let state = {};
  try {
    const data = await ipc.send(`${VERSION}.GetURLPluginData`, null, timeoutMs);
    connected = true;
    if (data && typeof data === "object") {
      for (const [k, v] of Object.entries(data)) if (typeof v === "string") state[k] = v;
    }
  } catch (_) { /* no host answer */ }
  const direct = hostHashState();
  if (direct) state = { ...state, ...direct };
  // Nothing from the host (e.g. embedded elsewhere): fall back to this frame's own hash.
  if (!Object.keys(state).length) state = parseHashLike(location.hash);
  return state;
}

let lastWritten = {};

/**
 * Writes URL state. `state` maps keys to strings; null/undefined/"" removes a key.
 * In TensorBoard the keys go to the host URL as "p.<plugin>.<key>" (replacing the history entry).
 */
export function setUrlState(state) {
  const clean = {};
  for (const [k, v] of Object.entries(state)) {
    if (v === undefined || v === null || v === "") continue;
    clean[k] = String(v);
  }
  // own hash (standalone deep links, and a copy for tests/debugging)
  const own = new URLSearchParams();
  for (const [k, v] of Object.entries(clean)) own.append(k, v);
  const hash = own.toString();
  try { history.replaceState(history.state, "", `${location.pathname}${location.search}${hash ? "#" + hash : ""}`); } catch (_) { /* ignore */ }

  const storage = hostStorage();
  const name = pluginName();
  if (storage && name) {
    const keys = new Set([...Object.keys(lastWritten), ...Object.keys(clean)]);
    for (const k of keys) {
      const v = clean[k];
      if (lastWritten[k] === v) continue;
      try {
        storage.setString(`p.${name}.${k}`, v === undefined ? "" : v, { defaultValue: "", useLocationReplace: true });
      } catch (_) { /* ignore host storage errors */ }
    }
  }
  lastWritten = clean;
}

/** Seeds the diffing in setUrlState with the state that was read at startup. */
export function primeUrlState(state) {
  lastWritten = {};
  for (const [k, v] of Object.entries(state || {})) if (v !== undefined && v !== null && v !== "") lastWritten[k] = String(v);
}
