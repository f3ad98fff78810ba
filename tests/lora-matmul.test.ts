// Weights with LoRA deltas attached, through the matmul plan layer, against float64
// x·(W + B'·A)ᵀ: every entry point (linear with bias / accumulate / shards, linearGeglu with the
// term on gate, up or both, linearMany with a pre-norm and only some weights adapted), the buffer
// variants and weight textures, and an int8 base (QLoRA-style).

import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/device.js';
import { loraFactors, setLoraDelta, splitFactor } from '../src/kernels/lora.js';
import { linear, linearGeglu, linearMany, prepareWeights, type MatmulVariant } from '../src/kernels/matmul.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { dequantizeRows, quantizeRows } from '../src/loader/quantize.js';
import { quantRow, type GpuWeight } from '../src/weights.js';
import { bf16ToF64, normErr, randomF32, testGpu, toBf16, uploadWeight } from './helpers/gpu.js';

const TOL = 1e-5;

/** A weight [N, K] (bf16 or int8) with a rank-r delta attached, and the float64 values of W + B'·A. */
/** Each adapted weight's factors, A's parts and B' (packed with it where a test packs textures). */
const factors = new Map<GpuWeight, GpuWeight[]>();
const withDowns = (ws: GpuWeight[]) => ws.flatMap((w) => [w, ...(factors.get(w) ?? [])]);

interface Adapted {
  w: GpuWeight;
  eff: Float64Array;
  buffers: GPUBuffer[];
}

function adapted(gpu: Gpu, N: number, K: number, rank: number, seed: number, opts: { format?: 'bf16' | 'int8'; shardRows?: number; name?: string } = {}): Adapted {
  const words = toBf16(randomF32(N * K, seed, 0.5));
  let w: GpuWeight;
  let base: ArrayLike<number>;
  if (opts.format === 'int8') {
    const row = quantRow('int8', K);
    const bytes = new Uint8Array(N * row.bytes);
    quantizeRows('int8', words, N, K, bytes, row.bytes);
    w = { name: opts.name ?? 'w', shape: [N, K], dtype: 'int8', shards: [{ buffer: gpu.upload(bytes, 'w8'), rowStart: 0, rows: N }] };
    base = dequantizeRows('int8', bytes, N, K);
  } else {
    w = uploadWeight(gpu, words, [N, K], opts.shardRows ?? N, opts.name ?? 'w');
    base = bf16ToF64(words);
  }
  const buffers = w.shards.map((s) => s.buffer);
  const eff = Float64Array.from(base);
  if (rank > 0) {
    const a = randomF32(rank * K, seed + 1, 0.3);
    const bt = randomF32(rank * N, seed + 2, 0.3);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) for (let r = 0; r < rank; r++) eff[n * K + k] += bt[r * N + n]! * a[r * K + k]!;
    const d = loraFactors(gpu, 'lora', splitFactor(a, rank, K), bt, rank, N, K);
    setLoraDelta(w, d);
    factors.set(w, [d.down, d.up]);
    buffers.push(d.down.shards[0]!.buffer, d.up.shards[0]!.buffer);
  }
  return { w, eff, buffers };
}

const dot = (x: ArrayLike<number>, m: number, w: Float64Array, n: number, K: number) => {
  let s = 0;
  for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
  return s;
};
/** Gemma's RMSNorm x·rsqrt(mean(x²) + 1e-6)·(1 + w), in float64. */
function gemmaNorm(x: Float32Array, M: number, K: number, w: Float64Array): Float64Array {
  const out = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    let ss = 0;
    for (let k = 0; k < K; k++) ss += x[m * K + k]! ** 2;
    const inv = 1 / Math.sqrt(ss / K + 1e-6);
    for (let k = 0; k < K; k++) out[m * K + k] = x[m * K + k]! * inv * (1 + w[k]!);
  }
  return out;
}

const gelu = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));

