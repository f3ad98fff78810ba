// The float64 reference of Hugging Face's sampling warpers, for the sampler's tests.

import type { SamplingSettings } from '../../src/kernels/sample.js';

/**
 * Hugging Face's warpers in float64 (the scores rounded to f32 as torch computes them): penalty,
 * temperature, top-k (ties with the k-th kept), top-p (stable ascending sort, drop cumulative
 * ≤ f32(1 − p), keep the last), softmax. `margin`: how close a top-p decision came to the line, so
 * that f32-vs-f64 rounding may flip it.
 */
export function referenceProbs(x: Float32Array, s: SamplingSettings, seen: Set<number> = new Set()): { probs: Float64Array; margin: number } {
  const V = x.length;
  const pen = s.repetitionPenalty ?? 1;
  const z = new Float64Array(V);
  for (let i = 0; i < V; i++) {
    let v = x[i]!;
    if (seen.has(i)) v = Math.fround(v < 0 ? v * pen : v / pen);
    z[i] = Math.fround(v / s.temperature);
  }
  const keep = new Array<boolean>(V).fill(true);
  if (s.topK > 0 && s.topK < V) {
    const kth = [...z].sort((a, b) => b - a)[s.topK - 1]!;
    for (let i = 0; i < V; i++) keep[i] = z[i]! >= kth;
  }
  const m = z.reduce((a, b) => Math.max(a, b), -Infinity); // no spread: a vocabulary row overflows the stack
  const e = Array.from(z, (v, i) => (keep[i] ? Math.exp(v - m) : 0));
  let margin = Infinity;
  if (s.topP < 1) {
    const order = Array.from(z.keys()).filter((i) => keep[i]).sort((a, b) => z[a]! - z[b]! || a - b);
    const total = order.reduce((t, i) => t + e[i]!, 0);
    const r = Math.fround(1 - s.topP);
    let cum = 0;
    order.forEach((i, j) => {
      cum += e[i]! / total;
      margin = Math.min(margin, Math.abs(cum - r));
      if (cum <= r && j < order.length - 1) keep[i] = false;
    });
  }
  let sum = 0;
  for (let i = 0; i < V; i++) sum += keep[i] ? e[i]! : 0;
  return { probs: Float64Array.from(e, (v, i) => (keep[i] ? v / sum : 0)), margin };
}
