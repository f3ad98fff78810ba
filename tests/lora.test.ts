// LoRA adapters end to end: PEFT's matching rules, clear refusals of what cannot be applied, the
// pg-tiny-v2048-224-lora fixture at the strict tier, switching adapters live (and between queued
// requests) without touching the base weights, adapters adding up, and adapter naming independent
// of the checkpoint's.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dumpRun, type DumpTensor } from '../src/graph/dump.js';
import { LoraAdapter, loadLoraAdapter } from '../src/graph/lora.js';
import { PaliGemma } from '../src/graph/paligemma.js';
import { CheckpointError } from '../src/loader/errors.js';
import { isTargeted, parseLoraConfig, rankAndScale, readLoraAdapter } from '../src/loader/lora.js';
import { MemoryFileSource } from '../src/loader/memory-source.js';
import { loadCheckpointFromDir } from '../src/loader/node.js';
import { parseSafetensors } from '../src/loader/safetensors.js';
import { GOLDEN_FLOAT_TENSORS, normErr, readExpected, runGolden, compareGolden } from '../src/node/golden.js';
import { startPlaygroundServer } from '../src/node/playground-server.js';
import { RequestQueue } from '../src/request-queue.js';
import { benchLora } from '../bench/lora.js';
import { cli } from './helpers/cli.js';
import { testGpu } from './helpers/gpu.js';
import { buildSafetensors } from './loader-helpers.js';

