// Number formatting shared by dashboards. Non-finite values are spelled out.

export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") v = Number(v);
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "−Inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.max(1, digits - 2)).replace("e+", "e");
  return String(Number(v.toPrecision(digits)));
}

/** Short tick label: fewer digits. */
export function fmtTick(v) {
  return fmt(v, 3);
}

export function fmtPct(v) {
  if (!Number.isFinite(v)) return fmt(v);
  return `${(v * 100).toFixed(v === 0 || v === 1 ? 0 : 1)}%`;
}

export function fmtShape(shape) {
  return Array.isArray(shape) ? shape.join("×") : "";
}

/** "Nice" tick values between lo and hi (about n of them). */
export function niceTicks(lo, hi, n = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const span = hi - lo;
  const raw = span / Math.max(1, n - 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  }
  return out;
}
