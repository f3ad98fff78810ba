// Every matmul variant, forced, against a float64 reference: random shapes (M = 1, odd K, sizes off
// the tiles, bias, accumulate, shards, GEGLU) and the real PaliGemma shapes with few rows.
// Tolerance: normErr = max|gpu − ref| / max|ref| ≤ 1e-5 (f32 accumulation over K ≤ 16384 terms).

import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/device.js';
import { MATMUL_VARIANTS, linear, linearGeglu, linearMany, prepareWeights, subgroupsOf8, variantMaxRows, type MatmulVariant } from '../src/kernels/matmul.js';
import { matmulTexture, textureTiling, type TextureTiling } from '../src/kernels/matmul-texture.js';
import { createWeightTexture, scratchTexture, weightTexture } from '../src/kernels/weight-texture.js';
import { softcapRef } from '../src/kernels/softcap.js';
import { normErr, randInt, randomF32, rng, testGpu, uploadWeight } from './helpers/gpu.js';

const TOL = 1e-5;

interface Case {
  M: number;
  K: number;
  N: number;
  bias: boolean;
  accumulate: boolean;
  geglu: boolean;
  shardRows: number;
  seed: number;
  /** c·tanh(v/c) on the result (Gemma 2's logits). */
  softcap?: number;
  /** Force the texture variant's tiling (default: the adapter's). */
  tiling?: TextureTiling;
}

/** bf16 word → its value, for the reference. */
const BF16 = (() => {
  const f = new Float32Array(1), u = new Uint32Array(f.buffer), t = new Float64Array(65536);
  for (let i = 0; i < 65536; i++) {
    u[0] = i << 16;
    t[i] = f[0]!;
  }
  return t;
})();

/** Random bf16 words with |value| in [2^-8, 0.5): fast enough for the 33 M-element real shapes. */
function randomWords(n: number, seed: number): Uint16Array {
  const r = rng(seed);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const b = (r() * 0x100000) >>> 0;
    out[i] = ((b & 1) << 15) | ((119 + ((b >>> 1) % 7)) << 7) | ((b >>> 4) & 0x7f);
  }
  return out;
}

function dot(x: Float32Array, m: number, w: Uint16Array, n: number, K: number): number {
  let s = 0;
  for (let k = 0; k < K; k++) s += x[m * K + k]! * BF16[w[n * K + k]!]!;
  return s;
}

const gelu = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));

/**
 * Runs one case through `variant` and returns the normwise error against float64 — over all
 * columns, or for big weights over 97 random columns plus the first and last (the GPU still
 * computes them all).
 */
async function runCase(gpu: Gpu, variant: MatmulVariant, c: Case): Promise<number> {
  const { M, K, N } = c;
  const x = randomF32(M * K, c.seed);
  const w = randomWords(N * K, c.seed + 1);
  const u = c.geglu ? randomWords(N * K, c.seed + 2) : w;
  const bias = randomWords(N, c.seed + 3);
  const init = randomF32(M * N, c.seed + 4);
  const gx = gpu.upload(x, 'x');
  const gw = uploadWeight(gpu, w, [N, K], c.shardRows, 'w');
  const gu = uploadWeight(gpu, u, [N, K], c.shardRows, 'up');
  const gb = uploadWeight(gpu, bias, [N], N, 'bias');
  const out = gpu.upload(init, 'out');
  if (variant === 'texture') await prepareWeights(gpu, [gw, gu], 'texture');
  const step = gpu.step('matmul test');
  const tiling = c.tiling;
  if (c.geglu) linearGeglu(step, { x: gx, gate: gw, up: gu, out, M, K, N, variant, tiling });
  else linear(step, { x: gx, w: gw, bias: c.bias ? gb : undefined, out, M, K, N, accumulate: c.accumulate, softcap: c.softcap, variant, tiling });
  step.end();
  const all = await gpu.readF32(out, 0, M * N);
  for (const b of [gx, out, ...gw.shards.map((s) => s.buffer), ...gu.shards.map((s) => s.buffer), gb.shards[0]!.buffer]) b.destroy();
  for (const t of [weightTexture(gw), weightTexture(gu)]) t?.texture.destroy();
  const r = rng(c.seed + 5);
  const cols = N * K <= 1 << 20 ? [...Array(N).keys()] : [0, N - 1, ...Array.from({ length: 97 }, () => Math.floor(r() * N))];
  const got: number[] = [];
  const ref: number[] = [];
  for (let m = 0; m < M; m++) {
    for (const n of cols) {
      const g = dot(x, m, w, n, K);
      let v = c.geglu ? gelu(g) * dot(x, m, u, n, K) : softcapRef(g + (c.bias ? BF16[bias[n]!]! : 0), c.softcap ?? 0);
      if (c.accumulate && !c.geglu) v += init[m * N + n]!;
      ref.push(v);
      got.push(all[m * N + n]!);
    }
  }
  return normErr(got, ref);
}

