// Shared test helpers: one device per test file, seeded random data, bf16 packing and the
// normwise error measure (max|cand − ref| / max|ref|) every kernel test states its tolerance in.

import { requestGpu } from '../../src/node/gpu.js';
import type { Gpu } from '../../src/device.js';
import { toBf16 } from '../../src/weight-upload.js';

let gpuPromise: Promise<Gpu> | undefined;
export function testGpu(): Promise<Gpu> {
  gpuPromise ??= requestGpu();
  return gpuPromise;
}

/** mulberry32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform random floats in [-scale, scale). */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export { toBf16, uploadWeight } from '../../src/weight-upload.js';

/** The float64 values of bf16 words (for references). */
export function bf16ToF64(words: Uint16Array): Float64Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Float64Array(words.length);
  for (let i = 0; i < words.length; i++) {
    u[0] = words[i]! << 16;
    out[i] = f[0]!;
  }
  return out;
}

/** Random bf16 weights: the words for the GPU and their exact values for the float64 reference. */
export function randomBf16(n: number, seed: number, scale = 1): { words: Uint16Array; values: Float64Array } {
  const words = toBf16(randomF32(n, seed, scale));
  return { words, values: bf16ToF64(words) };
}

export { normErr } from '../../src/node/golden.js';

/** Largest and mean absolute difference (image comparisons state their bars this way). */
export function absErrors(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > max) max = d;
    sum += d;
  }
  return { max, mean: sum / a.length };
}
