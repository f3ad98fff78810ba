// --lora-merge: W' = W + B'·A folded into float32 copies (kernels/lora-merge.ts) from every base
// format and layout, the f32 weight format in the matmul kernels that read the copies, and the
// pg-tiny-v2048-224-lora fixture merged in the buffer layout at the strict tier (the built CLI's
// `dump --lora-merge` covers the texture layout, lavapipe's plan), unmerging, switching and
// several adapters merged together.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/device.js';
import { dumpRun, type DumpTensor } from '../src/graph/dump.js';
import { benchLora } from '../bench/lora.js';
import { adapterSummary, loadLoraAdapter, type LoraAdapter } from '../src/graph/lora.js';
import type { PaliGemma } from '../src/graph/paligemma.js';
import { loraDelta, loraMerged } from '../src/kernels/lora.js';
import { mergeLora } from '../src/kernels/lora-merge.js';
import { linear, matmulPlan, prepareWeights, setMatmulPlan, type MatmulVariant } from '../src/kernels/matmul.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { MemoryFileSource } from '../src/loader/memory-source.js';
import { dequantizeRows, quantizeRows } from '../src/loader/quantize.js';
import { GOLDEN_FLOAT_TENSORS, compareGolden, normErr, readExpected, runGolden } from '../src/node/golden.js';
import { parseSafetensors } from '../src/loader/safetensors.js';
import { safetensorsBytes } from '../src/node/write-safetensors.js';
import { quantRow, type GpuWeight } from '../src/weights.js';
import { cli } from './helpers/cli.js';
import { bf16ToF64, randomF32, testGpu, toBf16, uploadWeight } from './helpers/gpu.js';

const DIR = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-lora');
const ADAPTER = join(DIR, 'adapter');

/** A base weight [N, K] in a format, in buffers of `shardRows` rows, with its float64 values. */
function base(gpu: Gpu, N: number, K: number, format: 'bf16' | 'int8' | 'int4', seed: number, shardRows = N): { w: GpuWeight; values: ArrayLike<number> } {
  const words = toBf16(randomF32(N * K, seed, 0.5));
  if (format === 'bf16') return { w: uploadWeight(gpu, words, [N, K], shardRows, 'w'), values: bf16ToF64(words) };
  const row = quantRow(format, K);
  const bytes = new Uint8Array(N * row.bytes);
  quantizeRows(format, words, N, K, bytes, row.bytes);
  return { w: { name: 'w', shape: [N, K], dtype: format, shards: [{ buffer: gpu.upload(bytes, 'wq'), rowStart: 0, rows: N }] }, values: dequantizeRows(format, bytes, N, K) };
}

/** W + B'·A in float64, and per element the bound on (rank + 2) float32 roundings of it. */
function merged(values: ArrayLike<number>, a: Float32Array, bt: Float32Array, N: number, K: number, rank: number): { ref: Float64Array; bound: Float64Array } {
  const ref = new Float64Array(N * K);
  const bound = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let s = values[n * K + k]!;
      let mag = Math.abs(s);
      for (let r = 0; r < rank; r++) {
        s += bt[r * N + n]! * a[r * K + k]!;
        mag += Math.abs(bt[r * N + n]! * a[r * K + k]!);
      }
      ref[n * K + k] = s;
      bound[n * K + k] = (rank + 2) * 2 ** -24 * mag;
    }
  }
  return { ref, bound };
}

async function readWeight(gpu: Gpu, w: GpuWeight, K: number): Promise<Float32Array> {
  const out = new Float32Array(w.shape[0]! * K);
  for (const s of w.shards) out.set(await gpu.readF32(s.buffer, 0, s.rows * K), s.rowStart * K);
  return out;
}

function destroy(w: GpuWeight): void {
  weightTexture(w)?.texture.destroy();
  for (const s of w.shards) s.buffer.destroy();
}