function randomCase(seed: number, variant: MatmulVariant): Case {
  const r = rng(seed);
  const M = r() < 0.3 ? 1 : randInt(r, 1, Math.min(variantMaxRows(variant), 150));
  // Odd K straddles rows (tiled, gemv); texture takes K % 4 == 0 (K % 8 == 4 ends in a half texel), lanes K % 8 == 0.
  const u = r();
  const K =
    u < 0.5 && (variant === 'tiled' || variant === 'gemv') ? randInt(r, 1, 40) * 2 + 1
    : u < 0.5 && variant === 'texture' ? randInt(r, 0, 79) * 8 + 4
    : randInt(r, 1, 80) * 8;
  const N = randInt(r, 1, 300);
  return {
    M, K, N,
    bias: r() < 0.5,
    accumulate: r() < 0.5,
    geglu: r() < 0.25,
    shardRows: r() < 0.3 ? randInt(r, 1, N) : N,
    seed,
  };
}

describe.each(MATMUL_VARIANTS)('matmul variant %s', (variant) => {
  it('matches float64 on random shapes', async () => {
    const gpu = await testGpu();
    for (let i = 0; i < 14; i++) {
      const c = randomCase(1000 * i + variant.length, variant);
      const err = await runCase(gpu, variant, c);
      expect(err, JSON.stringify(c)).toBeLessThanOrEqual(TOL);
    }
  });

  // [K, N] of every PaliGemma linear layer (SigLIP so400m with its patch embedding, projector,
  // Gemma-2B); few rows keep the reference quick.
  it.each([
    [588, 1152], [1152, 1152], [1152, 4304], [4304, 1152], [1152, 2048],
    [2048, 2048], [2048, 256], [2048, 16384], [16384, 2048],
  ].filter(([K]) => variant !== 'lanes' || K! % 8 === 0))('real shape K=%i N=%i', async (K, N) => {
    const gpu = await testGpu();
    const M = Math.min(3, variantMaxRows(variant));
    // GEGLU at the real MLP shape for the decode/lavapipe variants (tiled pads M=3 to 64 rows: slow on a CPU adapter).
    for (const geglu of N === 16384 && variant !== 'tiled' ? [false, true] : [false]) {
      const err = await runCase(gpu, variant, { M, K, N, bias: K === 1152, accumulate: N === 2048, geglu, shardRows: N, seed: K + N });
      expect(err).toBeLessThanOrEqual(TOL);
    }
  });

  // Values of a few units against a cap of 2: both branches of the tanh (|v/c| below and above 0.625).
  it('softcap in the epilogue (Gemma 2 logits) matches float64', async () => {
    const gpu = await testGpu();
    const c = { M: 2, K: 256, N: 300, bias: true, accumulate: true, geglu: false, shardRows: 128, seed: 17, softcap: 2 };
    expect(await runCase(gpu, variant, c), JSON.stringify(c)).toBeLessThanOrEqual(TOL);
  });

  // The tied LM head stays in buffer shards (the embedding gather reads them): buffer variants only.
  it.skipIf(variant === 'texture')('LM-head-like sharding: 32768-row shards, the last one partial', async () => {
    const gpu = await testGpu();
    const err = await runCase(gpu, variant, { M: 1, K: 2048, N: 32768 + 1000, bias: false, accumulate: false, geglu: false, shardRows: 32768, seed: 7 });
    expect(err).toBeLessThanOrEqual(TOL);
  });
});

