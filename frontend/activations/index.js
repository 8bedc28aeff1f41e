// Entry point that TensorBoard loads (served as ./index.js next to <base href="plugin/nnvis_activations/">).
// Everything else lives under ./static/ so that each module has exactly one URL.
//
// The modules are announced all at once (modulepreload) before the app is imported: otherwise the browser
// finds them one import level at a time, a round trip per level before the first grid is drawn. A module
// missing from this list still loads, as an import, just not ahead of time.
// boot.js and what it imports come first: it fetches the first grid's data while the others load. The panels
// that the first grid does not need are not here: panels.js imports them once it is drawn.
const MODULES = [
  "activations/boot.js", "shared/api.js", "shared/host.js", "activations/url.js", "activations/steps.js",
  "shared/colormap.js", "shared/format.js", "activations/app.js", "activations/panels.js", "activations/sidebar.js", "activations/layer.js",
  "shared/atlas.js", "shared/theme.js", "shared/slider.js", "shared/dom.js", "shared/sidebar.js",
  "shared/grid.js", "shared/tooltip.js", "shared/mount.js", "shared/tags.js",
];

// The stylesheets the modules add once they run, and the layer list (/tags, the first request the app makes):
// asked for now too, so that they are not one more round trip each after the modules. A preloaded fetch is
// used by the app's own fetch of the same URL (same mode and credentials), not requested twice.
const STYLES = ["shared/base.css", "activations/style.css"];

function preload(rel, href, as) {
  const link = document.createElement("link");
  link.rel = rel;
  link.href = new URL(href, import.meta.url).href;
  if (as) link.as = as;
  if (as === "fetch") link.crossOrigin = "anonymous";
  document.head.append(link);
}

/** The run the host page's URL names (boot.js reads the same with shared/host.js, once that has loaded). */
function namedRun() {
  try {
    const hash = window.parent && window.parent !== window ? window.parent.location.hash : "";
    const m = /[#&]p\.nnvis_activations\.run=([^&]*)/.exec(hash);
    return m && m[1] ? decodeURIComponent(m[1]) : null;
  } catch (_) {
    return null; // cross-origin host, or a malformed hash
  }
}

// /tags of the named run alone (the first grid needs no more; see boot.js). Without a run in the URL boot.js
// asks for the host's first run once the host has answered, and a preload of all runs would only compete.
const run = namedRun();
if (run) preload("preload", `./tags?${new URLSearchParams({ run })}`, "fetch");
for (const path of MODULES) preload("modulepreload", `./static/${path}`);
for (const path of STYLES) preload("preload", `./static/${path}`, "style");
// The URL state, /tags (the preload above) and then the first step's /maps and /atlas, before the app runs.
import("./static/activations/boot.js").then((m) => m.boot()).catch(() => {}); // the app reports failures

/** Called by TensorBoard (plugin_entry.html) to build the page into document.body. */
export async function render() {
  const app = await import("./static/activations/app.js");
  return app.render();
}