describe('mergeLora: W + B\'·A into a float32 copy', () => {
  it.each<['bf16' | 'int4', number, number, number, number]>([
    // format, N, K (odd: a bf16 row that starts mid-word), rank, input shard rows
    ['bf16', 13, 37, 3, 5],
    ['int4', 9, 70, 2, 9],
  ])('%s buffers [%i, %i] rank %i (shards of %i rows) → f32 buffers, each element within (rank + 2) roundings', async (format, N, K, rank, shardRows) => {
    const gpu = await testGpu();
    const b = base(gpu, N, K, format, N + K, shardRows);
    const a = randomF32(rank * K, 3, 0.4);
    const bt = randomF32(rank * N, 4, 0.4);
    const [ga, gbt] = [gpu.upload(a, 'A'), gpu.upload(bt, "B'ᵀ")];
    const m = mergeLora(gpu, b.w, ga, gbt, rank, 'merged');
    expect(m.dtype).toBe('f32');
    expect(weightTexture(m)).toBeUndefined();
    const got = await readWeight(gpu, m, K);
    const { ref, bound } = merged(b.values, a, bt, N, K, rank);
    for (let i = 0; i < N * K; i++) expect(Math.abs(got[i]! - ref[i]!), `element ${i}`).toBeLessThanOrEqual(bound[i]!);
    destroy(m);
    destroy(b.w);
    ga.destroy();
    gbt.destroy();
  });

  // K = 8256: int8 rows of 2 column blocks (weight-texture.ts), f32 rows of 5.
  it.each([[19, 48, 4], [3, 8256, 2]])('int8 texture → f32 texture [%i, %i] rank %i, read by the texture matmul (M = 2) as x·(W + B\'·A)ᵀ', async (N, K, rank) => {
    const gpu = await testGpu();
    const M = 2;
    const b = base(gpu, N, K, 'int8', 5);
    await prepareWeights(gpu, [b.w], 'texture');
    const a = randomF32(rank * K, 6, 0.4);
    const bt = randomF32(rank * N, 7, 0.4);
    const [ga, gbt] = [gpu.upload(a, 'A'), gpu.upload(bt, "B'ᵀ")];
    const m = mergeLora(gpu, b.w, ga, gbt, rank, 'merged');
    expect(weightTexture(m)?.format).toBe('f32');
    const x = randomF32(M * K, 8);
    const [gx, out] = [gpu.upload(x, 'x'), gpu.buffer(M * N * 4, 'out')];
    const step = gpu.step('merged texture');
    linear(step, { x: gx, w: m, out, M, K, N });
    step.end();
    const got = await gpu.readF32(out, 0, M * N);
    const { ref } = merged(b.values, a, bt, N, K, rank);
    const want = Array.from({ length: M * N }, (_, i) => {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[Math.floor(i / N) * K + k]! * ref[(i % N) * K + k]!;
      return s;
    });
    expect(normErr(got, want)).toBeLessThanOrEqual(1e-6);
    for (const w of [m, b.w]) destroy(w);
    for (const g of [ga, gbt, gx, out]) g.destroy();
  });

  it.each<[MatmulVariant, number, number, number]>([
    // the f32 format in the buffer kernels: gemv's 16-byte path (K % 8 == 0) and the tiled GEMM
    ['gemv', 3, 40, 21],
    ['tiled', 70, 36, 45],
  ])('an f32 weight through %s M=%i K=%i N=%i (with bias and accumulate)', async (variant, M, K, N) => {
    const gpu = await testGpu();
    const w = randomF32(N * K, M + K, 0.5);
    const gw: GpuWeight = { name: 'w32', shape: [N, K], dtype: 'f32', shards: [{ buffer: gpu.upload(w, 'w32'), rowStart: 0, rows: N }] };
    const x = randomF32(M * K, 9);
    const bias = toBf16(randomF32(N, 10));
    const init = randomF32(M * N, 11);
    const [gx, out, gb] = [gpu.upload(x, 'x'), gpu.upload(init, 'out'), uploadWeight(gpu, bias, [N], N, 'bias')];
    const step = gpu.step('f32 linear');
    linear(step, { x: gx, w: gw, bias: gb, out, M, K, N, accumulate: true, variant });
    step.end();
    const got = await gpu.readF32(out, 0, M * N);
    const bv = bf16ToF64(bias);
    const want = Array.from({ length: M * N }, (_, i) => {
      const [m, n] = [Math.floor(i / N), i % N];
      let s = init[i]! + bv[n]!;
      for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
      return s;
    });
    expect(normErr(got, want)).toBeLessThanOrEqual(1e-6);
    for (const g of [gx, out, gb.shards[0]!.buffer, gw.shards[0]!.buffer]) g.destroy();
  });
});

