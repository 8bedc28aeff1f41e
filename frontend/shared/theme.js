// Theme: light/dark that follows TensorBoard's own dark mode.
//
// TensorBoard (2.21) toggles a `dark-mode` class on the host page's <body>. Our plugin runs in a
// same-origin iframe, so we read that class directly and watch it with a MutationObserver. When the
// host is not reachable (standalone page, or a cross-origin embed) we follow `prefers-color-scheme`.
// All colours are CSS custom properties defined in base.css under `:root` and `:root.nv-dark`.

const listeners = new Set();
let dark = false;
let installed = false;

function hostBody() {
  try {
    if (window.parent && window.parent !== window) {
      const body = window.parent.document.body; // throws when cross-origin
      return body || null;
    }
  } catch (_) {
    /* cross-origin host: fall back to the media query */
  }
  return null;
}

function computeDark() {
  const body = hostBody();
  if (body) return body.classList.contains("dark-mode");
  return !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
}

function apply() {
  const next = computeDark();
  const root = document.documentElement;
  root.classList.toggle("nv-dark", next);
  root.style.colorScheme = next ? "dark" : "light";
  if (next !== dark) {
    dark = next;
    for (const cb of listeners) {
      try { cb(dark); } catch (e) { console.error(e); }
    }
  }
}

/** Links a stylesheet served from our own routes (TensorBoard's CSP allows no inline CSS files), once. */
export function addStylesheet(href) {
  let link = [...document.querySelectorAll("link[rel=stylesheet]")].find((l) => l.href === href);
  if (!link) {
    link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.appendChild(link);
  }
  stylesheets.add(link);
  return link;
}

const stylesheets = new Set();

/** Adds base.css (once) and starts following the host's theme. Returns whether dark mode is on. */
export function installTheme() {
  if (installed) return dark;
  installed = true;
  addStylesheet(new URL("./base.css", import.meta.url).href);
  dark = !computeDark(); // force the first apply() to notify and set classes
  apply();
  const body = hostBody();
  if (body) {
    new MutationObserver(apply).observe(body, { attributes: true, attributeFilter: ["class"] });
  }
  if (window.matchMedia) {
    const mq = window.matchMedia("(prefers-color-scheme: dark)");
    if (mq.addEventListener) mq.addEventListener("change", apply);
  }
  return dark;
}

/** Resolves once our stylesheets have loaded (so layout measurements are right). */
export function themeReady() {
  const pending = [...stylesheets].filter((link) => !link.sheet);
  return Promise.all(pending.map((link) => new Promise((resolve) => {
    link.addEventListener("load", () => resolve(), { once: true });
    link.addEventListener("error", () => resolve(), { once: true });
    setTimeout(resolve, 2000);
  })));
}

export function isDark() {
  return dark;
}

/** cb(isDark) is called whenever the theme changes. Returns an unsubscribe function. */
export function onThemeChange(cb) {
  listeners.add(cb);
  return () => listeners.delete(cb);
}

/** Current value of a CSS custom property on the root, e.g. cssVar("--nv-text"). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
