// The matmul and embedding kernels on int8 / int4 weights (rows of codes and scales, as the loader
// quantizes them) against float64 on the dequantized values f32(q·scale): every variant, K % 32 in
// {0, 8, 16, 24} (and K % 8 == 4 for textures, odd K for the element-wise kernels), N off the tiles,
// shards, the fused decode paths (Q/K/V in one dispatch, GEGLU, folded pre-norm), and real shapes.

import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/device.js';
import { embed } from '../src/kernels/embed.js';
import { linear, linearGeglu, linearMany, prepareWeights } from '../src/kernels/matmul.js';
import type { TextureTiling } from '../src/kernels/matmul-texture.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { dequantizeRows, quantizeRows } from '../src/loader/quantize.js';
import { quantRow, type GpuWeight, type Quantization } from '../src/weights.js';
import { normErr, randInt, randomF32, rng, testGpu, toBf16 } from './helpers/gpu.js';

const TOL = 1e-5;

/** A random [N, K] weight quantized as the loader does, uploaded in shards of `shardRows` rows, and its dequantized values. */
function quantizedWeight(gpu: Gpu, q: Quantization, N: number, K: number, seed: number, shardRows = N, name = 'w'): { w: GpuWeight; deq: Float32Array } {
  const words = toBf16(randomF32(N * K, seed, 0.5));
  const row = quantRow(q, K);
  const bytes = new Uint8Array(N * row.bytes);
  quantizeRows(q, words, N, K, bytes, row.bytes);
  const shards: GpuWeight['shards'] = [];
  for (let rowStart = 0; rowStart < N; rowStart += shardRows) {
    const rows = Math.min(shardRows, N - rowStart);
    shards.push({ buffer: gpu.upload(bytes.slice(rowStart * row.bytes, (rowStart + rows) * row.bytes), `${name}[${rowStart}]`), rowStart, rows });
  }
  return { w: { name, shape: [N, K], dtype: q, shards }, deq: dequantizeRows(q, bytes, N, K) };
}

const dot = (x: ArrayLike<number>, m: number, w: Float32Array, n: number, K: number) => {
  let s = 0;
  for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
  return s;
};
const gelu = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));

type Variant = 'texture' | 'gemv' | 'tiled';
interface Case { M: number; K: number; N: number; geglu: boolean; accumulate: boolean; shardRows: number; seed: number; tiling?: TextureTiling }

async function runCase(gpu: Gpu, q: Quantization, variant: Variant, c: Case): Promise<number> {
  const { M, K, N } = c;
  const x = randomF32(M * K, c.seed);
  const init = randomF32(M * N, c.seed + 4);
  const g = quantizedWeight(gpu, q, N, K, c.seed + 1, c.shardRows, 'gate');
  const u = quantizedWeight(gpu, q, N, K, c.seed + 2, c.shardRows, 'up');
  const gx = gpu.upload(x, 'x');
  const out = gpu.upload(init, 'out');
  if (variant === 'texture') {
    await prepareWeights(gpu, [g.w, u.w], 'texture');
    expect(weightTexture(g.w)?.format).toBe(q);
  }
  const step = gpu.step('quantized matmul');
  if (c.geglu) linearGeglu(step, { x: gx, gate: g.w, up: u.w, out, M, K, N, variant, tiling: c.tiling });
  else linear(step, { x: gx, w: g.w, out, M, K, N, accumulate: c.accumulate, variant, tiling: c.tiling });
  step.end();
  const got = await gpu.readF32(out, 0, M * N);
  for (const b of [gx, out, ...g.w.shards.map((s) => s.buffer), ...u.w.shards.map((s) => s.buffer)]) b.destroy();
  for (const t of [weightTexture(g.w), weightTexture(u.w)]) t?.texture.destroy();
  const r = rng(c.seed + 5);
  const cols = N * K <= 1 << 20 ? [...Array(N).keys()] : [0, N - 1, ...Array.from({ length: 61 }, () => Math.floor(r() * N))];
  const ref: number[] = [];
  const cand: number[] = [];
  for (let m = 0; m < M; m++) {
    for (const n of cols) {
      const a = dot(x, m, g.deq, n, K);
      ref.push(c.geglu ? gelu(a) * dot(x, m, u.deq, n, K) : a + (c.accumulate ? init[m * N + n]! : 0));
      cand.push(got[m * N + n]!);
    }
  }
  return normErr(cand, ref);
}

