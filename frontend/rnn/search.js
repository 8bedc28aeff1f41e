// Finding cells: the cells ranked for a selected span (LSTMVis's select view) with the places where the
// checked ones fire together (match view), and a regular-expression pattern search ranked by correlation,
// precision and recall. Results are tables of plain text; a click on a row chooses that cell.

import { el } from "../shared/dom.js";
import { showError } from "../shared/api.js";
import { fmt, fmtPct } from "../shared/format.js";

const PRESETS = [
  ['"[^"\\n]*"', "inside double quotes"],
  ["\\([^()]*\\)", "inside brackets"],
  ["(?:^|\\n)[ \\t]*if\\b[^\\n]*\\n((?:[ \\t]+[^\\n]*\\n?)*)", "the block after if"],
  ["(?:^|\\n)[^\\n]{40}([^\\n]+)", "past column 40"],
];

function table(head, rows, selectedCell, onRow, checks) {
  const t = el("table", "nv-rank");
  const tr = el("tr");
  for (const h of head) tr.append(el("th", "", h));
  t.append(el("thead"));
  t.tHead.append(tr);
  const body = el("tbody");
  for (const r of rows) {
    const row = el("tr");
    row.tabIndex = 0;
    row.dataset.cell = r.cell;
    if (r.cell === selectedCell) row.classList.add("nv-current");
    r.cols.forEach((c, i) => {
      const td = el("td", i ? "nv-num" : "");
      if (i === 0 && checks) {
        const box = el("input");
        box.type = "checkbox";
        box.checked = checks.has(r.cell);
        box.title = "Match: where the checked cells are on together";
        box.addEventListener("click", (e) => e.stopPropagation());
        box.addEventListener("change", () => checks.toggle(r.cell, box.checked));
        td.append(box, document.createTextNode(" "));
      }
      td.append(document.createTextNode(c));
      row.append(td);
    });
    row.addEventListener("click", () => onRow(r.cell));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") onRow(r.cell); });
    body.append(row);
  }
  t.append(body);
  return t;
}

export class SearchPanel {
  /** on: {cell(u), pattern(regex), match(cells)} */
  constructor(parent, on) {
    this.on = on;
    this.checked = new Set();
    this.card = el("div", "nv-card nv-search-card");

    this.card.append(el("div", "nv-card-title", "Cells for the selected span"));
    this.selInfo = el("div", "nv-hint nv-select-info", "Select a span of text to rank the cells that are on inside it and off around it.");
    this.selBox = el("div", "nv-rank-box nv-select-results");
    this.matchInfo = el("div", "nv-hint nv-match-info");

    const patTitle = el("div", "nv-card-title nv-pattern-title", "Pattern search");
    const form = el("form", "nv-pattern-form");
    this.regex = el("input", "nv-regex");
    this.regex.type = "text";
    this.regex.placeholder = 'regular expression, e.g. "[^"\\n]*"';
    this.regex.setAttribute("aria-label", "Regular expression");
    this.regex.spellcheck = false;
    const go = el("button", "nv-btn", "Rank cells");
    go.type = "submit";
    form.append(this.regex, go);
    form.addEventListener("submit", (e) => { e.preventDefault(); if (this.regex.value) this.on.pattern(this.regex.value); });
    const presets = el("div", "nv-presets");
    for (const [re, label] of PRESETS) {
      const b = el("button", "nv-chip", label);
      b.type = "button";
      b.title = re;
      b.addEventListener("click", () => { this.regex.value = re; this.on.pattern(re); });
      presets.append(b);
    }
    this.patInfo = el("div", "nv-hint", "A token is in the pattern where it overlaps a match (or the first group, if the expression has one). Cells are ranked by |correlation| with that 0/1 track; precision and recall count the steps a cell is on (above the threshold; below −threshold for a negative correlation).");
    this.patBox = el("div", "nv-rank-box nv-pattern-results");
    this.card.append(this.selInfo, this.selBox, this.matchInfo, patTitle, form, presets, this.patInfo, this.patBox);
    parent.append(this.card);
  }

  setCell(cell) {
    this.cell = cell;
    for (const row of this.card.querySelectorAll("tr[data-cell]")) row.classList.toggle("nv-current", Number(row.dataset.cell) === cell);
  }

  selectionError(e) { showError(this.selBox, e, { title: "Could not rank cells for the selection" }); }
  patternError(e) { showError(this.patBox, e, { title: "Could not search the pattern" }); }

  /** d: the /select answer; `tokens`: the selected text for the caption. */
  showSelection(d, text) {
    this.selInfo.textContent = `“${text}” (probe ${d.probe}, tokens ${d.start}–${d.end - 1}) · on = above ${fmt(d.threshold)} · score = on inside + off around − 1`;
    this.checked = new Set(d.cells.filter((c) => c.score > 0.5).slice(0, 3).map((c) => c.cell));
    if (!this.checked.size && d.cells.length) this.checked.add(d.cells[0].cell);
    const checks = { has: (u) => this.checked.has(u), toggle: (u, on) => { if (on) this.checked.add(u); else this.checked.delete(u); this.on.match([...this.checked]); } };
    const rows = d.cells.map((c) => ({ cell: c.cell, cols: [String(c.cell), fmt(c.score, 3), fmtPct(c.on_inside), fmtPct(c.off_around), fmt(c.gap, 3)] }));
    this.selBox.replaceChildren(table(["cell", "score", "on inside", "off around", "mean gap"], rows, this.cell, (u) => this.on.cell(u), checks));
    this.on.match([...this.checked]);
  }

  showMatches(d) {
    const n = d.spans.length;
    const places = `${n} place${n === 1 ? "" : "s"} (marked in the text)`;
    this.matchInfo.textContent = !d.cells.length ? "Check cells to see where they are on together."
      : d.cells.length === 1 ? `Cell ${d.cells[0]} is on in ${places}.`
        : `Cells ${d.cells.join(", ")} are on together in ${places}.`;
  }

  showPattern(d) {
    if (!d.matched_tokens) {
      this.patBox.replaceChildren(el("div", "nv-message nv-warn", `No token of the probe texts matches ${d.regex}.`));
      return;
    }
    const rows = d.cells.map((c) => ({ cell: c.cell, cols: [String(c.cell), fmt(c.correlation, 3), fmtPct(c.precision), fmtPct(c.recall)] }));
    const info = el("div", "nv-hint", `${d.matched_tokens} tokens in the pattern (underlined in the text).`);
    this.patBox.replaceChildren(info, table(["cell", "correlation", "precision", "recall"], rows, this.cell, (u) => this.on.cell(u)));
  }
}