describe('pg-tiny-v2048-224-lora merged, buffer layout', () => {
  let gpu: Gpu;
  let model: PaliGemma;
  let fixture: LoraAdapter;
  let plan: ReturnType<typeof matmulPlan>;
  const meta = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8'));
  const expected = readExpected(join(DIR, 'expected.safetensors'));
  const run = async () => new Map((await dumpRun(model, { pixels: expected.get('pixel_values')!.data as Float32Array, textIds: meta.text_ids, maxNewTokens: meta.max_new_tokens, logitsRows: meta.prefill_logits_rows })).map((t) => [t.name, t]));
  const errors = (got: Map<string, DumpTensor>) => GOLDEN_FLOAT_TENSORS.map((t) => normErr(got.get(t)!.data as Float32Array, expected.get(t)!.data as Float32Array));
  const ids = (got: Map<string, DumpTensor>) => Array.from(got.get('generated_ids')!.data as BigInt64Array, Number);
  const Q0 = 'language_model.model.layers.0.self_attn.q_proj.weight';
  const UP0 = 'language_model.model.layers.0.mlp.up_proj.weight';
  const K0 = 'language_model.model.layers.0.self_attn.k_proj.weight';

  beforeAll(async () => {
    gpu = await testGpu();
    plan = matmulPlan(gpu);
    // The GPU plan: every weight in buffers, tiled GEMMs and GEMVs (with the folded pre-norms).
    setMatmulPlan(gpu, { layout: 'buffer', gemm: 'tiled', gemv: 'gemv' });
    const golden = await runGolden(gpu, DIR, { textures: false });
    model = golden.model;
    fixture = model.adapters[0]!;
  });

  afterAll(() => {
    model.setAdapters([]);
    setMatmulPlan(gpu, plan);
  });

  it('matches the fixture at the strict tier; the touched weights (and GEGLU partners) read f32 copies, the rest and the base stay', async () => {
    model.setAdapters([fixture], { merge: true });
    expect(model.merged).toBe(true);
    const w = model.checkpoint.weights;
    expect([loraMerged(w.get(Q0)!)?.dtype, loraDelta(w.get(Q0)!), loraMerged(w.get(UP0)!)?.dtype, loraMerged(w.get(K0)!)]).toEqual(['f32', undefined, 'f32', undefined]);
    expect(w.get(Q0)!.dtype).toBe('bf16');
    const got = await run();
    expect(Math.max(...errors(got))).toBeLessThanOrEqual(1e-5);
    expect(ids(got)).toEqual(meta.generated_ids);
    expect(adapterSummary(fixture, true)).toEqual({ path: ADAPTER, r: 4, alpha: 8, scale: 2, rslora: false, modules: 12, merged: true });
  });

  it('unmerges and switches: unmerged adapter, base, merged again — each as alone', async () => {
    model.setAdapters([fixture]);
    expect(loraMerged(model.checkpoint.weights.get(Q0)!)).toBeUndefined();
    const unmerged = await run();
    expect(Math.max(...errors(unmerged))).toBeLessThanOrEqual(1e-5);
    model.setAdapters([]);
    const plain = await run();
    expect(errors(plain)[3]).toBeGreaterThan(1e-2);
    model.setAdapters([fixture], { merge: true });
    expect(ids(await run())).toEqual(meta.generated_ids);
    model.setAdapters([]);
    const logits = (t: Map<string, DumpTensor>) => Array.from(t.get('prefill_logits')!.data as Float32Array);
    expect(logits(await run())).toEqual(logits(plain));
  });

  it('merges several adapters as their sum: two halves (lora_alpha 4 each) are the fixture', async () => {
    const files = new Map<string, string | Uint8Array>([
      ['adapter_config.json', JSON.stringify({ ...JSON.parse(readFileSync(join(ADAPTER, 'adapter_config.json'), 'utf8')), lora_alpha: 4 })],
      ['adapter_model.safetensors', readFileSync(join(ADAPTER, 'adapter_model.safetensors'))],
    ]);
    const halves = [await loadLoraAdapter(gpu, model.checkpoint.weights, new MemoryFileSource('half a', files)), await loadLoraAdapter(gpu, model.checkpoint.weights, new MemoryFileSource('half b', files))];
    model.setAdapters(halves, { merge: true });
    const got = await run();
    model.setAdapters([]);
    for (const h of halves) h.destroy();
    expect(Math.max(...errors(got))).toBeLessThanOrEqual(1e-5);
    expect(ids(got)).toEqual(meta.generated_ids);
  });

  it('bench e2e --lora DIR --lora-merge: the merged runs beside base and unmerged, the model left as it was', async () => {
    const before = [model.adapters, model.merged];
    const r = await benchLora(model, [ADAPTER], { pixels: expected.get('pixel_values')!.data as Float32Array, textIds: meta.text_ids, runs: 1, maxNewTokens: 2, merge: true, log: () => {} });
    expect(r.merged!.msPerToken).toBeGreaterThan(0);
    expect(r.merged!.switchMs).toBeGreaterThan(0);
    expect(r.targets.map((t) => t.what).slice(3)).toEqual(['lora merged: decode ms/token ÷ base', 'lora merged: prefill (vision + Gemma) ms ÷ base']);
    expect([model.adapters, model.merged]).toEqual(before);
  });
});

