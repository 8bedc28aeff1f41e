// One floating tooltip per page. Text only (textContent), positioned near the pointer.

let el = null;

function ensure() {
  if (el && el.isConnected) return el;
  el = document.createElement("div");
  el.className = "nv-tooltip";
  el.setAttribute("role", "tooltip");
  el.hidden = true;
  document.body.appendChild(el);
  return el;
}

/** Shows `lines` (a string or array of strings) near client coordinates (x, y). */
export function showTooltip(x, y, lines) {
  const t = ensure();
  t.textContent = Array.isArray(lines) ? lines.join("\n") : String(lines);
  t.hidden = false;
  const pad = 14;
  const r = t.getBoundingClientRect();
  let left = x + pad, top = y + pad;
  if (left + r.width > window.innerWidth - 4) left = Math.max(4, x - pad - r.width);
  if (top + r.height > window.innerHeight - 4) top = Math.max(4, y - pad - r.height);
  t.style.left = `${left}px`;
  t.style.top = `${top}px`;
}

export function hideTooltip() {
  if (el) el.hidden = true;
}