// The GEMM path for adapters whose subgroups are not 8 wide (x rows loaded at uniform addresses, no
// subgroupBroadcast), which lavapipe's plan never picks on its own. 4 columns per lane instead of
// the plan's 16: same code path, a fraction of the 16-column kernel's ~30 s LLVM compile.
it('matmul texture GEMM without subgroupBroadcast matches float64', async () => {
  const gpu = await testGpu();
  const tiling: TextureTiling = { rows: 8, cols: 4, lanes: 16, broadcast: false };
  const c = { M: 37, K: 200, N: 300, bias: true, accumulate: true, geglu: false, shardRows: 300, seed: 11, tiling };
  expect(await runCase(gpu, 'texture', c), JSON.stringify(c)).toBeLessThanOrEqual(TOL);
});

// A decode batch on adapters without subgroups of 8: x rows at uniform addresses, over 64 KiB (4 ×
// 6004 floats) each from its own uniform copy (lavapipe's plan shares them by subgroupBroadcast).
it.each([
  [4, 6004, false],
  [3, 1028, false],
  [4, 6004, true],
] as const)('matmul texture decode batch M=%i K=%i (GEGLU %s) without subgroupBroadcast matches float64', async (M, K, geglu) => {
  const gpu = await testGpu();
  const tiling: TextureTiling = { rows: M, cols: 8, lanes: 16, broadcast: false };
  const c = { M, K, N: 40, bias: !geglu, accumulate: !geglu, geglu, shardRows: 40, seed: 13, tiling };
  expect(await runCase(gpu, 'texture', c), JSON.stringify(c)).toBeLessThanOrEqual(TOL);
});

// Forced tilings between the plan's: 5–7 and 12 rows share x as the GEMM does (lane r loads rows r
// and r + 8), 3 rows as a decode batch (lane l half l % 2 of row l / 2). Subgroups of exactly 8 lanes only.
it.each([6, 3, 12])('matmul texture with subgroupBroadcast at %i rows per lane matches float64', async (rows) => {
  const gpu = await testGpu();
  if (!subgroupsOf8(gpu)) return;
  const tiling: TextureTiling = { rows, cols: 4, lanes: 16, broadcast: true };
  const c = { M: 2 * rows - 1, K: 36, N: 70, bias: true, accumulate: true, geglu: false, shardRows: 70, seed: 17, tiling };
  expect(await runCase(gpu, 'texture', c), JSON.stringify(c)).toBeLessThanOrEqual(TOL);
});

