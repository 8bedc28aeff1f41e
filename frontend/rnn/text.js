// The probe texts with every token coloured by the selected cell's value, as in Karpathy, Johnson and
// Fei-Fei 2015. Line breaks and indentation are kept; hovering shows the value and the model's top next
// tokens; dragging (or Shift+arrows) selects a span, which the app ranks cells for (LSTMVis's select view).
// Matches of the selected cells and of a regex pattern are marked. Tokens go in with textContent only.

import { el } from "../shared/dom.js";
import { showTooltip, hideTooltip } from "../shared/tooltip.js";
import { fmt, fmtPct } from "../shared/format.js";
import { valueColor, displayToken } from "./data.js";

export class TextPanel {
  /** on: {select(probe, start, end), predictions(probe) -> Promise<top|null>, cursor(probe, t)} */
  constructor(parent, on) {
    this.on = on;
    this.card = el("div", "nv-card nv-text-card");
    const head = el("div", "nv-card-title");
    this.title = el("span", "", "Text");
    this.sub = el("span", "nv-sub");
    head.append(this.title, this.sub);
    this.msg = el("div", "nv-text-msg");
    this.box = el("div", "nv-text");
    this.box.tabIndex = 0;
    this.box.setAttribute("role", "application");
    this.box.setAttribute("aria-label", "Probe texts: arrow keys move, Shift+arrows select a span");
    this.help = el("div", "nv-hint", "Drag over the text (or Shift+←/→) to select a span and rank the cells that are on inside it and off around it.");
    this.card.append(head, this.msg, this.box, this.help);
    parent.append(this.card);
    this.spans = [];   // [probe][t] -> span element
    this.traces = null;
    this.sel = null;   // {probe, start, end}
    this.cursor = null; // {probe, t}
    this.drag = null;
    this.box.addEventListener("mousedown", (e) => this.onDown(e));
    window.addEventListener("mouseup", () => this.onUp());
    this.box.addEventListener("mouseover", (e) => this.onOver(e));
    this.box.addEventListener("mousemove", (e) => this.onMove(e));
    this.box.addEventListener("mouseleave", () => hideTooltip());
    this.box.addEventListener("keydown", (e) => this.onKey(e));
  }

  /** Lays out the tokens of every probe (only when the texts change). */
  setTraces(traces) {
    const same = this.traces && JSON.stringify(this.traces.tokens) === JSON.stringify(traces.tokens);
    this.traces = traces;
    if (same) return;
    this.sel = null;
    this.spans = [];
    const frag = document.createDocumentFragment();
    traces.tokens.forEach((tokens, p) => {
      const block = el("div", "nv-probe-text");
      block.append(el("div", "nv-probe-label", `probe ${p} · ${tokens.length} tokens`));
      const pre = el("div", "nv-tokens");
      const words = tokens.some((t) => t.length > 1);
      const row = [];
      tokens.forEach((tok, t) => {
        const s = el("span", "nv-tok", displayToken(tok));
        s.dataset.p = p;
        s.dataset.t = t;
        row.push(s);
        pre.append(s);
        if (tok === "\n") pre.append(document.createTextNode("\n"));
        else if (words && t + 1 < tokens.length) pre.append(document.createTextNode(" "));
      });
      this.spans.push(row);
      block.append(pre);
      frag.append(block);
    });
    this.box.replaceChildren(frag);
  }

  /** Colours every token by `kind` of `cell`. */
  paint(kind, cell) {
    if (!this.traces) return;
    const tr = this.traces;
    const scale = tr.scale(kind, cell);
    const v = tr.values(kind);
    this.kind = kind;
    this.cell = cell;
    this.title.textContent = `Cell ${cell}`;
    this.sub.textContent = `${kind === "state" ? "state (tanh c)" : kind.replace("_", " ")} · blue = low, red = high`;
    this.spans.forEach((row, p) => {
      for (let t = 0; t < row.length; t++) row[t].style.backgroundColor = valueColor(v[(p * tr.T + t) * tr.U + cell], scale);
    });
  }