const DIR = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-lora');
const ADAPTER = join(DIR, 'adapter');
const CONFIG = JSON.parse(readFileSync(join(ADAPTER, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
const Q0 = 'language_model.model.layers.0.self_attn.q_proj';

const config = (over: Record<string, unknown>) => parseLoraConfig(JSON.stringify({ ...CONFIG, ...over }));

describe('adapter_config.json (PEFT rules)', () => {
  it('target_modules: a list matches a path or its suffix after a dot, a string must match the whole path', () => {
    const list = config({ target_modules: ['q_proj', 'mlp.down_proj'] });
    expect(isTargeted(list, Q0)).toBe(true);
    expect(isTargeted(list, 'language_model.model.layers.0.mlp.down_proj')).toBe(true);
    expect(isTargeted(list, 'language_model.model.layers.0.self_attn.k_proj')).toBe(false);
    expect(isTargeted(config({ target_modules: ['proj'] }), Q0)).toBe(false);
    expect(isTargeted(config({ target_modules: 'q_proj' }), Q0)).toBe(false);
    expect(isTargeted(config({ target_modules: '.*\\.q_proj' }), Q0)).toBe(true);
    expect(isTargeted(config({ target_modules: '.*language_model.*\\.(q_proj|v_proj)' }), 'vision_tower.vision_model.encoder.layers.0.self_attn.q_proj')).toBe(false);
    expect(isTargeted(config({ target_modules: ['q_proj'], exclude_modules: ['layers.0.self_attn.q_proj'] }), Q0)).toBe(false);
    expect(isTargeted(config({ target_modules: 'all-linear' }), 'vision_tower.vision_model.encoder.layers.0.mlp.fc1')).toBe(true);
  });

  it('layers_to_transform (with layers_pattern) filters list targets only; a full path in the list passes', () => {
    const q1 = Q0.replace('layers.0', 'layers.1');
    const c = config({ target_modules: ['q_proj'], layers_to_transform: [1] });
    expect([isTargeted(c, Q0), isTargeted(c, q1)]).toEqual([false, true]);
    expect(isTargeted(config({ target_modules: ['q_proj'], layers_to_transform: 0, layers_pattern: 'layers' }), Q0)).toBe(true);
    expect(isTargeted(config({ target_modules: ['q_proj'], layers_to_transform: [0], layers_pattern: ['blocks'] }), Q0)).toBe(false);
    expect(isTargeted(config({ target_modules: '.*q_proj', layers_to_transform: [1] }), Q0)).toBe(true);
    expect(isTargeted(config({ target_modules: [Q0], layers_to_transform: [1] }), Q0)).toBe(true);
  });

  it('rank_pattern / alpha_pattern: the first key (in file order) matching the end of the path; rsLoRA scales by alpha/√r', () => {
    expect(rankAndScale(config({}), Q0)).toEqual({ rank: 4, scale: 2 });
    const c = config({ rank_pattern: { 'layers.1.self_attn.q_proj': 16, q_proj: 2, '.*_proj': 3 }, alpha_pattern: { 'self_attn.q_proj': 32 } });
    expect(rankAndScale(c, Q0)).toEqual({ rank: 2, scale: 16 });
    expect(rankAndScale(c, Q0.replace('layers.0', 'layers.1'))).toEqual({ rank: 16, scale: 2 });
    expect(rankAndScale(c, 'x.mlp.up_proj')).toEqual({ rank: 3, scale: 8 / 3 });
    expect(rankAndScale(c, 'x.my_q_proj')).toEqual({ rank: 3, scale: 8 / 3 });
    expect(rankAndScale(config({ use_rslora: true, r: 16, lora_alpha: 8 }), Q0)).toEqual({ rank: 16, scale: 2 });
  });

  it.each([
    [{ peft_type: 'LOHA' }, /peft_type is "LOHA"/],
    [{ use_dora: true }, /DoRA/],
    [{ bias: 'all' }, /trained biases/],
    [{ modules_to_save: ['lm_head'] }, /modules_to_save/],
    [{ r: 0 }, /r must be a whole number > 0/],
    [{ target_modules: null }, /target_modules is missing/],
    [{ target_modules: 3 }, /target_modules must be/],
    [{ rank_pattern: { q_proj: 2.5 } }, /rank_pattern\["q_proj"\]/],
    [{ layers_to_transform: 'all' }, /layers_to_transform/],
  ])('refuses %j', (over, message) => {
    expect(() => config(over)).toThrow(message);
  });

  it('refuses a regex it cannot read, and text that is not JSON', () => {
    expect(() => isTargeted(config({ target_modules: '(q_proj' }), Q0)).toThrow(/not a valid regex/);
    expect(() => parseLoraConfig('{r: 4')).toThrow(CheckpointError);
  });
});

// ---- adapter files built from the fixture's, changed one way at a time

interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

const fixtureTensors: RawTensor[] = (() => {
  const bytes = new Uint8Array(readFileSync(join(ADAPTER, 'adapter_model.safetensors')));
  const h = parseSafetensors('adapter', bytes);
  return [...h.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: bytes.slice(h.dataStart + t.begin, h.dataStart + t.end) }));
})();

function adapterSource(name: string, over: Record<string, unknown> = {}, tensors = fixtureTensors): MemoryFileSource {
  return new MemoryFileSource(name, new Map<string, string | Uint8Array>([
    ['adapter_config.json', JSON.stringify({ ...CONFIG, ...over })],
    ['adapter_model.safetensors', buildSafetensors(Object.fromEntries(tensors.map(({ name, ...t }) => [name, t])))],
  ]));
}

/** F32 bytes → BF16 bytes (truncated: exact values the reader must upcast unchanged). */
function toBf16Tensor(t: RawTensor): RawTensor {
  const f = new Uint32Array(t.data.slice().buffer);
  const h = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) h[i] = f[i]! >>> 16;
  return { ...t, dtype: 'BF16', data: new Uint8Array(h.buffer) };
}