/** K % 32 in {4 (a last half slice), 8, 16, 24} on textures, {0, 8, 16, odd} elsewhere (the GEMM case and real shapes add 20, 0, 16). */
function randomK(r: () => number, variant: Variant, i: number): number {
  const rem = variant === 'texture' ? [4, 8, 16, 24][i]! : [0, 8, 16, 5][i]!;
  return 32 * randInt(r, 0, 6) + rem + (rem === 0 ? 32 : 0);
}

describe.each(['int8', 'int4'] as const)('%s weights', (q) => {
  it.each(['texture', 'gemv', 'tiled'] as const)('variant %s matches float64 on random shapes', async (variant) => {
    const gpu = await testGpu();
    for (let i = 0; i < 4; i++) {
      const r = rng(100 * i + variant.length + (q === 'int4' ? 7 : 0));
      const N = randInt(r, 1, 140);
      // Decode-sized M on textures (the GEMM tilings compile for tens of seconds on lavapipe; one GEMM case below).
      const M = variant === 'texture' ? randInt(r, 1, 4) : variant === 'gemv' ? 1 + (i % 2) * 7 : randInt(r, 1, 70);
      const c: Case = { M, K: randomK(r, variant, i), N, geglu: i % 3 === 1, accumulate: i % 2 === 0, shardRows: i % 3 === 2 ? randInt(r, 1, N) : N, seed: 31 * i + 3 };
      expect(await runCase(gpu, q, variant, c), JSON.stringify(c)).toBeLessThanOrEqual(TOL);
    }
  });

  it('texture GEMM tiling (8 rows per lane) matches float64, K % 32 = 20', async () => {
    const gpu = await testGpu();
    const tiling: TextureTiling = { rows: 8, cols: 4, lanes: 16, broadcast: false };
    const c: Case = { M: 19, K: 116, N: 70, geglu: false, accumulate: true, shardRows: 70, seed: 5, tiling };
    expect(await runCase(gpu, q, 'texture', c)).toBeLessThanOrEqual(TOL);
  });

  // Real Gemma / SigLIP rows: SigLIP fc2 (K = 4304, K % 32 = 16), Gemma down (K = 16384) and the GEGLU pair.
  it.each([
    ['texture', 4304, 1152, false], ['texture', 16384, 2048, false], ['texture', 2048, 16384, true], ['gemv', 4304, 1152, false],
  ] as const)('real shape on %s: K=%i N=%i', async (variant, K, N, geglu) => {
    const gpu = await testGpu();
    expect(await runCase(gpu, q, variant, { M: 1, K, N, geglu, accumulate: !geglu, shardRows: N, seed: K })).toBeLessThanOrEqual(TOL);
  });

  it.each([
    ['texture', 1, 48], ['texture', 3, 2048], ['gemv', 2, 48], ['gemv', 1, 2048],
  ] as const)('Q, K, V in one dispatch on %s (M=%i K=%i), the pre-norm folded or first', async (variant, M, K) => {
    const gpu = await testGpu();
    const shapes = [K === 2048 ? 2048 : 48, 24, 24];
    const x = randomF32(M * K, 9, 3);
    const ws = shapes.map((N, i) => quantizedWeight(gpu, q, N, K, 50 + i, N, `w${i}`));
    if (variant === 'texture') await prepareWeights(gpu, ws.map((w) => w.w), 'texture');
    const nw = toBf16(randomF32(K, 8, 0.5));
    const norm = { w: { name: 'norm', shape: [K], dtype: 'bf16' as const, shards: [{ buffer: gpu.upload(nw, 'norm'), rowStart: 0, rows: K }] }, eps: 1e-6, scratch: gpu.buffer(M * K * 4, 'normed') };
    const outs = shapes.map((N) => gpu.buffer(M * N * 4, 'out'));
    const step = gpu.step('qkv');
    const kernels: string[] = [];
    const dispatch = step.dispatch.bind(step);
    step.dispatch = (k, ...rest) => (kernels.push(k.def.name), dispatch(k, ...rest));
    linearMany(step, { x: gpu.upload(x, 'x'), ws: ws.map((w) => w.w), outs, M, K, norm, variant });
    step.end();
    expect(kernels.filter((k) => k.startsWith('matmul'))).toEqual([expect.stringMatching(variant === 'texture' ? /^matmul-texture-many3-/ : /^matmul-gemv-many3-/)]);
    const bf = new Float32Array(new Uint32Array(Array.from(nw, (h) => h << 16)).buffer);
    const normed = new Float64Array(M * K);
    for (let m = 0; m < M; m++) {
      let ss = 0;
      for (let k = 0; k < K; k++) ss += x[m * K + k]! ** 2;
      const inv = 1 / Math.sqrt(ss / K + 1e-6);
      for (let k = 0; k < K; k++) normed[m * K + k] = x[m * K + k]! * inv * (1 + bf[k]!);
    }
    for (let i = 0; i < 3; i++) {
      const N = shapes[i]!;
      const ref = Float64Array.from({ length: M * N }, (_, e) => dot(normed, Math.floor(e / N), ws[i]!.deq, e % N, K));
      expect(normErr(await gpu.readF32(outs[i]!, 0, M * N), ref), `weight ${i}`).toBeLessThanOrEqual(TOL);
    }
  });

  it.each(['buffer', 'texture'] as const)('embedding gather from the quantized table (%s), sharded, ids past the vocabulary zeroed', async (layout) => {
    const gpu = await testGpu();
    const [V, D] = [300, 88];
    const t = quantizedWeight(gpu, q, V, D, 77, 128, 'embed');
    if (layout === 'texture') await prepareWeights(gpu, [t.w], 'texture');
    const ids = [0, 299, 5, 300, 128, 127, 1 << 30];
    const out = gpu.buffer(ids.length * D * 4, 'out');
    const step = gpu.step('embed');
    embed(step, { ids: gpu.upload(new Uint32Array(ids), 'ids'), table: t.w, out, rows: ids.length, dim: D, scale: Math.fround(Math.sqrt(D)) });
    step.end();
    const got = await gpu.readF32(out, 0, ids.length * D);
    const s = Math.fround(Math.sqrt(D));
    const ref = ids.flatMap((id) => Array.from({ length: D }, (_, k) => (id < V ? Math.fround(t.deq[id * D + k]! * s) : 0)));
    expect(Array.from(got)).toEqual(ref);
  });
});

describe('quantized weights are refused where they cannot go', () => {
  it('lanes reads bf16 rows only; gate and up of different formats', async () => {
    const gpu = await testGpu();
    const a = quantizedWeight(gpu, 'int8', 8, 16, 1);
    const b = quantizedWeight(gpu, 'int4', 8, 16, 2);
    const step = gpu.step('bad');
    expect(() => linear(step, { x: gpu.buffer(64, 'x'), w: a.w, out: gpu.buffer(32, 'o'), M: 1, K: 16, N: 8, variant: 'lanes' })).toThrow(/lanes reads bf16 rows/);
    expect(() => linearGeglu(step, { x: gpu.buffer(64, 'x'), gate: a.w, up: b.w, out: gpu.buffer(32, 'o'), M: 1, K: 16, N: 8 })).toThrow(/int8 but .* is int4/);
  });
});