// The GEMM tilings read x from a texture (xTexture): copied where rows are a multiple of 64 floats,
// else (GEMMs of 1024 columns or more and 2^26 multiply-adds) written by kv-texture's kernel
// (K = 4100), else read from storage (K = 36). x here starts 256 bytes into its buffer; a row count past one 16-row block,
// GEGLU too. K = 4160 / 4100: x and weight rows of 3 column blocks (weight-texture.ts), x copied or
// written block by block.
it.each([
  [false, 37, 192, 300],
  [true, 37, 192, 300],
  [false, 20, 4160, 40],
  [true, 20, 4100, 1030],
  [false, 37, 36, 70],
])('matmul texture GEMM with x copied into a texture (GEGLU %s, %i×%i×%i) matches float64', async (geglu, M, K, N) => {
  const gpu = await testGpu();
  if (!subgroupsOf8(gpu)) return;
  const x = randomF32(M * K, 41);
  const [w, u] = [randomWords(N * K, 42), randomWords(N * K, 43)];
  const padded = new Float32Array(64 + M * K);
  padded.set(x, 64);
  const gx = gpu.upload(padded, 'x');
  const [gw, gu] = [uploadWeight(gpu, w, [N, K]), uploadWeight(gpu, u, [N, K])];
  await prepareWeights(gpu, [gw, gu], 'texture');
  const out = gpu.buffer(M * N * 4, 'out');
  const step = gpu.step('x texture');
  const kernels: string[] = [];
  const dispatch = step.dispatch.bind(step);
  step.dispatch = (k, ...rest) => (kernels.push(k.def.name), dispatch(k, ...rest));
  const xb = { buffer: gx, offset: 256, size: M * K * 4 };
  if (geglu) linearGeglu(step, { x: xb, gate: gw, up: gu, out, M, K, N });
  else linear(step, { x: xb, w: gw, out, M, K, N });
  step.end();
  if (K % 64 === 0) expect(kernels).toEqual([expect.stringMatching(/-16x\dx16bxt$/)]);
  else if (K > 64) expect(kernels).toEqual(['kv-texture', expect.stringMatching(/-16x\dx16bxtt4$/)]);
  else expect(kernels).toEqual([expect.stringMatching(/-16x\dx16bt4$/)]);
  const got = await gpu.readF32(out, 0, M * N);
  const ref = Float64Array.from({ length: M * N }, (_, e) => {
    const [m, n] = [Math.floor(e / N), e % N];
    return geglu ? gelu(dot(x, m, w, n, K)) * dot(x, m, u, n, K) : dot(x, m, w, n, K);
  });
  expect(normErr(got, ref)).toBeLessThanOrEqual(TOL);
});

// The GEGLU kernel reads gate and up at the same texture coordinates: textures laid out apart are refused.
it('matmul texture refuses gate and up textures of different layouts, with a clear error', async () => {
  const gpu = await testGpu();
  const [N, K] = [12, 64];
  const gate = createWeightTexture(gpu.device, { name: 'gate', shape: [N, K], dtype: 'bf16', shards: [] });
  const up = createWeightTexture(gpu.device, { name: 'up', shape: [N, K], dtype: 'bf16', shards: [] }, 4);
  const [x, out] = [gpu.buffer(2 * K * 4, 'x'), gpu.buffer(2 * N * 4, 'out')];
  const step = gpu.step('bad geglu');
  const e = { bias: false, accumulate: false, geglu: true };
  expect(() => matmulTexture(step, { x, out }, gate, up, { M: 2, K, N, ldo: N, colOff: 0 }, e, textureTiling(2, K, true, false))).toThrow(/gate and up textures of different layouts \(12 \/ 4 rows a layer, 1 \/ 3 layers a block\)/);
  for (const t of [gate, up]) t.texture.destroy();
});