function cleanup(gpu: Gpu, ws: Adapted[], more: GPUBuffer[]): void {
  for (const a of ws) {
    setLoraDelta(a.w, undefined);
    weightTexture(a.w)?.texture.destroy();
    for (const f of factors.get(a.w) ?? []) weightTexture(f)?.texture.destroy();
    factors.delete(a.w);
    for (const b of a.buffers) b.destroy();
  }
  for (const b of more) b.destroy();
}

describe('splitFactor', () => {
  it('keeps A to 2⁻²⁴ of |A| in three bf16 parts, tiny and huge values included', () => {
    const a = Float32Array.from([...randomF32(200, 41), 1e-30, -1e30, 0, 1 / 3, -7.123456e-5]);
    const words = splitFactor(a, 1, a.length);
    const v = bf16ToF64(words);
    for (let i = 0; i < a.length; i++) {
      const sum = v[i]! + v[a.length + i]! + v[2 * a.length + i]!;
      expect(Math.abs(sum - a[i]!), `a[${i}] = ${a[i]}`).toBeLessThanOrEqual(Math.abs(a[i]!) * 2 ** -24);
    }
  });
});

describe('linear with a LoRA delta', () => {
  it.each<[MatmulVariant, number, number, number, number, number]>([
    // variant, M, K, N, rank, shard rows
    ['tiled', 70, 37, 50, 3, 50],
    ['gemv', 2, 45, 33, 5, 10],
    // Decode-sized M on textures: a GEMM tiling compiles for minutes on llvmpipe (the golden tests run one).
    ['texture', 2, 36, 41, 2, 41],
    ['lanes', 1, 64, 20, 2, 20],
  ])('%s M=%i K=%i N=%i rank %i (bias, accumulate, shards of %i rows)', async (variant, M, K, N, rank, shardRows) => {
    const gpu = await testGpu();
    const a = adapted(gpu, N, K, rank, M + K + N, { shardRows });
    if (variant === 'texture') await prepareWeights(gpu, withDowns([a.w]), 'texture');
    const x = randomF32(M * K, 7);
    const bias = toBf16(randomF32(N, 8));
    const init = randomF32(M * N, 9);
    const gx = gpu.upload(x, 'x');
    const gb = uploadWeight(gpu, bias, [N], N, 'bias');
    const out = gpu.upload(init, 'out');
    const step = gpu.step('lora linear');
    linear(step, { x: gx, w: a.w, bias: gb, out, M, K, N, accumulate: true, variant });
    step.end();
    const got = await gpu.readF32(out, 0, M * N);
    const bv = bf16ToF64(bias);
    const ref = Array.from({ length: M * N }, (_, i) => init[i]! + dot(x, Math.floor(i / N), a.eff, i % N, K) + bv[i % N]!);
    cleanup(gpu, [a], [gx, out, gb.shards[0]!.buffer]);
    expect(normErr(got, ref)).toBeLessThanOrEqual(TOL);
  });

  it('on an int8 base (gemv and tiled)', async () => {
    const gpu = await testGpu();
    const [M, K, N] = [3, 64, 24];
    const a = adapted(gpu, N, K, 4, 11, { format: 'int8' });
    const x = randomF32(M * K, 12);
    const gx = gpu.upload(x, 'x');
    const ref = Array.from({ length: M * N }, (_, i) => dot(x, Math.floor(i / N), a.eff, i % N, K));
    for (const variant of ['gemv', 'tiled'] as const) {
      const out = gpu.buffer(M * N * 4, 'out');
      const step = gpu.step('lora int8');
      linear(step, { x: gx, w: a.w, out, M, K, N, variant });
      step.end();
      expect(normErr(await gpu.readF32(out, 0, M * N), ref), variant).toBeLessThanOrEqual(TOL);
      out.destroy();
    }
    cleanup(gpu, [a], [gx]);
  });

  it('is refused on a soft-capped product', async () => {
    const gpu = await testGpu();
    const a = adapted(gpu, 4, 8, 1, 13);
    const b = gpu.buffer(64, 'b');
    const step = gpu.step('lora softcap');
    expect(() => linear(step, { x: b, w: a.w, out: b, M: 1, K: 8, N: 4, softcap: 30 })).toThrow(/soft-capped w/);
    step.end();
    cleanup(gpu, [a], [b]);
  });
});