  /** Marks token runs: `cls` on [[probe, start, end], ...] (previous marks of that class are cleared). */
  mark(cls, spans) {
    for (const s of this.box.querySelectorAll(`.${cls}`)) s.classList.remove(cls);
    for (const [p, a, b] of spans || []) {
      const row = this.spans[p] || [];
      for (let t = a; t < Math.min(b, row.length); t++) row[t].classList.add(cls);
    }
  }

  /** A 0/1 track per probe as runs for mark(). */
  static runs(tracks) {
    const out = [];
    (tracks || []).forEach((tr, p) => {
      let a = -1;
      for (let t = 0; t <= tr.length; t++) {
        if (t < tr.length && tr[t]) { if (a < 0) a = t; } else if (a >= 0) { out.push([p, a, t]); a = -1; }
      }
    });
    return out;
  }

  setSelection(sel, notify) {
    this.sel = sel;
    this.mark("nv-sel", sel ? [[sel.probe, sel.start, sel.end]] : []);
    if (sel && notify) this.on.select(sel.probe, sel.start, sel.end);
  }

  tokenAt(target) {
    const s = target && target.closest ? target.closest(".nv-tok") : null;
    return s ? { probe: Number(s.dataset.p), t: Number(s.dataset.t), el: s } : null;
  }

  onDown(e) {
    const hit = this.tokenAt(e.target);
    if (!hit || e.button !== 0) return;
    this.drag = { probe: hit.probe, from: hit.t, to: hit.t };
    this.setSelection({ probe: hit.probe, start: hit.t, end: hit.t + 1 }, false);
  }

  onOver(e) {
    const hit = this.tokenAt(e.target);
    if (!hit || !this.drag || hit.probe !== this.drag.probe) return;
    this.drag.to = hit.t;
    const a = Math.min(this.drag.from, hit.t), b = Math.max(this.drag.from, hit.t) + 1;
    this.setSelection({ probe: hit.probe, start: a, end: b }, false);
  }

  onUp() {
    if (!this.drag) return;
    this.drag = null;
    if (this.sel) this.setSelection(this.sel, true);
  }

  async onMove(e) {
    const hit = this.tokenAt(e.target);
    if (!hit) { hideTooltip(); return; }
    this.cursor = { probe: hit.probe, t: hit.t };
    this.tip(e.clientX, e.clientY, hit.probe, hit.t);
  }

  async tip(x, y, p, t) {
    if (!this.traces) return;
    const tr = this.traces;
    const tok = tr.tokens[p][t];
    const lines = [`“${displayToken(tok)}”  probe ${p}, position ${t}`,
      `cell ${this.cell} ${this.kind}: ${fmt(tr.at(this.kind, p, t, this.cell))}`];
    showTooltip(x, y, lines);
    const key = `${p}:${t}`;
    this.tipKey = key;
    const top = await this.on.predictions(p);
    if (!top || this.tipKey !== key || !top[t]) return;
    lines.push("next-token guesses:");
    for (const [guess, prob] of top[t]) lines.push(`  ${displayToken(guess).padEnd(8)} ${fmtPct(prob)}`);
    showTooltip(x, y, lines);
  }

  onKey(e) {
    if (!this.traces || !["ArrowLeft", "ArrowRight"].includes(e.key)) return;
    e.preventDefault();
    const cur = this.cursor || { probe: 0, t: 0 };
    const n = this.traces.lengths[cur.probe];
    const t = Math.max(0, Math.min(n - 1, cur.t + (e.key === "ArrowRight" ? 1 : -1)));
    if (e.shiftKey) {
      const anchor = this.sel && this.sel.probe === cur.probe ? (this.sel.start === cur.t ? this.sel.end - 1 : this.sel.start) : cur.t;
      this.setSelection({ probe: cur.probe, start: Math.min(anchor, t), end: Math.max(anchor, t) + 1 }, false);
      clearTimeout(this.keyTimer);
      this.keyTimer = setTimeout(() => this.setSelection(this.sel, true), 300);
    }
    this.cursor = { probe: cur.probe, t };
    const span = this.spans[cur.probe][t];
    this.mark("nv-cursor", [[cur.probe, t, t + 1]]);
    span.scrollIntoView({ block: "nearest", inline: "nearest" });
    const r = span.getBoundingClientRect();
    this.tip(r.right, r.bottom, cur.probe, t);
  }
}
