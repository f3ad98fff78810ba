import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, destroyWeights, type LoadedCheckpoint } from '../src/loader/checkpoint.js';
import { CheckpointError } from '../src/loader/errors.js';
import { planCheckpoint } from '../src/loader/layout.js';
import { canonicalName, EMBED, LM_HEAD } from '../src/loader/names.js';
import { loadCheckpointFromDir } from '../src/loader/node.js';
import type { Gpu } from '../src/device.js';
import { BLOCK_TEXELS, copyWeightRows, createWeightTexture, fitsTexture, packWeightTexture, textureRowStride, texelsPerRow, weightTexture } from '../src/kernels/weight-texture.js';
import type { GpuWeight } from '../src/weights.js';
import { testGpu } from './helpers/gpu.js';
import { fixtureDir, fixtureTensors, gpuWeightBytes, memorySource, textureRowPads, readFolder, singleFileCheckpoint, type RawTensor } from './loader-helpers.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

/** Read every shard back and check it holds exactly `bytes` (plus zero padding). */
async function expectGpuBytes(w: GpuWeight, bytes: Uint8Array): Promise<void> {
  const rowBytes = w.shape.slice(1).reduce((a, b) => a * b, 1) * 2;
  let covered = 0;
  for (const s of w.shards) {
    const got = new Uint8Array(await gpu.read(s.buffer));
    const want = bytes.subarray(s.rowStart * rowBytes, (s.rowStart + s.rows) * rowBytes);
    expect(got.length).toBe(Math.max(4, Math.ceil(want.length / 4) * 4));
    expect(Buffer.compare(got.subarray(0, want.length), want)).toBe(0);
    expect(got.subarray(want.length).every((b) => b === 0)).toBe(true);
    covered += want.length;
  }
  expect(covered).toBe(bytes.length);
}

async function expectCheckpointError(p: Promise<unknown>, file: string, phrase: string): Promise<CheckpointError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(CheckpointError);
  expect((e as CheckpointError).file).toBe(file);
  expect((e as CheckpointError).problem).toContain(phrase);
  return e as CheckpointError;
}

const FIXTURES = ['pg-tiny-fullvocab-224', 'pg-tiny-v2048-224-newnames', 'pg-tiny-v2048-224-sharded'];