describe('adapter files', () => {
  let shapes: Map<string, { shape: number[] }>;

  beforeAll(async () => {
    const gpu = await testGpu();
    const ck = await loadCheckpointFromDir(join(DIR, 'checkpoint'), gpu.device);
    shapes = new Map([...ck.weights].map(([k, w]) => [k, { shape: w.shape }]));
  });

  it('reads the fixture: 12 modules, rank 4, scale 2, old names onto canonical weights', async () => {
    const a = await readLoraAdapter(adapterSource('fixture'), shapes);
    expect(a.modules).toHaveLength(12);
    expect(a.warnings).toEqual([]);
    const q = a.modules.find((m) => m.module === Q0)!;
    expect(q).toMatchObject({ weight: `${Q0}.weight`, rank: 4, scale: 2, N: 48, K: 48 });
  });

  it('reads BF16 factors exactly and new-naming keys onto an old-naming checkpoint', async () => {
    const renamed = fixtureTensors.map((t) => toBf16Tensor({ ...t, name: t.name.replace('base_model.model.language_model.model.', 'base_model.model.model.language_model.') }));
    const a = await readLoraAdapter(adapterSource('bf16-new-names', {}, renamed), shapes);
    const q = a.modules.find((m) => m.module === 'model.language_model.layers.0.self_attn.q_proj')!;
    expect(q.weight).toBe(`${Q0}.weight`);
    const bits = new Uint32Array(fixtureTensors.find((t) => t.name === `base_model.model.${Q0}.lora_A.weight`)!.data.slice().buffer);
    expect(Array.from(new Uint32Array(q.a.buffer))).toEqual(Array.from(bits, (b) => (b & 0xffff0000) >>> 0));
  });

  it('skips modules target_modules leaves out, with a warning', async () => {
    const a = await readLoraAdapter(adapterSource('only-q', { target_modules: ['q_proj'] }), shapes);
    expect(a.modules.map((m) => m.module).sort()).toEqual([Q0, Q0.replace('layers.0', 'layers.1')]);
    expect(a.warnings).toHaveLength(10);
    expect(a.warnings[0]).toMatch(/is not among target_modules; ignored/);
  });

  const qA = `base_model.model.${Q0}.lora_A.weight`;
  const withTensor = (t: RawTensor) => [...fixtureTensors, t];
  it.each<[string, () => RawTensor[], RegExp]>([
    ['a missing lora_B', () => fixtureTensors.filter((t) => t.name !== qA.replace('lora_A', 'lora_B')), /module language_model\.model\.layers\.0\.self_attn\.q_proj: lora_B\.weight is missing/],
    ['a module the model does not have', () => withTensor({ ...fixtureTensors[0]!, name: qA.replace('layers.0', 'layers.9') }), /layers\.9\.self_attn\.q_proj\.lora_A\.weight": it matches no weight of the model/],
    ['lora_A of the wrong width', () => fixtureTensors.map((t) => (t.name === qA ? { ...t, shape: [8, 24] } : t)), /lora_A\.weight": shape \[8, 24\] does not fit .*q_proj\.weight \[48, 48\]/],
    ['a rank the config does not give', () => fixtureTensors.map((t) => (t.name === qA ? { ...t, shape: [2, 48], data: t.data.slice(0, 2 * 48 * 4) } : t)), /rank 2 .* gives language_model\.model\.layers\.0\.self_attn\.q_proj r = 4/],
    ['LoRA on the embedding', () => withTensor({ ...fixtureTensors[0]!, name: 'base_model.model.language_model.model.embed_tokens.lora_embedding_A' }), /embed_tokens\.lora_embedding_A": LoRA on an embedding is not supported/],
    ['DoRA magnitudes', () => withTensor({ ...fixtureTensors[0]!, name: `base_model.model.${Q0}.lora_magnitude_vector` }), /DoRA/],
    ['a lora bias', () => withTensor({ ...fixtureTensors[0]!, name: `base_model.model.${Q0}.lora_B.bias` }), /a LoRA bias is not supported/],
    ['a modules_to_save weight', () => withTensor({ ...fixtureTensors[0]!, name: 'base_model.model.language_model.lm_head.weight' }), /lm_head\.weight": not a LoRA factor/],
    ['the LM head', () => withTensor({ ...fixtureTensors[0]!, name: 'base_model.model.language_model.lm_head.lora_A.weight' }), /LoRA on the LM head/],
    ['a key outside base_model.model', () => withTensor({ ...fixtureTensors[0]!, name: 'q_proj.lora_A.weight' }), /not a PEFT adapter key/],
    ['F64 factors', () => fixtureTensors.map((t) => (t.name === qA ? { ...t, dtype: 'F64', shape: [2, 48] } : t)), /dtype F64/],
  ])('refuses %s, naming the key and the file', async (_, tensors, message) => {
    const err = await readLoraAdapter(adapterSource('bad-adapter', {}, tensors()), shapes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(/^bad-adapter\/adapter_model\.safetensors: /);
    expect((err as Error).message).toMatch(message);
  });

  it('refuses a folder without adapter_config.json or with only adapter_model.bin', async () => {
    await expect(readLoraAdapter(new MemoryFileSource('empty', new Map()), shapes)).rejects.toThrow(/empty\/adapter_config\.json: not found/);
    const bin = new MemoryFileSource('bin', new Map<string, string | Uint8Array>([['adapter_config.json', JSON.stringify(CONFIG)], ['adapter_model.bin', new Uint8Array(8)]]));
    await expect(readLoraAdapter(bin, shapes)).rejects.toThrow(/adapter_model\.bin, a pickle, is not read/);
  });
});

describe('pg-tiny-v2048-224-lora on the GPU', () => {
  let model: PaliGemma;
  let fixture: LoraAdapter;
  let base: Map<string, DumpTensor>;
  const expected = readExpected(join(DIR, 'expected.safetensors'));
  const meta = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8'));
  const run = async () => new Map((await dumpRun(model, { pixels: expected.get('pixel_values')!.data as Float32Array, textIds: meta.text_ids, maxNewTokens: meta.max_new_tokens, logitsRows: meta.prefill_logits_rows })).map((t) => [t.name, t]));
  const errors = (got: Map<string, DumpTensor>) => GOLDEN_FLOAT_TENSORS.map((t) => normErr(got.get(t)!.data as Float32Array, expected.get(t)!.data as Float32Array));
  const ids = (got: Map<string, DumpTensor>) => Array.from(got.get('generated_ids')!.data as BigInt64Array, Number);

  beforeAll(async () => {
    const gpu = await testGpu();
    // The harness applies expected.json's cli_extra (--lora adapter): the strict tier.
    const golden = await runGolden(gpu, DIR);
    const check = compareGolden(golden);
    console.log(`lora fixture: ${check.floats.map((f) => `${f.name} ${f.err.toExponential(2)}`).join(', ')}`);
    expect(check.ok).toBe(true);
    model = golden.model;
    fixture = model.adapters[0]!;
    model.setAdapters([]);
    base = await run();
  });

  it('the base alone is not the fixture (the adapter changes the outputs)', () => {
    expect(errors(base)[1]).toBeLessThanOrEqual(1e-5); // image_features: the adapter leaves SigLIP alone
    expect(errors(base)[3]).toBeGreaterThan(1e-2);
    expect(ids(base)).not.toEqual(meta.generated_ids);
  });

  it('switches adapter, base and adapter again without reloading, each exactly as alone', async () => {
    model.setAdapters([fixture]);
    const on = await run();
    expect(Math.max(...errors(on))).toBeLessThanOrEqual(1e-5);
    expect(ids(on)).toEqual(meta.generated_ids);
    model.setAdapters([]);
    const logits = (t: Map<string, DumpTensor>) => Array.from(t.get('prefill_logits')!.data as Float32Array);
    expect(logits(await run())).toEqual(logits(base));
  });

  it('adds adapters up: two halves (lora_alpha 4 each, one in the new names) are the fixture', async () => {
    const gpu = await testGpu();
    const renamed = fixtureTensors.map((t) => ({ ...t, name: t.name.replace('base_model.model.language_model.model.', 'base_model.model.model.language_model.') }));
    const halves = [await loadLoraAdapter(gpu, model.checkpoint.weights, adapterSource('half', { lora_alpha: 4 })), await loadLoraAdapter(gpu, model.checkpoint.weights, adapterSource('half-new-names', { lora_alpha: 4 }, renamed))];
    model.setAdapters(halves);
    const got = await run();
    model.setAdapters([]);
    for (const h of halves) h.destroy();
    expect(Math.max(...errors(got))).toBeLessThanOrEqual(1e-5);
    expect(ids(got)).toEqual(meta.generated_ids);
  });

  it('bench e2e --lora random:R: base and adapters alternately, the model left as it was', async () => {
    const r = await benchLora(model, ['random:3'], { pixels: expected.get('pixel_values')!.data as Float32Array, textIds: meta.text_ids, runs: 1, maxNewTokens: 3, log: () => {} });
    expect(r.ranks).toBe(7 * 3);
    expect(r.targets.map((t) => t.what)).toEqual(['lora: decode ms/token ÷ base', 'lora: prefill (vision + Gemma) ms ÷ base', 'lora: switching adapters (setAdapters) ms']);
    expect(r.lora.msPerToken).toBeGreaterThan(0);
    expect(model.adapters).toEqual([]);
  });

  it('queued requests keep the adapters they were submitted with', async () => {
    const queue = new RequestQueue(model);
    const input = { pixels: expected.get('pixel_values')!.data as Float32Array, textIds: meta.text_ids };
    const opts = { maxNewTokens: meta.max_new_tokens, stopIds: [] };
    queue.adapters = [fixture];
    const a = queue.submit([input], opts);
    queue.adapters = [];
    const b = queue.submit([input], opts);
    queue.adapters = [fixture];
    const c = queue.submit([input], opts);
    const [ra, rb, rc] = await Promise.all([a.run(), b.run(), c.run()]);
    expect(ra[0]).toEqual(meta.generated_ids);
    expect(rb[0]).toEqual(ids(base));
    expect(rc[0]).toEqual(meta.generated_ids);
    // a and c shared a batch; b ran alone with the base.
    expect([a.batchSize, b.batchSize, c.batchSize]).toEqual([2, 1, 2]);
  });
});

describe('playground server --lora', () => {
  it('lists the adapter folders and serves their files, nothing else', async () => {
    const page = mkdtempSync(join(tmpdir(), 'pg-lora-page-'));
    writeFileSync(join(page, 'index.html'), '<!doctype html>');
    const server = await startPlaygroundServer({ modelDir: join(DIR, 'checkpoint'), loraDirs: [ADAPTER], pageDir: page });
    try {
      const info = (await (await fetch(`${server.url}api/lora`)).json()) as { name: string; files: { path: string }[] }[];
      expect(info.map((a) => [a.name, a.files.map((f) => f.path)])).toEqual([['adapter', ['README.md', 'adapter_config.json', 'adapter_model.safetensors']]]);
      expect(await (await fetch(`${server.url}lora/0/adapter_config.json`)).json()).toEqual(CONFIG);
      expect((await fetch(`${server.url}lora/1/adapter_config.json`)).status).toBe(404);
      expect((await fetch(`${server.url}lora/x/adapter_config.json`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('paligemma dump --lora (the built CLI)', () => {
  const meta = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8'));
  const base = ['dump', '--model', join(DIR, 'checkpoint'), '--pixel-values', join(DIR, 'expected.safetensors'), '--ids', meta.text_ids.join(','), '--max-new-tokens', String(meta.max_new_tokens), '--logits-rows', meta.prefill_logits_rows];

  it("matches the fixture at the strict tier with expected.json's cli_extra", async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'pg-lora-dump-')), 'dump.safetensors');
    const extra = (meta.cli_extra as string[]).map((a, i, all) => (all[i - 1] === '--lora' ? join(DIR, a) : a));
    const r = await cli([...base, '--out', out, ...extra]);
    expect(r.code, r.stderr).toBe(0);
    const got = readExpected(out);
    const ref = readExpected(join(DIR, 'expected.safetensors'));
    expect(Array.from(got.get('generated_ids')!.data as BigInt64Array, Number)).toEqual(meta.generated_ids);
    for (const t of GOLDEN_FLOAT_TENSORS) expect(normErr(got.get(t)!.data as Float32Array, ref.get(t)!.data as Float32Array), t).toBeLessThanOrEqual(1e-5);
  });

  it('says which file is wrong when --lora is not an adapter folder', async () => {
    const r = await cli([...base, '--out', join(tmpdir(), 'never.safetensors'), '--lora', join(DIR, 'checkpoint')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(DIR, 'checkpoint')}/adapter_config.json: not found: not a PEFT adapter folder`);
  });
});
