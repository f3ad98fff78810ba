import { describe, expect, it } from 'vitest';
import { sample } from '../src/kernels/sample.js';
import { randInt, rng, testGpu } from './helpers/gpu.js';

/**
 * The f64 reference: candidates = top-k by (value desc, index asc), q = softmax(v/T) over them, keep
 * while the mass before < topP, pick the first j with u·Σkept < cumsum_j. Also returns how close u
 * and topP came to a decision boundary, so that f32-vs-f64 rounding cannot flip the comparison.
 */
function reference(x: Float32Array, T: number, topK: number, topP: number, u: number): { id: number; margin: number } {
  const k = T <= 0 ? 1 : Math.min(topK === 0 ? 64 : topK, 64, x.length);
  const order = Array.from(x.keys()).sort((a, b) => x[b]! - x[a]! || a - b).slice(0, k);
  const e = order.map((i) => (k === 1 ? 1 : Math.exp((x[i]! - x[order[0]!]!) / T)));
  const total = e.reduce((s, v) => s + v, 0);
  const q = e.map((v) => v / total);
  let kept = 0, mass = 0, margin = Infinity;
  for (let j = 0; j < k; j++) {
    if (j > 0) margin = Math.min(margin, Math.abs(mass - topP));
    if (j > 0 && mass >= topP) break;
    mass += q[j]!;
    kept = j + 1;
  }
  let cum = 0, pick = kept - 1;
  for (let j = 0; j < kept; j++) {
    cum += q[j]!;
    margin = Math.min(margin, Math.abs(u * mass - cum));
    if (u * mass < cum) {
      pick = j;
      break;
    }
  }
  return { id: order[pick]!, margin };
}

describe('sample', () => {
  // [cols, temperature, topK, topP]: greedy edges, top-k only, top-p only (capped at 64), both, the vocab.
  const cases: [number, number, number, number][] = [
    [1000, 1, 1, 1], [1000, 0, 50, 0.9], [1000, 1, 50, 1], [1000, 0.7, 0, 0.9], [5000, 1.3, 40, 0.8],
    [3, 1, 0, 1], [257216, 1, 64, 0.95], [4097, 0.5, 10, 0.5],
  ];
  it.each(cases)('cols=%i T=%f topK=%i topP=%f: the reference choice for each uniform', async (cols, T, topK, topP) => {
    const gpu = await testGpu();
    const r = rng(cols + topK);
    const x = Float32Array.from({ length: cols }, () => (r() * 2 - 1) * 3);
    const logits = gpu.upload(x, 'logits');
    const uniforms = Array.from({ length: cols > 100_000 ? 10 : 40 }, () => Math.fround(r())); // the vocab case is slow on lavapipe
    uniforms.push(0, Math.fround(0.9999999));
    const out = gpu.buffer(256 * uniforms.length, 'ids'); // one 256-byte-aligned slot per draw
    const step = gpu.step('sample');
    uniforms.forEach((u, i) => sample(step, { logits, cols, temperature: T, topK, topP, uniform: u, out: { buffer: out, offset: i * 256, size: 4 } }));
    step.end();
    const got = new Uint32Array(await gpu.read(out));
    let compared = 0;
    const seen = new Set<number>();
    uniforms.forEach((u, i) => {
      const ref = reference(x, T, topK, topP, u);
      if (ref.margin < 1e-5) return; // within f32 rounding of a boundary: either choice is right
      compared++;
      seen.add(ref.id);
      expect(got[i * 64], `u=${u}`).toBe(ref.id);
    });
    expect(compared).toBeGreaterThanOrEqual(uniforms.length - 2);
    if (T > 0 && topK !== 1 && topP > 0.5) expect(seen.size).toBeGreaterThan(Math.min(3, cols - 2)); // really sampling
  });
});