describe('loading the fixtures', () => {
  for (const name of FIXTURES) {
    it(`${name}: every weight on the GPU equals the file bytes`, async () => {
      const dir = fixtureDir(name);
      const progress: number[] = [];
      const ck = await loadCheckpointFromDir(dir, gpu.device, { onProgress: (p) => progress.push(p.bytesDone) });
      const onDisk = fixtureTensors(dir);
      expect(ck.weights.size).toBe(Object.keys(onDisk).length + 1);
      expect(ck.weights.get(LM_HEAD)).toBe(ck.weights.get(EMBED));
      expect(ck.warnings).toEqual([]);
      const total = Object.values(onDisk).reduce((a, t) => a + t.data.length, 0);
      expect(ck.bytesRead).toBe(total);
      expect(progress.at(-1)).toBe(total);
      for (const [fileName, t] of Object.entries(onDisk)) {
        const w = ck.weights.get(canonicalName(fileName))!;
        expect(w.shape).toEqual(t.shape);
        expect(w.shards).toHaveLength(1);
        await expectGpuBytes(w, t.data);
      }
      expect(ck.preprocessor?.width).toBe(224);
      expect(ck.generation?.eosIds).toEqual([1]);
      destroyWeights(ck.weights);
    });
  }

  it('hands beforeStream the checkpoint it returns, every weight allocated (the tied LM head too) and none read yet', async () => {
    const dir = fixtureDir('pg-tiny-v2048-224-sharded');
    const progress: number[] = [];
    let seen: { checkpoint: LoadedCheckpoint; weights: number; progress: number; bytesRead: number } | undefined;
    const ck = await loadCheckpointFromDir(dir, gpu.device, {
      onProgress: (p) => progress.push(p.bytesDone),
      beforeStream: (c) => (seen = { checkpoint: c, weights: c.weights.size, progress: progress.length, bytesRead: c.bytesRead }),
    });
    expect(seen?.checkpoint).toBe(ck);
    expect(seen).toMatchObject({ weights: ck.weights.size, progress: 0, bytesRead: 0 });
    expect(ck.weights.get(LM_HEAD)).toBe(ck.weights.get(EMBED));
    expect(ck.bytesRead).toBe(progress.at(-1));
    expect(ck.seconds).toBeGreaterThan(0);
    destroyWeights(ck.weights);
  });

  it('splits a tensor over the binding limit along dim 0 and streams through small staging buffers', async () => {
    const dir = fixtureDir('pg-tiny-v2048-224-sharded');
    // embed_tokens is [2048, 48] bf16 = 96 bytes per row: 50,000 bytes -> 520 rows per shard.
    const ck = await loadCheckpointFromDir(dir, gpu.device, { maxBindingBytes: 50_000, stagingBytes: 1000 });
    const embed = ck.weights.get(EMBED)!;
    expect(embed.shards.map((s) => [s.rowStart, s.rows])).toEqual([[0, 520], [520, 520], [1040, 520], [1560, 488]]);
    expect(embed.shards.map((s) => s.buffer.size)).toEqual([49920, 49920, 49920, 46848]);
    const onDisk = fixtureTensors(dir);
    for (const [fileName, t] of Object.entries(onDisk)) await expectGpuBytes(ck.weights.get(canonicalName(fileName))!, t.data);
    destroyWeights(ck.weights);
  });

  it('writes [N, K] weights straight into textures bit for bit, a layer per staging buffer, rows at the copy stride', async () => {
    const dir = fixtureDir('pg-tiny-v2048-224-sharded');
    const stagingBytes = 1000;
    const ck = await loadCheckpointFromDir(dir, gpu.device, { textures: () => true, stagingBytes });
    let layered = 0;
    for (const [fileName, t] of Object.entries(fixtureTensors(dir))) {
      const w = ck.weights.get(canonicalName(fileName))!;
      const wt = weightTexture(w);
      const K = t.shape.slice(1).reduce((a, b) => a * b, 1);
      const stride = Math.ceil((K * 2) / 256) * 256;
      expect(wt !== undefined, fileName).toBe(t.shape.length >= 2 && K % 4 === 0 && stride <= stagingBytes);
      if (wt) {
        expect(wt.H * stride).toBeLessThanOrEqual(stagingBytes);
        if (wt.texture.depthOrArrayLayers > 1) layered++;
      }
      expect(Buffer.compare(await gpuWeightBytes(gpu, w), t.data), fileName).toBe(0);
    }
    expect(layered).toBeGreaterThan(0);
    destroyWeights(ck.weights);
  });

  // K = 8·BLOCK_TEXELS + 12: rows of two column blocks (the second of 2 texels, its last half
  // zeros), 3 rows a layer: 7 rows in 3 layers per block, copied in pieces of a layer and less.
  it('copies rows wider than a column block into their blocks: the loader and the pack kernel store the same texels', async () => {
    const [N, K] = [7, 8 * BLOCK_TEXELS + 12];
    const words = Uint16Array.from({ length: N * K }, (_, i) => (i * 2654435761) >>> 16);
    const stride = textureRowStride(texelsPerRow('bf16', K));
    const w: GpuWeight = { name: 'wide', shape: [N, K], dtype: 'bf16', shards: [] };
    const wt = createWeightTexture(gpu.device, w, 3);
    expect([wt.W, wt.H, wt.L, wt.texture.width, wt.texture.depthOrArrayLayers]).toEqual([BLOCK_TEXELS + 2, 3, 3, BLOCK_TEXELS, 6]);
    for (const [rowStart, rows] of [[0, 2], [2, 5]] as const) {
      const staging = new Uint8Array(rows * stride);
      for (let r = 0; r < rows; r++) staging.set(new Uint8Array(words.buffer, (rowStart + r) * K * 2, K * 2), r * stride);
      const src = gpu.upload(staging, 'staging');
      const enc = gpu.device.createCommandEncoder();
      copyWeightRows(enc, src, wt, rowStart, rows);
      gpu.device.queue.submit([enc.finish()]);
    }
    const bytes = new Uint8Array(words.buffer);
    expect(Buffer.compare(await gpuWeightBytes(gpu, w), bytes)).toBe(0);
    expect(await textureRowPads(gpu, w)).toEqual(new Uint8Array(8 * N));
    const packed: GpuWeight = { name: 'wide packed', shape: [N, K], dtype: 'bf16', shards: [{ buffer: gpu.upload(bytes, 'wide'), rowStart: 0, rows: N }] };
    await packWeightTexture(gpu, packed);
    expect(Buffer.compare(await gpuWeightBytes(gpu, packed), bytes)).toBe(0);
    expect(await textureRowPads(gpu, packed)).toEqual(new Uint8Array(8 * N));
  });

  it('writes a conv kernel [N, 3, 14, 14] (K = 588, a half texel per row) into its texture with zeros after each row', async () => {
    const dir = fixtureDir('pg-tiny-v2048-224-sharded');
    const name = 'vision_tower.vision_model.embeddings.patch_embedding.weight';
    const ck = await loadCheckpointFromDir(dir, gpu.device, { textures: (t) => t.name === name, stagingBytes: 4 * 1280 });
    const w = ck.weights.get(name)!;
    const wt = weightTexture(w)!;
    expect([wt.W, wt.H, wt.texture.depthOrArrayLayers]).toEqual([74, 4, Math.ceil(w.shape[0]! / 4)]);
    const t = Object.entries(fixtureTensors(dir)).find(([f]) => canonicalName(f) === name)![1];
    expect(Buffer.compare(await gpuWeightBytes(gpu, w), t.data)).toBe(0);
    expect(await textureRowPads(gpu, w)).toEqual(new Uint8Array(8 * w.shape[0]!));
    destroyWeights(ck.weights);
  });

  it('takes the texture layout only for [N, K…] with K % 4 == 0, within the limits and the rows per layer', () => {
    const limits = gpu.limits;
    expect(fitsTexture(limits, [16, 8])).toBe(true);
    expect(fitsTexture(limits, [16, 12])).toBe(true);
    expect(fitsTexture(limits, [16, 10])).toBe(false);
    expect(fitsTexture(limits, [0, 8])).toBe(false);
    expect(fitsTexture(limits, [16, 0])).toBe(false);
    expect(fitsTexture(limits, [16])).toBe(false);
    expect(fitsTexture(limits, [2, 4, 8])).toBe(true);
    expect(fitsTexture(limits, [2, 3, 7, 7])).toBe(false);
    // Rows wider than a column block go on in further layers, all layers within maxTextureArrayLayers.
    expect(fitsTexture(limits, [16, 8 * (limits.maxTextureDimension2D + 1)])).toBe(true);
    expect(fitsTexture(limits, [16, 8 * BLOCK_TEXELS * limits.maxTextureArrayLayers])).toBe(true);
    expect(fitsTexture(limits, [16, 8 * BLOCK_TEXELS * limits.maxTextureArrayLayers + 8])).toBe(false);
    expect(fitsTexture(limits, [limits.maxTextureArrayLayers / 2, 8 * BLOCK_TEXELS + 8], 1)).toBe(true);
    expect(fitsTexture(limits, [limits.maxTextureArrayLayers / 2 + 1, 8 * BLOCK_TEXELS + 8], 1)).toBe(false);
    // One row per layer: as many layers as rows, within maxTextureArrayLayers or not.
    expect(fitsTexture(limits, [limits.maxTextureArrayLayers, 8], 1)).toBe(true);
    expect(fitsTexture(limits, [limits.maxTextureArrayLayers + 1, 8], 1)).toBe(false);
  });

  it('keeps an explicit (untied) lm_head as its own weight', async () => {
    const dir = fixtureDir('pg-tiny-v2048-224-sharded');
    const tensors = fixtureTensors(dir);
    const embed = tensors[EMBED]!;
    const head = { ...embed, data: embed.data.map((b) => b ^ 0x5a) };
    const files = singleFileCheckpoint(readFileSync(join(dir, 'config.json'), 'utf8'), { ...tensors, 'lm_head.weight': head });
    const ck = await loadCheckpoint(memorySource(files), gpu.device);
    expect(ck.weights.get(LM_HEAD)).not.toBe(ck.weights.get(EMBED));
    await expectGpuBytes(ck.weights.get(LM_HEAD)!, head.data);
    await expectGpuBytes(ck.weights.get(EMBED)!, embed.data);
    destroyWeights(ck.weights);
  });
});