describe('matmul decisions', () => {
  it.each([
    [1, 64, [48, 16, 16], undefined],
    [3, 64, [48, 16, 16], 'gemv'],
    [2, 37, [20, 9, 300], 'gemv'],
    [1, 2048, [2048, 256, 256], 'gemv'],
    [1, 40, [24, 8], 'gemv'],
    [5, 40, [24, 8, 8], 'tiled'],
    // Weight textures: one dispatch for decode-sized M (K % 8 == 4 included), separate GEMMs above.
    [1, 64, [48, 16, 16], 'texture'],
    [3, 2048, [2048, 256, 256], 'texture'],
    [2, 36, [20, 9, 300], 'texture'],
    [1, 40, [24, 8], 'texture'],
    [5, 40, [24, 8, 8], 'texture'],
    // x over 64 KiB (4 × 6004 floats): shared by subgroupBroadcast, or each row from its own uniform copy.
    [4, 6004, [40, 8, 8], 'texture'],
  ] as const)('linearMany equals separate linears (M=%i K=%i N=%j, variant %s)', async (M, K, shapes, variant) => {
    const gpu = await testGpu();
    const x = randomF32(M * K, 1);
    const ws = shapes.map((N, i) => randomWords(N * K, 10 + i));
    const gx = gpu.upload(x, 'x');
    const gws = ws.map((w, i) => uploadWeight(gpu, w, [shapes[i]!, K]));
    if (variant === 'texture') await prepareWeights(gpu, gws, 'texture');
    const outs = shapes.map((N) => gpu.buffer(M * N * 4, 'out'));
    const step = gpu.step('linearMany');
    const kernels: string[] = [];
    const dispatch = step.dispatch.bind(step);
    step.dispatch = (k, ...rest) => (kernels.push(k.def.name), dispatch(k, ...rest));
    linearMany(step, { x: gx, ws: gws, outs, M, K, variant });
    step.end();
    // Decode-sized M on weight textures: one dispatch for all of them.
    if (variant === 'texture' && M <= 4) {
      const t = textureTiling(M, K, false, subgroupsOf8(gpu));
      const xRead = t.broadcast ? 'b' : M * K > 16384 ? 'ur' : 'u';
      expect(kernels).toEqual([expect.stringMatching(new RegExp(`^matmul-texture-many${shapes.length}-bf16-${M}x${t.cols}x${t.lanes}${xRead}(t4)?$`))]);
    }
    for (let i = 0; i < shapes.length; i++) {
      const got = await gpu.readF32(outs[i]!, 0, M * shapes[i]!);
      const ref = Float64Array.from({ length: M * shapes[i]! }, (_, e) => dot(x, Math.floor(e / shapes[i]!), ws[i]!, e % shapes[i]!, K));
      expect(normErr(got, ref)).toBeLessThanOrEqual(TOL);
    }
  });

  // Gemma's pre-norm folded into the decode GEMVs (variant gemv) or computed first (other variants).
  it.each([
    ['gemv', 1, 64, 'many'], ['gemv', 3, 64, 'many'], ['gemv', 2, 37, 'many'], ['gemv', 1, 2048, 'geglu'],
    ['gemv', 2, 40, 'geglu'], ['tiled', 3, 64, 'many'], ['tiled', 2, 40, 'geglu'], ['texture', 1, 64, 'many'], ['texture', 2, 36, 'many'],
  ] as const)('pre-norm with variant %s, M=%i K=%i (%s) equals rmsNorm then the product', async (variant, M, K, kind) => {
    const gpu = await testGpu();
    const x = randomF32(M * K, 21, 3);
    const nw = randomWords(K, 22);
    const eps = 1e-6;
    const normed = new Float64Array(M * K);
    for (let m = 0; m < M; m++) {
      let ss = 0;
      for (let k = 0; k < K; k++) ss += x[m * K + k]! ** 2;
      const inv = 1 / Math.sqrt(ss / K + eps);
      for (let k = 0; k < K; k++) normed[m * K + k] = x[m * K + k]! * inv * (1 + BF16[nw[k]!]!);
    }
    const ref = (w: Uint16Array, m: number, n: number) => {
      let s = 0;
      for (let k = 0; k < K; k++) s += normed[m * K + k]! * BF16[w[n * K + k]!]!;
      return s;
    };
    const norm = { w: uploadWeight(gpu, nw, [K]), eps, scratch: gpu.buffer(M * K * 4, 'normed') };
    const gx = gpu.upload(x, 'x');
    const shapes = kind === 'many' ? [24, 8, 8] : [40, 40];
    const ws = shapes.map((N, i) => randomWords(N * K, 30 + i));
    const gws = ws.map((w, i) => uploadWeight(gpu, w, [shapes[i]!, K]));
    if (variant === 'texture') await prepareWeights(gpu, gws, 'texture');
    const outs = shapes.map((N) => gpu.buffer(M * N * 4, 'out'));
    const step = gpu.step('pre-norm');
    if (kind === 'many') linearMany(step, { x: gx, norm, ws: gws, outs, M, K, variant });
    else linearGeglu(step, { x: gx, norm, gate: gws[0]!, up: gws[1]!, out: outs[0]!, M, K, N: shapes[0]!, variant });
    step.end();
    const outCount = kind === 'many' ? shapes.length : 1;
    for (let i = 0; i < outCount; i++) {
      const N = shapes[i]!;
      const got = await gpu.readF32(outs[i]!, 0, M * N);
      const want = Float64Array.from({ length: M * N }, (_, e) => {
        const [m, n] = [Math.floor(e / N), e % N];
        return kind === 'many' ? ref(ws[i]!, m, n) : gelu(ref(ws[0]!, m, n)) * ref(ws[1]!, m, n);
      });
      expect(normErr(got, want)).toBeLessThanOrEqual(TOL);
    }
  });

  // Attention's heads (many short rows) and the down projection (few long rows) share the x copy's
  // label: one texture grown to both was 4096 rows of 16384 floats on the 3B model.
  it('keeps a scratch texture per shape no other covers, each sized for its own request', async () => {
    const gpu = await testGpu();
    const rows = (t: { H: number; L: number }) => t.H * t.L;
    const tall = scratchTexture(gpu, 'scratch test', 4096, 256);
    const wide = scratchTexture(gpu, 'scratch test', 260, 16384);
    expect(wide).not.toBe(tall);
    expect([rows(tall), tall.W * 4]).toEqual([4096, 256]);
    expect([rows(wide), wide.W * 4]).toEqual([512, 16384]);
    expect(scratchTexture(gpu, 'scratch test', 2080, 256)).toBe(tall);
    expect(scratchTexture(gpu, 'scratch test', 300, 1000)).toBe(wide);
    // One that covers an older one replaces it; the other stays.
    const both = scratchTexture(gpu, 'scratch test', 700, 16384);
    expect([rows(both), both.W * 4]).toEqual([768, 16384]);
    expect(scratchTexture(gpu, 'scratch test', 500, 10000)).toBe(both);
    expect(scratchTexture(gpu, 'scratch test', 3000, 200)).toBe(tall);
    const other = scratchTexture(gpu, 'other label', 260, 16384);
    expect(other).not.toBe(wide);
    for (const t of [tall, wide, both, other]) t.texture.destroy();
  });

  it('rejects mismatched weight shapes', async () => {
    const gpu = await testGpu();
    const w = uploadWeight(gpu, randomWords(8 * 4, 1), [8, 4]);
    const step = gpu.step('bad');
    expect(() => linear(step, { x: gpu.buffer(16, 'x'), w, out: gpu.buffer(32, 'o'), M: 1, K: 4, N: 9 })).toThrow(/shape/);
    const conv = uploadWeight(gpu, randomWords(8 * 12, 1), [8, 3, 2, 2]);
    expect(() => linear(step, { x: gpu.buffer(64, 'x'), w: conv, out: gpu.buffer(32, 'o'), M: 1, K: 16, N: 8 })).toThrow(/\[8, 3, 2, 2\], expected \[8, 16\]/);
  });

  // A conv kernel [N, c, kh, kw] is the Linear weight [N, c·kh·kw], in buffers and in textures.
  it.each(['tiled', 'texture'] as const)('reads a conv kernel [N, c, kh, kw] as [N, K] (%s)', async (variant) => {
    const gpu = await testGpu();
    const [M, N, K] = [5, 24, 3 * 2 * 2];
    const x = randomF32(M * K, 41);
    const w = randomWords(N * K, 42);
    const gx = gpu.upload(x, 'x');
    const gw = uploadWeight(gpu, w, [N, 3, 2, 2]);
    if (variant === 'texture') await prepareWeights(gpu, [gw], 'texture');
    expect(weightTexture(gw) !== undefined).toBe(variant === 'texture');
    const out = gpu.buffer(M * N * 4, 'out');
    const step = gpu.step('conv as linear');
    linear(step, { x: gx, w: gw, out, M, K, N, variant });
    step.end();
    const ref = Float64Array.from({ length: M * N }, (_, e) => dot(x, Math.floor(e / N), w, e % N, K));
    expect(normErr(await gpu.readF32(out, 0, M * N), ref)).toBeLessThanOrEqual(TOL);
  });
});