describe('linearGeglu with LoRA deltas', () => {
  it.each<[MatmulVariant, number, number]>([
    ['gemv', 1, 2],
    ['tiled', 2, 0],
    ['texture', 3, 2],
  ])('%s: gate rank %i, up rank %i, after a Gemma pre-norm', async (variant, rg, ru) => {
    const gpu = await testGpu();
    const [M, K, N] = variant === 'tiled' ? [9, 40, 30] : [2, 40, 30];
    const gate = adapted(gpu, N, K, rg, 21, { name: 'gate' });
    const up = adapted(gpu, N, K, ru, 22, { name: 'up' });
    if (variant === 'texture') await prepareWeights(gpu, withDowns([gate.w, up.w]), 'texture');
    const x = randomF32(M * K, 23);
    const nw = toBf16(randomF32(K, 24, 0.5));
    const gx = gpu.upload(x, 'x');
    const gn = uploadWeight(gpu, nw, [K], K, 'norm');
    const scratch = gpu.buffer(M * K * 4, 'scratch');
    const out = gpu.buffer(M * N * 4, 'out');
    const step = gpu.step('lora geglu');
    linearGeglu(step, { x: gx, gate: gate.w, up: up.w, out, M, K, N, variant, norm: { w: gn, eps: 1e-6, scratch } });
    step.end();
    const got = await gpu.readF32(out, 0, M * N);
    const normed = gemmaNorm(x, M, K, bf16ToF64(nw));
    const ref = Array.from({ length: M * N }, (_, i) => gelu(dot(normed, Math.floor(i / N), gate.eff, i % N, K)) * dot(normed, Math.floor(i / N), up.eff, i % N, K));
    cleanup(gpu, [gate, up], [gx, out, scratch, gn.shards[0]!.buffer]);
    expect(normErr(got, ref)).toBeLessThanOrEqual(TOL);
  });
});

describe('linearMany with LoRA deltas', () => {
  it.each<[MatmulVariant, number]>([
    ['gemv', 1],
    ['texture', 3],
  ])('%s M=%i: Q and V adapted, K not, after a Gemma pre-norm', async (variant, M) => {
    const gpu = await testGpu();
    const K = 48;
    const Ns = [48, 12, 12];
    const ws = Ns.map((N, i) => adapted(gpu, N, K, i === 1 ? 0 : 4, 31 + i, { name: `w${i}` }));
    if (variant === 'texture') await prepareWeights(gpu, withDowns(ws.map((a) => a.w)), 'texture');
    const x = randomF32(M * K, 34);
    const nw = toBf16(randomF32(K, 35, 0.5));
    const gx = gpu.upload(x, 'x');
    const gn = uploadWeight(gpu, nw, [K], K, 'norm');
    const scratch = gpu.buffer(M * K * 4, 'scratch');
    const outs = Ns.map((N) => gpu.buffer(M * N * 4, 'out'));
    const step = gpu.step('lora many');
    linearMany(step, { x: gx, ws: ws.map((a) => a.w), outs, M, K, norm: { w: gn, eps: 1e-6, scratch }, variant: variant === 'texture' ? undefined : variant });
    step.end();
    const normed = gemmaNorm(x, M, K, bf16ToF64(nw));
    for (const [i, N] of Ns.entries()) {
      const got = await gpu.readF32(outs[i]!, 0, M * N);
      const ref = Array.from({ length: M * N }, (_, j) => dot(normed, Math.floor(j / N), ws[i]!.eff, j % N, K));
      expect(normErr(got, ref), `output ${i}`).toBeLessThanOrEqual(TOL);
    }
    cleanup(gpu, ws, [gx, scratch, ...outs, gn.shards[0]!.buffer]);
  });
});