describe('checkpoint errors', () => {
  const sharded = fixtureDir('pg-tiny-v2048-224-sharded');
  const config = () => readFileSync(join(sharded, 'config.json'), 'utf8');
  const variant = (edit: (t: Record<string, RawTensor>) => void, configText = config()) => {
    const t = fixtureTensors(sharded);
    edit(t);
    return memorySource(singleFileCheckpoint(configText, t));
  };

  it('reports a missing or invalid config.json', async () => {
    const files = readFolder(sharded);
    files.delete('config.json');
    await expectCheckpointError(planCheckpoint(memorySource(files)), 'config.json', 'missing');
    files.set('config.json', '{"text_config": 3');
    await expectCheckpointError(planCheckpoint(memorySource(files)), 'config.json', 'not valid JSON');
  });

  it('reports a folder without weights', async () => {
    const files = new Map<string, string>([['config.json', config()]]);
    await expectCheckpointError(planCheckpoint(memorySource(files)), 'model.safetensors', 'neither model.safetensors nor model.safetensors.index.json (found: config.json)');
  });

  it('reports an index naming a missing shard file', async () => {
    const files = readFolder(sharded);
    files.delete('model-00002-of-00003.safetensors');
    await expectCheckpointError(planCheckpoint(memorySource(files)), 'model.safetensors.index.json', 'shard file "model-00002-of-00003.safetensors" named in weight_map does not exist');
  });

  it('reports an index naming a tensor that is not in its shard', async () => {
    const files = readFolder(sharded);
    const index = JSON.parse(files.get('model.safetensors.index.json') as string);
    index.weight_map['language_model.model.norm.weight'] = 'model-00001-of-00003.safetensors';
    files.set('model.safetensors.index.json', JSON.stringify(index));
    await expectCheckpointError(planCheckpoint(memorySource(files)), 'model-00001-of-00003.safetensors', 'tensor "language_model.model.norm.weight" is listed in model.safetensors.index.json for this shard but is not in it');
  });

  it('warns about shard tensors the index does not list, and about unknown tensors', async () => {
    const files = readFolder(sharded);
    const index = JSON.parse(files.get('model.safetensors.index.json') as string);
    index.weight_map['extra.weight'] = 'model-00002-of-00003.safetensors';
    delete index.weight_map['language_model.model.layers.0.input_layernorm.weight'];
    index.weight_map['language_model.model.layers.0.input_layernorm.weight'] = 'model-00002-of-00003.safetensors';
    files.set('model.safetensors.index.json', JSON.stringify(index));
    // extra.weight is listed but absent: that is an error naming the shard.
    await expectCheckpointError(planCheckpoint(memorySource(files)), 'model-00002-of-00003.safetensors', 'tensor "extra.weight" is listed');
    const plan = await planCheckpoint(variant((t) => (t['vision_tower.vision_model.head.weight'] = { dtype: 'BF16', shape: [2], data: new Uint8Array(4) })));
    expect(plan.warnings).toEqual(['model.safetensors: ignoring unknown tensor "vision_tower.vision_model.head.weight"']);
    const unlisted = readFolder(sharded);
    const idx2 = JSON.parse(unlisted.get('model.safetensors.index.json') as string);
    idx2.weight_map = Object.fromEntries(Object.entries(idx2.weight_map).filter(([k]) => k !== 'multi_modal_projector.linear.bias'));
    unlisted.set('model.safetensors.index.json', JSON.stringify(idx2));
    const e = await expectCheckpointError(planCheckpoint(memorySource(unlisted)), 'model.safetensors.index.json', 'missing 1 tensor(s)');
    expect(e.problem).toContain('multi_modal_projector.linear.bias');
  });

  it('lists every missing tensor', async () => {
    const gone = ['language_model.model.norm.weight', 'vision_tower.vision_model.encoder.layers.1.mlp.fc2.bias', 'multi_modal_projector.linear.weight'];
    const e = await expectCheckpointError(planCheckpoint(variant((t) => gone.forEach((n) => delete t[n]))), 'model.safetensors', 'missing 3 tensor(s) required by config.json');
    for (const n of gone) expect(e.problem).toContain(n);
  });

  it('reports shape mismatches with tensor, expected and found shapes', async () => {
    const k = 'language_model.model.layers.1.self_attn.k_proj.weight';
    await expectCheckpointError(planCheckpoint(variant((t) => (t[k]!.shape = [48, 24]))), 'model.safetensors', `tensor "${k}" has shape [48, 24] but expected [24, 48]`);
    const cfg = JSON.parse(config());
    cfg.text_config.vocab_size = 2000;
    cfg.image_token_index = 1999;
    await expectCheckpointError(planCheckpoint(variant(() => {}, JSON.stringify(cfg))), 'model.safetensors', `tensor "${EMBED}" has shape [2048, 48] but expected [2000, 48] (config.json vocab_size 2000`);
  });

  it('reports a weight present under two naming families, and unsupported dtypes', async () => {
    await expectCheckpointError(planCheckpoint(variant((t) => (t['model.language_model.norm.weight'] = t['language_model.model.norm.weight']!))), 'model.safetensors', 'both map to language_model.model.norm.weight');
    const n = 'language_model.model.norm.weight';
    await expectCheckpointError(planCheckpoint(variant((t) => (t[n] = { dtype: 'I16', shape: [48], data: t[n]!.data }))), 'model.safetensors', `tensor "${n}" has dtype I16; only BF16, F16 and F32`);
  });

  it('allocates no GPU buffer when validation fails', async () => {
    let created = 0;
    let storage = 0;
    const device = gpu.device;
    const counting = new Proxy(device, {
      get(target, prop) {
        if (prop === 'createBuffer') return (d: GPUBufferDescriptor) => (created++, (storage += d.usage & GPUBufferUsage.STORAGE ? 1 : 0), target.createBuffer(d));
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const k = 'language_model.model.layers.2.mlp.up_proj.weight';
    await expectCheckpointError(loadCheckpoint(variant((t) => (t[k]!.shape = [48, 96])), counting), 'model.safetensors', 'expected [96, 48]');
    expect(created).toBe(0);
    // The same wrapper does see allocations on a good load: one buffer per weight (the tied LM
    // head is the embedding), besides the staging buffers.
    const ck = await loadCheckpoint(variant(() => {}), counting);
    expect(storage).toBe(ck.weights.size - 1);
    destroyWeights(ck.weights);
  });
});