describe('--lora-merge on the built CLI (texture layout on lavapipe)', () => {
  const meta = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8'));
  const args = ['dump', '--model', join(DIR, 'checkpoint'), '--pixel-values', join(DIR, 'expected.safetensors'), '--ids', meta.text_ids.join(','), '--max-new-tokens', String(meta.max_new_tokens), '--logits-rows', meta.prefill_logits_rows];

  it('dump --lora adapter --lora-merge matches the fixture at the strict tier', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'pg-lora-merge-')), 'dump.safetensors');
    const r = await cli([...args, '--out', out, '--lora', ADAPTER, '--lora-merge']);
    expect(r.code, r.stderr).toBe(0);
    const run = { meta, expected: readExpected(join(DIR, 'expected.safetensors')), got: readExpected(out) as never, model: undefined as never };
    const check = compareGolden(run);
    expect(check.ok, JSON.stringify(check)).toBe(true);
  });

  it('generate --json lists the active adapters (path, r, alpha, scale, rsLoRA, modules, merged)', async () => {
    const full = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224');
    const file = join(full, 'checkpoint', 'model.safetensors');
    const o = parseSafetensors(file, new Uint8Array(readFileSync(file))).tensors.get('language_model.model.layers.0.self_attn.o_proj.weight')!;
    const [N, K] = o.shape as [number, number];
    const dir = mkdtempSync(join(tmpdir(), 'pg-lora-json-'));
    const key = 'base_model.model.language_model.model.layers.0.self_attn.o_proj';
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, use_rslora: true, target_modules: ['o_proj'], bias: 'none' }));
    writeFileSync(join(dir, 'adapter_model.safetensors'), safetensorsBytes([{ name: `${key}.lora_A.weight`, shape: [2, K], data: randomF32(2 * K, 1) }, { name: `${key}.lora_B.weight`, shape: [N, 2], data: randomF32(2 * N, 2) }]));
    const r = await cli(['generate', '--model', join(full, 'checkpoint'), '--image', join(full, 'shapes_300x200.png'), '--prompt', 'caption en', '--max-new-tokens', '2', '--json', '--lora', dir, '--lora-merge']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.adapters).toEqual([{ path: dir, r: 2, alpha: 4, scale: 4 / Math.SQRT2, rslora: true, modules: 1, merged: true }]);
    expect(out.ids).toHaveLength(2);
  });

  it('refuses --lora-merge without --lora', async () => {
    const r = await cli([...args, '--out', join(tmpdir(), 'never.safetensors'), '--lora-merge']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--lora-merge merges the --lora adapters: give at least one');
  });
});
