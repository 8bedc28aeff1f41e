// Deep links between tabs: a unit in one tab opens the same run, layer and unit in another. TensorBoard
// keeps a plugin's URL state in the page's hash as `#<plugin>&p.<plugin>.<key>=<value>` (see host.js).

/** The hash that opens `plugin` with `state` (entries that are null or undefined are left out).
 *   tabHash("nnvis_activations", {run: "r", unit: 3}) === "#nnvis_activations&p.nnvis_activations.run=r&p.nnvis_activations.unit=3"
 */
export function tabHash(plugin, state) {
  const parts = [plugin];
  for (const [k, v] of Object.entries(state)) {
    if (v !== undefined && v !== null) parts.push(`p.${plugin}.${k}=${encodeURIComponent(String(v))}`);
  }
  return "#" + parts.join("&");
}

/** A full URL for an <a href> to `plugin` with `state`, on the TensorBoard page that hosts this frame. */
export function tabHref(plugin, state) {
  let top;
  try { top = window.top.location; } catch (_) { top = null; } // a cross-origin host: relative to the frame
  const root = top ? `${top.origin}${top.pathname}${top.search}` : "../../../";
  return root + tabHash(plugin, state);
}

/** Switch the hosting TensorBoard page to `plugin` with `state` (the host reads its URL hash). */
export function openTab(plugin, state) {
  const hash = tabHash(plugin, state);
  try {
    if (window.parent && window.parent !== window) { window.parent.location.hash = hash; return; }
  } catch (_) { /* cross-origin host */ }
  window.location.hash = hash;
}
