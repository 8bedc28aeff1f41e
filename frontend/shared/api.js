// Fetch wrapper shared by every tb_nnvis dashboard.
//
// * Routes are relative to the plugin's base URL (TensorBoard's plugin_entry.html sets
//   <base href="plugin/NAME/">), so `--path_prefix` works.
// * Query parameters are always encoded with URLSearchParams.
// * Backend errors ({"error": "..."} with 4xx/5xx) become ApiError with that message;
//   `showError()` turns any error into a visible message in the page (never a stack trace).
// * Non-finite numbers arrive as the strings "NaN", "Infinity", "-Infinity" and are decoded to JS numbers.

const NONFINITE = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
// Keys whose string values are real strings, never encoded numbers.
const STRING_KEYS = new Set(["error", "hint", "layout", "name", "run", "layer", "message", "dtype", "tag"]);
// Keys of (nested) arrays of words and names: a word "NaN" or "Infinity" in a text stays a word.
const WORD_KEYS = new Set(["tokens", "class_names", "vocabulary", "matched_tokens"]);
const SPELLING = (v) => (Number.isNaN(v) ? "NaN" : v === Infinity ? "Infinity" : v === -Infinity ? "-Infinity" : v);
const respell = (v) => (Array.isArray(v) ? v.map(respell) : typeof v === "number" ? SPELLING(v) : v);

export class ApiError extends Error {
  constructor(message, status = 0, route = "") {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.route = route;
  }
}

/** Builds a relative URL for a plugin route: apiUrl("maps", {run: "a b"}) -> "./maps?run=a+b". */
export function apiUrl(route, params = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    qs.append(k, String(v));
  }
  const q = qs.toString();
  return `./${route}${q ? "?" + q : ""}`;
}

/** JSON.parse reviver: turns "NaN"/"Infinity"/"-Infinity" back into numbers. */
export function decodeNonFinite(key, value) {
  if (typeof value === "string" && Object.prototype.hasOwnProperty.call(NONFINITE, value) && !STRING_KEYS.has(key)) {
    return NONFINITE[value];
  }
  // The reviver sees an array's items (keyed by index) before the array: undo what it did to words.
  if (Array.isArray(value) && WORD_KEYS.has(key)) return respell(value);
  return value;
}

export function parseJSON(text) {
  return JSON.parse(text, decodeNonFinite);
}

async function errorFrom(resp, route) {
  let message = `${resp.status} ${resp.statusText || "error"}`;
  try {
    const text = await resp.text();
    try {
      const body = JSON.parse(text);
      if (body && typeof body.error === "string") message = body.error;
      else if (body && body.error && typeof body.error.message === "string") message = body.error.message;
    } catch (_) {
      const t = text.trim();
      // TensorBoard's own errors are short text/plain or HTML; show text only, stripped of tags.
      if (t && t.length < 400) message = t.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim() || message;
    }
  } catch (_) { /* ignore */ }
  return new ApiError(message, resp.status, route);
}

async function doFetch(route, params, opts = {}) {
  let resp;
  try {
    resp = await fetch(apiUrl(route, params), { signal: opts.signal, credentials: "same-origin" });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(`Could not reach the TensorBoard server (${route}).`, 0, route);
  }
  if (!resp.ok) throw await errorFrom(resp, route);
  return resp;
}

/** GET a JSON route. Throws ApiError with the backend's message on failure. */
export async function getJSON(route, params = {}, opts = {}) {
  const resp = await doFetch(route, params, opts);
  const text = await resp.text();
  try {
    return parseJSON(text);
  } catch (_) {
    throw new ApiError(`The server sent an unreadable answer for ${route}.`, resp.status, route);
  }
}

/** GET a binary route as a Blob. */
export async function getBlob(route, params = {}, opts = {}) {
  const resp = await doFetch(route, params, opts);
  return resp.blob();
}

/**
 * GET a PNG and decode it to exact pixel values (no colour management, no premultiplication).
 * Resolves to an ImageData (RGBA, width, height).
 */
export async function getImageData(route, params = {}, opts = {}) {
  const blob = await getBlob(route, params, opts);
  return decodePNG(blob);
}

export async function decodePNG(blob) {
  let bmp;
  try {
    bmp = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch (_) {
    throw new ApiError("The server sent an image that could not be decoded.");
  }
  const w = bmp.width, h = bmp.height;
  const canvas = typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(w, h) : Object.assign(document.createElement("canvas"), { width: w, height: h });
  const ctx = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" });
  ctx.drawImage(bmp, 0, 0);
  if (bmp.close) bmp.close();
  return ctx.getImageData(0, 0, w, h);
}

/**
 * A small LRU cache of promises keyed by string, so identical requests share one fetch and
 * results are reused (e.g. decoded atlases keyed by run/layer/step/probe). Failed entries are dropped.
 */
export class PromiseCache {
  constructor(limit = 256) {
    this.limit = limit;
    this.map = new Map();
  }
  get(key, make) {
    if (this.map.has(key)) {
      const p = this.map.get(key);
      this.map.delete(key);
      this.map.set(key, p);
      return p;
    }
    const p = Promise.resolve().then(make);
    this.map.set(key, p);
    p.catch(() => { if (this.map.get(key) === p) this.map.delete(key); });
    while (this.map.size > this.limit) this.map.delete(this.map.keys().next().value);
    return p;
  }
  clear() { this.map.clear(); }
}

/** Human-readable text for any thrown value (never a stack trace). */
export function errorText(err) {
  if (!err) return "Unknown error.";
  if (err instanceof ApiError) return err.message;
  if (typeof err === "string") return err;
  if (err && typeof err.message === "string" && err.message) return err.message;
  return "Unexpected error.";
}

/**
 * Shows an error (or info) message in `container`, replacing what is there when `replace`.
 * All text is inserted with textContent. Returns the message element.
 */
export function showError(container, err, { title = "", replace = true, kind = "error" } = {}) {
  const box = document.createElement("div");
  box.className = `nv-message nv-${kind}`;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  if (title) {
    const t = document.createElement("div");
    t.className = "nv-message-title";
    t.textContent = title;
    box.appendChild(t);
  }
  const body = document.createElement("div");
  body.className = "nv-message-body";
  body.textContent = errorText(err);
  box.appendChild(body);
  if (container) {
    if (replace) container.replaceChildren(box);
    else container.appendChild(box);
  }
  return box;
}

/** Runs async tasks with at most `n` in flight. tasks: array of () => Promise. */
export async function pool(tasks, n = 4) {
  const results = new Array(tasks.length);
  let i = 0;
  async function worker() {
    while (i < tasks.length) {
      const k = i++;
      try { results[k] = await tasks[k](); } catch (e) { results[k] = e; }
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return results;
}

/**
 * Little-endian float32 numbers sent as base64 (`f32`, of `shape` [A, B, K]) as nested arrays `out[a][b]`
 * of K numbers (views into one Float32Array): megabytes of statistics without parsing them as JSON text.
 */
export function unpackF32(f32, shape) {
  const bytes = Uint8Array.from(atob(f32), (c) => c.charCodeAt(0));
  const flat = new Float32Array(bytes.buffer);
  const [A, B, K] = shape;
  const out = new Array(A);
  for (let a = 0; a < A; a++) {
    const rows = new Array(B);
    for (let b = 0; b < B; b++) rows[b] = flat.subarray((a * B + b) * K, (a * B + b + 1) * K);
    out[a] = rows;
  }
  return out;
}
