// Targets and class scores of one probe: which logged relevance a target choice means, and a table of the
// highest scores (logit and softmax probability) with the target and the prediction marked; a click on a
// logged class makes it the target.

import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";

/** Which logged column of a probe the target choice means: {col, cls, note}. */
export function targetColumn(data, probe, choice) {
  const row = (data.targets || [])[probe] || [];
  const label = data.labels ? data.labels[probe] : null;
  if (choice === "true" && label !== null && label !== undefined && row.includes(label)) return { col: row.indexOf(label), cls: label, note: "" };
  if (/^c\d+$/.test(choice || "")) {
    const cls = Number(choice.slice(1));
    if (row.includes(cls)) return { col: row.indexOf(cls), cls, note: "" };
    return { col: 0, cls: row[0], note: `Class ${className(data, cls)} was not logged for this probe; showing the predicted class.` };
  }
  return { col: 0, cls: row[0], note: choice === "true" ? "No true label was logged; showing the predicted class." : "" };
}

export function className(data, cls) {
  const names = data.class_names;
  return names && names[cls] !== undefined ? names[cls] : `class ${cls}`;
}

export function softmax(logits) {
  const finite = logits.filter(Number.isFinite);
  const mx = finite.length ? Math.max(...finite) : 0;
  const ex = logits.map((v) => (Number.isFinite(v) ? Math.exp(v - mx) : 0));
  const s = ex.reduce((a, b) => a + b, 0) || 1;
  return ex.map((v) => v / s);
}

/** A table of the `limit` highest-scoring classes of probe `p`; `onPick(cls)` for the logged ones. */
export function scoresTable(data, p, targetCls, onPick, limit = 10) {
  const logits = data.scores[p];
  const probs = softmax(logits);
  const logged = new Set(data.targets[p]);
  const order = logits.map((_, i) => i).sort((a, b) => (logits[b] - logits[a]) || (a - b)).slice(0, limit);
  const table = el("table", "nv-stats nv-scores");
  const head = el("tr");
  for (const t of ["class", "score (logit)", "probability", ""]) head.append(el("th", "", t));
  table.append(el("caption", "", "Highest prediction scores"), head);
  const label = data.labels ? data.labels[p] : null;
  for (const c of order) {
    const tr = el("tr");
    tr.dataset.cls = String(c);
    if (c === targetCls) tr.classList.add("nv-target-row");
    const marks = [c === order[0] ? "predicted" : "", c === label ? "true" : "", c === targetCls ? "target" : ""].filter(Boolean).join(" · ");
    tr.append(el("td", "", className(data, c)), el("td", "nv-mono", fmt(logits[c])), el("td", "nv-mono", fmt(probs[c], 3)), el("td", "nv-faint", marks));
    if (logged.has(c)) {
      tr.tabIndex = 0;
      tr.classList.add("nv-clickable");
      tr.title = "Show the relevance for this class";
      tr.addEventListener("click", () => onPick(c));
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onPick(c); } });
    }
    table.append(tr);
  }
  return table;
}
