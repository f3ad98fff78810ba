import { describe, expect, it } from 'vitest';
import { attention, attentionConfig, type AttentionArgs, type AttentionConfig } from '../src/kernels/attention.js';
import { usesAttentionMatmul } from '../src/kernels/attention-matmul.js';
import { attentionSoftmax } from '../src/kernels/attention-softmax.js';
import { kvTexture } from '../src/kernels/kv-texture.js';
import { matmulTexture, textureTiling } from '../src/kernels/matmul-texture.js';
import { scratchTexture } from '../src/kernels/weight-texture.js';
import type { Gpu } from '../src/device.js';
import { normErr, randInt, rng, testGpu } from './helpers/gpu.js';
import { inputs, reference, type Shape } from './helpers/attention-ref.js';

// Tolerance: normErr = max|gpu − ref| / max|ref| ≤ 1e-5 (f32 accumulation over ≤ 4096 keys × 256 dims).
const TOL = 1e-5;

async function run(gpu: Gpu, s: Shape, q: Float32Array, k: Float32Array, v: Float32Array, scale: number, config?: AttentionConfig) {
  const batch = s.batch ?? 1;
  const n = batch * s.seqQ * s.heads * s.headDim;
  const out = gpu.buffer(n * 4, 'out');
  const step = gpu.step('attention');
  const keyStarts = s.keyStarts ? gpu.upload(Uint32Array.from(s.keyStarts), 'keyStarts') : undefined;
  attention(step, {
    q: gpu.upload(q, 'q'),
    k: gpu.upload(k, 'k'),
    v: gpu.upload(v, 'v'),
    out,
    seqQ: s.seqQ,
    seqK: s.seqK,
    heads: s.heads,
    kvHeads: s.kvHeads,
    headDim: s.headDim,
    scale,
    prefixLen: s.prefixLen,
    qStart: s.qStart,
    keyStart: s.keyStart,
    keyStarts,
    softcap: s.softcap,
    window: s.window,
    batch,
    config,
  });
  step.end();
  return gpu.readF32(out, 0, n);
}

const GPU_VARIANT: AttentionConfig = { wg: 64, lanesPerSlot: 8, slotsPerLane: 1, tile: 16 };

function randomShape(r: () => number): Shape {
  const [heads, kvHeads] = [[4, 4], [4, 2], [8, 1], [2, 1]][randInt(r, 0, 3)]!;
  const headDim = [8, 12, 16, 72, 256][randInt(r, 0, 4)]!;
  const seqK = [1, 7, 33, randInt(r, 1, 90)][randInt(r, 0, 3)]!;
  const seqQ = randInt(r, 1, seqK);
  const qStart = randInt(r, 0, seqK - seqQ); // a chunk of queries continuing a cache when > 0
  const prefixLen = randInt(r, 0, seqK);
  const keyStart = r() < 0.4 ? randInt(r, 0, seqK - 1) : 0;
  return { seqQ, seqK, heads, kvHeads, headDim, prefixLen, qStart, keyStart };
}

