// LoRA's down projection t = x·[A₀; A₁; …]ᵀ against float64: one and three A matrices, odd K,
// K below and far above the workgroup's 64 lanes, M = 1 (decode) and many rows.

import { describe, expect, it } from 'vitest';
import { loraDown } from '../src/kernels/lora-down.js';
import { bf16ToF64, normErr, randomF32, testGpu, toBf16 } from './helpers/gpu.js';

async function runCase(M: number, K: number, ranks: number[], seed: number, norm = false): Promise<number> {
  const gpu = await testGpu();
  const x0 = randomF32(M * K, seed);
  const nw = toBf16(randomF32(K, seed + 9, 0.5));
  const gn = gpu.upload(nw, 'norm');
  const as = ranks.map((r, i) => randomF32(r * K, seed + 1 + i));
  const R = ranks.reduce((a, b) => a + b, 0);
  const gx = gpu.upload(x0, 'x');
  const ga = as.map((a, i) => gpu.upload(a, `a${i}`));
  const t = gpu.buffer(M * R * 4, 't');
  const step = gpu.step('lora-down test');
  loraDown(step, { x: gx, as: ga.map((a, i) => ({ a, rank: ranks[i]! })), t, M, K, norm: norm ? { w: gn, eps: 1e-6 } : undefined });
  step.end();
  const got = await gpu.readF32(t, 0, M * R);
  for (const b of [gx, gn, t, ...ga]) b.destroy();
  // Gemma's RMSNorm: x·rsqrt(mean(x²) + eps)·(1 + w).
  const w = bf16ToF64(nw);
  const x = Float64Array.from(x0);
  for (let m = 0; norm && m < M; m++) {
    let ss = 0;
    for (let k = 0; k < K; k++) ss += x0[m * K + k]! ** 2;
    const inv = 1 / Math.sqrt(ss / K + 1e-6);
    for (let k = 0; k < K; k++) x[m * K + k] = x0[m * K + k]! * inv * (1 + w[k]!);
  }
  const ref: number[] = [];
  for (let m = 0; m < M; m++) {
    as.forEach((a, i) => {
      for (let j = 0; j < ranks[i]!; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[m * K + k]! * a[j * K + k]!;
        ref.push(s);
      }
    });
  }
  return normErr(got, ref);
}

describe('loraDown', () => {
  it.each([
    [1, 48, [4]],
    [7, 37, [2, 5, 1]],
    [70, 131, [3, 1]],
    [1, 2048, [16, 16, 16]],
    [3, 5, [1]],
  ])('M=%i K=%i ranks %j matches float64 within 1e-6', async (M, K, ranks) => {
    expect(await runCase(M, K, ranks, M * 31 + K)).toBeLessThanOrEqual(1e-6);
  });

  it.each([
    [1, 48, [4, 4]],
    [5, 2048, [16]],
  ])('M=%i K=%i ranks %j with the Gemma pre-norm folded in', async (M, K, ranks) => {
    expect(await runCase(M, K, ranks, 7 * M + K, true)).toBeLessThanOrEqual(1e-6);
  });

  it('refuses no A, more than three and a rank of 0', async () => {
    const gpu = await testGpu();
    const b = gpu.buffer(64, 'b');
    const step = gpu.step('lora-down bad');
    expect(() => loraDown(step, { x: b, as: [], t: b, M: 1, K: 4 })).toThrow(/1 to 3/);
    expect(() => loraDown(step, { x: b, as: Array(4).fill({ a: b, rank: 1 }), t: b, M: 1, K: 4 })).toThrow(/1 to 3/);
    expect(() => loraDown(step, { x: b, as: [{ a: b, rank: 0 }], t: b, M: 1, K: 4 })).toThrow(/whole numbers > 0/);
    step.end();
    b.destroy();
  });
});
