// The traces of one layer at one step, decoded from /text (tokens, ranges) and /values (8-bit codes),
// and the colours the dashboard paints values with.

export const NONFINITE = 255;
const LEVELS = 254;
// Kinds bounded in [0, 1] (sigmoid gates) or [-1, 1] (tanh): coloured on a fixed scale.
const GATE_KINDS = new Set(["input_gate", "forget_gate", "output_gate", "update_gate", "reset_gate"]);
const TANH_KINDS = new Set(["state", "hidden", "candidate"]);

export const KIND_LABELS = {
  state: "state (tanh c)",
  hidden: "hidden h",
  cell: "cell c",
  input_gate: "input gate",
  forget_gate: "forget gate",
  output_gate: "output gate",
  update_gate: "update gate",
  reset_gate: "reset gate",
  candidate: "candidate",
};

/** The kinds a layer can show, in menu order ("state" first: tanh(c) for an LSTM, h otherwise). */
export function kindsOf(info) {
  return ["state", ...((info && info.kinds) || []).filter((k) => k !== "state")];
}

export function isGate(kind) { return GATE_KINDS.has(kind); }

export class Traces {
  /** text: the /text answer; buffer: the /values ArrayBuffer (uint8 [K, P, T, U]). */
  constructor(text, buffer) {
    this.text = text;
    this.tokens = text.tokens;
    this.lengths = text.lengths;
    this.kinds = text.kinds;
    [this.K, this.P, this.T, this.U] = text.shape;
    const q = new Uint8Array(buffer);
    if (q.length !== this.K * this.P * this.T * this.U) throw new Error(`The server sent ${q.length} values for a ${text.shape.join("×")} trace.`);
    this.q = q;
    this.cache = new Map();
  }

  /** Float32Array [P, T, U] of one kind (NaN where the value was not finite); "state" = tanh(c) or h. */
  values(kind) {
    if (this.cache.has(kind)) return this.cache.get(kind);
    const base = kind === "state" ? (this.kinds.includes("cell") ? "cell" : "hidden") : kind;
    const k = this.kinds.indexOf(base);
    if (k < 0) throw new Error(`This layer has no ${kind} trace.`);
    const ranges = this.text.ranges[base];
    const n = this.P * this.T * this.U, U = this.U;
    const lo = Float64Array.from(ranges, (r) => r[0]);
    const step = Float64Array.from(ranges, (r) => (r[1] - r[0]) / LEVELS);
    const out = new Float32Array(n);
    const off = k * n;
    const tanh = kind === "state" && base === "cell";
    for (let i = 0, u = 0; i < n; i++, u = u + 1 === U ? 0 : u + 1) {
      const code = this.q[off + i];
      if (code === NONFINITE) { out[i] = NaN; continue; }
      const v = lo[u] + code * step[u];
      out[i] = tanh ? Math.tanh(v) : v;
    }
    this.cache.set(kind, out);
    return out;
  }

  at(kind, p, t, u) { return this.values(kind)[(p * this.T + t) * this.U + u]; }

  /** One cell over the real tokens of a probe. */
  series(kind, p, u) {
    const v = this.values(kind);
    const n = this.lengths[p];
    const out = new Float32Array(n);
    for (let t = 0; t < n; t++) out[t] = v[(p * this.T + t) * this.U + u];
    return out;
  }

  /** The scale that maps a value to [-1, 1] for colouring: fixed for bounded kinds, the cell's range else. */
  scale(kind, u) {
    if (TANH_KINDS.has(kind)) return { center: 0, half: 1 };
    if (GATE_KINDS.has(kind)) return { center: 0.5, half: 0.5 };
    const r = this.text.ranges[kind][u];
    return { center: 0, half: Math.max(Math.abs(r[0]), Math.abs(r[1]), 1e-12) };
  }
}

const POS = [214, 96, 77]; // red: on
const NEG = [67, 147, 195]; // blue: off

/** CSS background for a value: red above the centre, blue below, stronger further out; NaN magenta. */
export function valueColor(v, { center, half }) {
  if (Number.isNaN(v)) return "rgba(255, 0, 255, 0.55)";
  if (!Number.isFinite(v)) return v > 0 ? "rgba(255, 235, 59, 0.8)" : "rgba(0, 230, 118, 0.8)";
  const t = Math.max(-1, Math.min(1, (v - center) / half));
  const c = t >= 0 ? POS : NEG;
  return `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${(Math.abs(t) * 0.9).toFixed(3)})`;
}

/** How a token is shown: a newline as ↵ (then a line break), a tab as →, spaces kept. */
export function displayToken(tok) {
  if (tok === "\n") return "↵";
  if (tok === "\t") return "→";
  if (tok === "") return "∅";
  return tok;
}