describe('attention (prefill)', () => {
  it('matches the float64 reference on random shapes, both variants', async () => {
    const gpu = await testGpu();
    const r = rng(42);
    for (let t = 0; t < 14; t++) {
      const s = randomShape(r);
      const { q, k, v } = inputs(s, 100 + t);
      const scale = 1 / Math.sqrt(s.headDim);
      const ref = reference(s, q, k, v, scale);
      // The adapter's variant on every shape, the other one on small heads (lavapipe compiles each pipeline for seconds).
      for (const config of s.headDim <= 16 ? [undefined, GPU_VARIANT] : [undefined]) {
        const got = await run(gpu, s, q, k, v, scale, config);
        const err = normErr(got, ref);
        expect(err, `${JSON.stringify(s)} ${JSON.stringify(config ?? attentionConfig(gpu, s.headDim, s.seqQ * (s.heads / s.kvHeads)))}`).toBeLessThanOrEqual(TOL);
      }
    }
  });

  it('Gemma prefill: 8 q heads / 1 KV head × 256 over 260 tokens, prefixLen 259', async () => {
    const gpu = await testGpu();
    const s: Shape = { seqQ: 260, seqK: 260, heads: 8, kvHeads: 1, headDim: 256, prefixLen: 259, qStart: 0, keyStart: 0 };
    const { q, k, v } = inputs(s, 7);
    const got = await run(gpu, s, q, k, v, 1 / 16);
    expect(normErr(got, reference(s, q, k, v, 1 / 16))).toBeLessThanOrEqual(TOL);
  });

  it('SigLIP: 16 heads × 72 over 256 tokens, no mask', async () => {
    const gpu = await testGpu();
    const s: Shape = { seqQ: 256, seqK: 256, heads: 16, kvHeads: 16, headDim: 72, prefixLen: 256, qStart: 0, keyStart: 0 };
    const { q, k, v } = inputs(s, 8);
    const scale = 1 / Math.sqrt(72);
    const got = await run(gpu, s, q, k, v, scale);
    expect(normErr(got, reference(s, q, k, v, scale))).toBeLessThanOrEqual(TOL);
  });

  it('batches left-padded sequences with per-sequence keyStart', async () => {
    const gpu = await testGpu();
    for (const config of [undefined, GPU_VARIANT]) {
      const s: Shape = { seqQ: 21, seqK: 21, heads: 8, kvHeads: 1, headDim: 16, prefixLen: 17, qStart: 0, keyStart: 0, batch: 3, keyStarts: [0, 5, 12] };
      const { q, k, v } = inputs(s, 9);
      const got = await run(gpu, s, q, k, v, 0.25, config);
      expect(normErr(got, reference(s, q, k, v, 0.25))).toBeLessThanOrEqual(TOL);
    }
  });

  it('the prefix is bidirectional: an early query depends on later prefix keys', async () => {
    const gpu = await testGpu();
    const s: Shape = { seqQ: 40, seqK: 40, heads: 4, kvHeads: 2, headDim: 16, prefixLen: 40, qStart: 0, keyStart: 0 };
    const { q, k, v } = inputs(s, 10);
    const scale = 0.25;
    const before = await run(gpu, s, q, k, v, scale);
    const k2 = k.slice();
    const v2 = v.slice();
    const late = 30 * s.kvHeads * s.headDim; // key 30, seen by query 2 only through the prefix
    for (let x = 0; x < s.kvHeads * s.headDim; x++) {
      k2[late + x] = -k2[late + x]!;
      v2[late + x] = v2[late + x]! + 1;
    }
    const after = await run(gpu, s, q, k2, v2, scale);
    const row = (a: Float32Array) => a.subarray(2 * s.heads * s.headDim, 3 * s.heads * s.headDim);
    expect(normErr(row(after), Float64Array.from(row(before)))).toBeGreaterThan(1e-3);
    // and a causal-only mask is not what the kernel computes
    const causal = reference(s, q, k, v, scale, (i, j, ks) => j >= ks && j <= i);
    expect(normErr(before, causal)).toBeGreaterThan(1e-2);
    expect(normErr(before, reference(s, q, k, v, scale))).toBeLessThanOrEqual(TOL);
  });

  // Gemma 2: scores of several units (q, k in ±2 over 16 dims) against caps of 1.5 and 50, windows
  // shorter than the prefix (big_vision hides prefix keys ≥ window ahead too), a continuing chunk.
  it.each([
    { seqQ: 40, seqK: 40, heads: 4, kvHeads: 2, headDim: 16, prefixLen: 30, qStart: 0, keyStart: 0, softcap: 1.5, window: 7 },
    { seqQ: 40, seqK: 40, heads: 6, kvHeads: 2, headDim: 16, prefixLen: 40, qStart: 0, keyStart: 3, softcap: 50, window: 12 },
    { seqQ: 9, seqK: 50, heads: 8, kvHeads: 1, headDim: 12, prefixLen: 20, qStart: 41, keyStart: 0, softcap: 2, window: 30 },
    { seqQ: 21, seqK: 21, heads: 8, kvHeads: 1, headDim: 16, prefixLen: 17, qStart: 0, keyStart: 0, batch: 2, keyStarts: [0, 5], softcap: 3, window: 9 },
  ] as Shape[])('Gemma 2: heads $heads/$kvHeads, softcap $softcap, window $window (prefix $prefixLen of $seqK, qStart $qStart)', async (s) => {
    const gpu = await testGpu();
    const { q, k, v } = inputs(s, 12);
    const scale = 0.25;
    const ref = reference(s, q, k, v, scale);
    for (const config of [undefined, GPU_VARIANT]) {
      expect(normErr(await run(gpu, s, q, k, v, scale, config), ref), JSON.stringify(config)).toBeLessThanOrEqual(TOL);
    }
    // Neither option is a no-op on these inputs.
    expect(normErr(reference({ ...s, softcap: 0 }, q, k, v, scale), ref)).toBeGreaterThan(1e-3);
    expect(normErr(reference({ ...s, window: 0 }, q, k, v, scale), ref)).toBeGreaterThan(1e-3);
  });

  it('a query that sees no key gets zeros', async () => {
    const gpu = await testGpu();
    // keyStart 10 with prefixLen 0: queries 0..9 see nothing (causal and all keys before them padding)
    const s: Shape = { seqQ: 16, seqK: 16, heads: 2, kvHeads: 1, headDim: 8, prefixLen: 0, qStart: 0, keyStart: 10 };
    const { q, k, v } = inputs(s, 11);
    const got = await run(gpu, s, q, k, v, 0.3);
    const ref = reference(s, q, k, v, 0.3);
    expect(got.subarray(0, 10 * 16).every((x) => x === 0)).toBe(true);
    expect(normErr(got, ref)).toBeLessThanOrEqual(TOL);
  });
});

