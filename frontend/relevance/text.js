// The text view, as on heatmapping.org: the document with each token's background coloured by its
// relevance (red for the target class, blue against it, no colour where it is missing), the sentence
// "With a prediction score of X the document was classified as Y", the highest prediction scores, and the
// most and least relevant words. Tokens are text (textContent), never markup.

import { el } from "../shared/dom.js";
import { fmt } from "../shared/format.js";
import { divergingRgb, symmetricScale } from "../shared/heatmap.js";
import { showError } from "../shared/api.js";
import { scoresTable, targetColumn, className } from "./scores.js";

/** Black or white text, whichever reads better on [r, g, b]. */
function inkFor(rgb) {
  const [r, g, b] = rgb;
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
}

export class TextView {
  constructor(app) {
    this.app = app;
  }

  render(host) {
    const { S, cur } = this.app;
    const data = cur.data[S.composite];
    const p = S.probe;
    const tokens = data.tokens[p] || [];
    const tc = targetColumn(data, p, S.target);
    const rel = (data.relevance[p][tc.col] || []).slice(0, tokens.length);
    const m = symmetricScale(rel, 100);
    const view = el("div", "nv-text-view");
    const card = el("div", "nv-card nv-doc-card");
    const logits = data.scores[p];
    const predicted = data.targets[p][0];
    const sentence = el("div", "nv-sentence");
    sentence.append(document.createTextNode("With a prediction score of "), el("b", "nv-mono", fmt(logits[predicted])),
      document.createTextNode(" the document was classified as "), el("b", "nv-class", className(data, predicted)), document.createTextNode("."));
    const title = el("div", "nv-card-title");
    title.append(el("span", "", `Document ${p}`), el("span", "nv-sub nv-target-line", `relevance for ${className(data, tc.cls)} · ${S.composite} · step ${S.step}`));
    card.append(title, sentence);
    if (tc.note) card.append(showError(null, tc.note, { kind: "warn" }));
    const doc = el("div", "nv-doc");
    doc.setAttribute("aria-label", "document coloured by relevance");
    tokens.forEach((tok, i) => {
      const span = el("span", "nv-token", tok);
      span.dataset.index = String(i);
      const v = rel[i];
      const rgb = divergingRgb(v, m);
      if (rgb) {
        span.style.background = `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
        span.style.color = inkFor(rgb);
        span.dataset.value = String(v);
        span.title = `${tok}: ${fmt(v, 6)}`;
      } else {
        span.classList.add("nv-missing");
        span.title = `${tok}: missing (${Number.isNaN(v) ? "NaN" : fmt(v)})`;
      }
      doc.append(span, document.createTextNode(" "));
    });
    const sum = data.sums[p][tc.col];
    const cons = el("div", "nv-conservation", `ΣR = ${fmt(sum)} of logit ${fmt(logits[tc.cls])} for ${className(data, tc.cls)}`);
    card.append(doc, cons, el("div", "nv-hint", `Colour scale: ±${fmt(m)} (the largest |R| in this document).`));
    const tables = el("div", "nv-card nv-text-tables");
    tables.append(scoresTable(data, p, tc.cls, (cls) => this.app.setOption("target", `c${cls}`)),
      wordTable("Most relevant words", tokens, rel, -1, "nv-most"), wordTable("Least relevant words", tokens, rel, 1, "nv-least"));
    view.append(card, tables);
    host.replaceChildren(view);
  }
}

/** The ten tokens with the highest (`sign` -1) or lowest (+1) relevance, with their values. */
function wordTable(caption, tokens, rel, sign, cls, limit = 10) {
  const order = tokens.map((_, i) => i).filter((i) => Number.isFinite(rel[i])).sort((a, b) => sign * (rel[a] - rel[b]) || a - b).slice(0, limit);
  const table = el("table", `nv-stats nv-words ${cls}`);
  const head = el("tr");
  for (const t of ["word", "position", "relevance"]) head.append(el("th", "", t));
  table.append(el("caption", "", caption), head);
  for (const i of order) {
    const tr = el("tr");
    tr.append(el("td", "nv-word", tokens[i]), el("td", "nv-mono", String(i)), el("td", "nv-mono", fmt(rel[i], 5)));
    table.append(tr);
  }
  if (!order.length) table.append(el("tr", "", "no finite relevance"));
  return table;
}