// CPU adapters with subgroups of 8 run prefill as GEMMs around a masked softmax (attention-matmul.ts).
describe('attention as texture GEMMs (CPU adapters)', () => {
  /** Runs single-sequence shape s (random inputs of `seed`): the kernels it dispatched and its error against float64. */
  async function run(gpu: Gpu, s: Shape, seed: number, scale: number): Promise<{ names: string[]; err: number }> {
    const { q, k, v } = inputs(s, seed);
    const out = gpu.buffer(q.byteLength, 'out');
    const [gq, gk, gv] = [q, k, v].map((a) => gpu.upload(a, 'qkv'));
    const step = gpu.step('attention');
    const names: string[] = [];
    const dispatch = step.dispatch.bind(step);
    step.dispatch = (kernel, ...rest) => (names.push(kernel.def.name), dispatch(kernel, ...rest));
    attention(step, { ...s, keyStarts: undefined, q: gq!, k: gk!, v: gv!, out, scale });
    step.end();
    return { names, err: normErr(await gpu.readF32(out), reference(s, q, k, v, scale)) };
  }
  const plain = (names: string[]) => names.map((n) => n.replace(/^matmul-texture-.*-f32-.*$/, 'matmul-texture-f32'));

  it('Gemma-like MQA: K and Vᵀ textures, one score GEMM for all 8 heads, softmax, one output GEMM', async () => {
    const gpu = await testGpu();
    if (!usesAttentionMatmul(gpu, { seqQ: 40, heads: 8, kvHeads: 1, headDim: 16 } as AttentionArgs)) return;
    const { names, err } = await run(gpu, { seqQ: 40, seqK: 40, heads: 8, kvHeads: 1, headDim: 16, prefixLen: 30, qStart: 0, keyStart: 0 }, 31, 0.25);
    expect(plain(names)).toEqual(['kv-texture', 'kv-texture-vt', 'matmul-texture-f32', 'attention-softmax-sg8-c16', 'matmul-texture-f32']);
    expect(err).toBeLessThanOrEqual(TOL);
  });

  // K/V rows of a cache longer than the prompt (Gemma's kvBatchRows), two sequences.
  it('reads K/V from a cache of more rows than keys', async () => {
    const gpu = await testGpu();
    const s: Shape = { seqQ: 20, seqK: 20, heads: 4, kvHeads: 2, headDim: 12, prefixLen: 15, qStart: 0, keyStart: 0, batch: 2, keyStarts: [0, 3] };
    const { q, k, v } = inputs(s, 32);
    const rows = 27;
    const cache = (a: Float32Array) => {
      const c = new Float32Array(2 * rows * 24).fill(Number.NaN);
      for (let b = 0; b < 2; b++) c.set(a.subarray(b * 20 * 24, (b + 1) * 20 * 24), b * rows * 24);
      return gpu.upload(c, 'cache');
    };
    const out = gpu.buffer(q.byteLength, 'out');
    const step = gpu.step('attention');
    attention(step, {
      q: gpu.upload(q, 'q'), k: cache(k), v: cache(v), out, seqQ: 20, seqK: 20, heads: 4, kvHeads: 2, headDim: 12, scale: 0.3,
      prefixLen: 15, qStart: 0, batch: 2, kvBatchRows: rows, keyStarts: gpu.upload(Uint32Array.of(0, 3), 'ks'),
    });
    step.end();
    expect(normErr(await gpu.readF32(out), reference(s, q, k, v, 0.3))).toBeLessThanOrEqual(TOL);
  });

  // Every KV head in each dispatch (SigLIP's 16 small heads were 80 dispatches a layer).
  it('runs all KV heads in one dispatch per kernel', async () => {
    const gpu = await testGpu();
    const s: Shape = { seqQ: 40, seqK: 40, heads: 6, kvHeads: 6, headDim: 12, prefixLen: 40, qStart: 0, keyStart: 0 };
    if (!usesAttentionMatmul(gpu, s as AttentionArgs)) return;
    const { names, err } = await run(gpu, s, 34, 0.3);
    expect(plain(names)).toEqual(['kv-texture', 'kv-texture-vt', 'matmul-texture-f32', 'attention-softmax-sg8-c16', 'matmul-texture-f32']);
    expect(err).toBeLessThanOrEqual(TOL);
  });

  // The softmax keeps a row's scores in registers, 16, 32, … 128 a lane of 8 (the least power of two
  // that holds the row), and past 1024 keys makes three passes over them in memory: rows that just
  // fit, one key more, and the passes; a prefix shorter than the keys, so rows see different counts.
  it.each([[128, 'c16'], [129, 'c32'], [1024, 'c128'], [1025, '']])('softmax over %i keys (cache %s)', async (keys, cache) => {
    const gpu = await testGpu();
    const s: Shape = { seqQ: 24, seqK: keys, heads: 2, kvHeads: 2, headDim: 8, prefixLen: keys - 12, qStart: keys - 24, keyStart: 3 };
    if (!usesAttentionMatmul(gpu, s as AttentionArgs)) return;
    const { names, err } = await run(gpu, s, 36, 0.4);
    expect(names).toContain(`attention-softmax-sg8${cache ? `-${cache}` : ''}`);
    expect(err).toBeLessThanOrEqual(TOL);
  });

  // 12 heads × 272 slots × 16384 keys: 8 heads per dispatch keep 256-row blocks within 128 MiB, so
  // two groups of heads (8, then 4) of two blocks of slots each.
  it('splits the heads and the slots where all scores exceed a binding', async () => {
    const gpu = await testGpu();
    const s: Shape = { seqQ: 272, seqK: 16384, heads: 12, kvHeads: 12, headDim: 4, prefixLen: 16000, qStart: 16112, keyStart: 5 };
    if (!usesAttentionMatmul(gpu, s as AttentionArgs) || gpu.limits.maxStorageBufferBindingSize < 128 << 20) return;
    const { names, err } = await run(gpu, s, 35, 0.35);
    expect(names.filter((n) => n.startsWith('kv-texture'))).toHaveLength(4);
    expect(names.filter((n) => n.startsWith('attention-softmax'))).toHaveLength(4);
    expect(err).toBeLessThanOrEqual(TOL);
  });

  // The pieces' own checks: K rows are read as vec4s; a batch has no per-column terms.
  // K rows 256 bytes apart go into the texture by copies (one per head and layer), others by the
  // kernel: the same texels either way, here with 3 heads of 5 keys over layers of 4 rows.
  it('copies K rows into the texture where it can, the texels the kernel writes', async () => {
    const gpu = await testGpu();
    const [heads, keys, headDim, stride, base] = [3, 5, 8, 64, 4];
    const data = Float32Array.from({ length: base + keys * stride }, (_, i) => i + 0.5);
    const textures = [GPUBufferUsage.COPY_SRC, 0].map((copy) => {
      const src = gpu.buffer(data.byteLength, 'k', GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | copy);
      gpu.write(src, data, 0);
      const texture = gpu.device.createTexture({ size: [2, 4, 4], format: 'rgba32uint', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC });
      const out = { texture, view: texture.createView({ dimension: '2d-array' }), H: 4, W: 2, L: 4, format: 'f32' as const };
      const args = { src, base, stride, keys, headDim, transpose: false, out, heads, headStep: headDim };
      // Copies into the texture: one per head and layer it spans (rows 0–3 | 4, 5–7 | 8–9, 10–11 | 12–14).
      const kinds = gpu.record('kv texture', (s) => kvTexture(s, args)).commands.map((c) => ('toTexture' in c ? 'copy' : 'kernel'));
      expect(kinds).toEqual(copy ? Array(6).fill('copy') : ['kernel']);
      const step = gpu.step('kv texture');
      kvTexture(step, args);
      step.end();
      return texture;
    });
    const texels = async (texture: GPUTexture) => {
      const buf = gpu.device.createBuffer({ size: 256 * 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
      const e = gpu.device.createCommandEncoder();
      e.copyTextureToBuffer({ texture }, { buffer: buf, bytesPerRow: 256, rowsPerImage: 4 }, [2, 4, 4]);
      gpu.device.queue.submit([e.finish()]);
      await buf.mapAsync(GPUMapMode.READ);
      const f = new Float32Array(buf.getMappedRange().slice(0));
      buf.destroy();
      // Row r (layer r / 4, line r % 4): its 8 floats.
      return Array.from({ length: heads * keys }, (_, r) => Array.from(f.subarray(64 * r, 64 * r + 8)));
    };
    const [copied, written] = [await texels(textures[0]!), await texels(textures[1]!)];
    expect(copied).toEqual(written);
    // Head 1's key 2 is row 7: floats base + 2·stride + 8 … of k.
    expect(copied[7]).toEqual(Array.from(data.subarray(base + 2 * stride + headDim, base + 2 * stride + 2 * headDim)));
  });

  // Both ways to the weights: three passes over the scores in memory (rows past 1024 keys), and
  // one from a private array; masked by prefix, window, key start and soft-cap, 3 heads of 20 rows
  // whose seen ranges start and end inside texels.
  it('the softmax gives the same weights from its private array as over memory', async () => {
    const gpu = await testGpu();
    const [rows, keys, ld] = [60, 37, 40];
    const r = rng(37);
    const raw = Float32Array.from({ length: rows * ld }, () => 6 * r() - 3);
    const args = { rows, headRows: 20, keys, ld, m0: 0, perQuery: 2, qStart: 20, prefixLen: 25, window: 14, keyStart: 2, seq: 0, scale: 0.7, softcap: 2.5 };
    const weights = async (cache?: number) => {
      const scores = gpu.upload(raw, 'scores');
      const step = gpu.step('softmax');
      attentionSoftmax(step, { ...args, scores, cache });
      step.end();
      return gpu.readF32(scores);
    };
    const [stream, cached] = [await weights(0), await weights()];
    expect(stream.filter((x) => x > 0).length).toBeGreaterThan(rows); // rows see several keys
    expect(normErr(cached, stream)).toBeLessThanOrEqual(1e-6);
    expect(() => gpu.record('softmax', (s) => attentionSoftmax(s, { ...args, scores: gpu.upload(raw, 'scores'), cache: 4 }))).toThrow(/hold 32 of a row's 37 keys/);
  });

  it('rejects K rows off a vec4 and a batched GEMM with a bias, with clear errors', async () => {
    const gpu = await testGpu();
    const tex = scratchTexture(gpu, 'test keys', 64, 8);
    const step = gpu.step('bad');
    const src = gpu.buffer(4096, 'k');
    expect(() => kvTexture(step, { src, base: 2, stride: 8, keys: 4, headDim: 8, transpose: false, out: tex })).toThrow(/K rows must start at multiples of 4 floats/);
    expect(() => kvTexture(step, { src, base: 0, stride: 8, keys: 4, headDim: 8, transpose: false, out: tex, heads: 2, headStep: 6 })).toThrow(/multiples of 4 floats/);
    const shape = { M: 16, K: 8, N: 4, ldo: 4, colOff: 0, batch: { count: 2, x: 128, w: 4, outRows: 16, outCols: 0 } };
    const plain = { bias: false, accumulate: false, geglu: false };
    expect(() => matmulTexture(step, { x: src, out: src }, tex, undefined, shape, { ...plain, bias: true }, textureTiling(16, 8, false, true, 'f32'))).toThrow(/a batch .* has no bias or LoRA term/);
    expect(() => matmulTexture(step, { x: src, out: src }, tex, undefined, { ...shape, batch: { ...shape.batch, x: 6 } }, plain, textureTiling(16, 8, false, true, 'f32'))).toThrow(/steps x by multiples of 4 floats/);
  });

  // 8800 slots × 4096 keys of scores exceed one 128 MiB binding: two blocks of slots.
  it('splits the score matrix into blocks of slots within a binding', async () => {
    const gpu = await testGpu();
    const s: Shape = { seqQ: 1100, seqK: 4096, heads: 8, kvHeads: 1, headDim: 8, prefixLen: 3000, qStart: 2996, keyStart: 5 };
    if (!usesAttentionMatmul(gpu, s as AttentionArgs)) return;
    const { names, err } = await run(gpu, s, 33, 0.35);
    expect(names.filter((n) => n.startsWith('attention-softmax'))).toHaveLength(2);
    expect(err).toBeLessThanOrEqual(TOL);
  });
});
