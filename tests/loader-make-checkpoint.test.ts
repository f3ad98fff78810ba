import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/make-checkpoint.js';
import { f16BitsToF32Bits, f32BitsToBf16 } from '../src/loader/bf16.js';
import { destroyWeights, loadCheckpoint, type LoadedCheckpoint } from '../src/loader/checkpoint.js';
import { makeCheckpoint } from '../src/loader/make-checkpoint.js';
import { EMBED, LM_HEAD } from '../src/loader/names.js';
import { parseSafetensors } from '../src/loader/safetensors.js';
import { loadCheckpointFromDir } from '../src/loader/node.js';
import type { Gpu } from '../src/device.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { testGpu } from './helpers/gpu.js';
import { fixtureDir, fixtureTensors, gpuWeightBytes, memorySource, randomBytes, singleFileCheckpoint } from './loader-helpers.js';

let gpu: Gpu;
const tmp = mkdtempSync(join(tmpdir(), 'pg-make-'));
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Independent reference: the bf16 nearest to a float64 value (ties to even), via candidates. */
function refBf16(x: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  if (Number.isNaN(x)) return 0x7fc0;
  if (!Number.isFinite(x)) return x > 0 ? 0x7f80 : 0xff80;
  f[0] = x;
  const lo = u[0]! >>> 16;
  // Rounding treats infinity as the next step past the largest finite bf16 (2^128).
  const value = (w: number) => ((w & 0x7fff) === 0x7f80 ? (w & 0x8000 ? -1 : 1) * 2 ** 128 : ((u[0] = (w << 16) >>> 0), f[0]!));
  let best = lo;
  for (const c of [lo, (lo + 1) & 0xffff]) {
    const d = Math.abs(value(c) - x);
    const db = Math.abs(value(best) - x);
    if (d < db || (d === db && (c & 1) === 0)) best = c;
  }
  return best;
}
const f16Value = (h: number) => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
};
const isNanBf16 = (w: number) => (w & 0x7f80) === 0x7f80 && (w & 0x7f) !== 0;

async function gpuWords(ck: LoadedCheckpoint, name: string): Promise<Uint16Array> {
  return new Uint16Array((await gpuWeightBytes(gpu, ck.weights.get(name)!)).buffer);
}

describe('bf16 conversion', () => {
  it('rounds F32 and F16 bits to nearest even bf16 like an independent reference, keeping NaN and Inf', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    const specials = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff, 0x00000001, 0x3f808000, 0x3f818000, 0x3f80ffff, 0x7f7fffff, 0xff7fffff, 0x7f7f8000];
    const words = new Uint32Array(randomBytes(4 * 20000, 7).buffer);
    for (const bits of [...specials, ...words]) {
      u[0] = bits;
      const got = f32BitsToBf16(bits >>> 0);
      if (Number.isNaN(f[0])) {
        expect(isNanBf16(got)).toBe(true);
        expect(got >>> 15).toBe(bits >>> 31);
      } else expect(got).toBe(refBf16(f[0]!));
    }
    for (let h = 0; h < 65536; h++) {
      const v = f16Value(h);
      u[0] = f16BitsToF32Bits(h);
      if (Number.isNaN(v)) expect(Number.isNaN(f[0])).toBe(true);
      else expect(Object.is(f[0], v)).toBe(true);
    }
  });

  it('converts F32 and F16 tensors while streaming, aligned or not', async () => {
    const dir = fixtureDir('pg-tiny-v2048-224-sharded');
    const cfg = readFileSync(join(dir, 'config.json'), 'utf8');
    const t = fixtureTensors(dir);
    // [48] norm weight with special values. The 2-byte extra tensor (ignored, sorted first)
    // shifts every later tensor, so the F32 data starts at a file offset that is not 4-aligned.
    t['language_model.model.a_odd'] = { dtype: 'BF16', shape: [1], data: new Uint8Array(2) };
    const special = new Float32Array([NaN, -NaN, Infinity, -Infinity, -0, 1e-45, 1.00390625, 1.01171875, 3.4e38, -65504, 1 / 3]);
    const norm = new Float32Array(48);
    norm.set(special);
    for (let i = special.length; i < 48; i++) norm[i] = Math.sin(i) * 10 ** ((i % 20) - 10);
    t['language_model.model.norm.weight'] = { dtype: 'F32', shape: [48], data: new Uint8Array(norm.buffer) };
    const half = new Uint16Array(randomBytes(96, 3).buffer);
    t['multi_modal_projector.linear.bias'] = { dtype: 'F16', shape: [48], data: new Uint8Array(half.buffer) };
    const files = singleFileCheckpoint(cfg, t);
    const ck = await loadCheckpoint(memorySource(files), gpu.device, { stagingBytes: 40 });
    const header = parseSafetensors('model.safetensors', files.get('model.safetensors') as Uint8Array);
    expect((header.dataStart + header.tensors.get('language_model.model.norm.weight')!.begin) % 4).toBe(2);
    expect(ck.warnings).toHaveLength(1);
    const gotNorm = await gpuWords(ck, 'language_model.model.norm.weight');
    norm.forEach((x, i) => (Number.isNaN(x) ? expect(isNanBf16(gotNorm[i]!)).toBe(true) : expect(gotNorm[i]).toBe(refBf16(x))));
    const gotBias = await gpuWords(ck, 'multi_modal_projector.linear.bias');
    half.forEach((h, i) => (Number.isNaN(f16Value(h)) ? expect(isNanBf16(gotBias[i]!)).toBe(true) : expect(gotBias[i]).toBe(refBf16(f16Value(h)))));
    destroyWeights(ck.weights);
  });
});

describe('make-checkpoint', () => {
  it('writes the HF layout for --preset tiny and it loads bit for bit', async () => {
    const out = join(tmp, 'tiny-bf16');
    expect(await run(['--preset', 'tiny', '--seed', '5', '--out', out])).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'preprocessor_config.json', 'tokenizer.json']);
    const bytes = new Uint8Array(readFileSync(join(out, 'model.safetensors')));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    const keys = Object.keys(JSON.parse(headerText));
    expect(keys[0]).toBe('__metadata__');
    expect(keys.slice(1)).toEqual([...keys.slice(1)].sort());
    expect(keys).not.toContain(LM_HEAD);
    expect(JSON.parse(headerText).__metadata__).toEqual({ format: 'pt' });
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.text_config).not.toHaveProperty('rope_theta');
    expect(config.vision_config).not.toHaveProperty('image_size');
    expect(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')).added_tokens.length).toBeGreaterThan(1000);

    const ck = await loadCheckpointFromDir(out, gpu.device);
    expect(ck.config.text.vocabSize).toBe(257216);
    const onDisk = fixtureTensors(out);
    for (const [name, t] of Object.entries(onDisk)) {
      const words = await gpuWords(ck, name);
      expect(Buffer.compare(new Uint8Array(words.buffer, 0, t.data.length), t.data)).toBe(0);
    }
    // Values are finite and spread out (not all zero, not constant).
    const embed = await gpuWords(ck, EMBED);
    let nonFinite = 0;
    const distinct = new Set<number>();
    for (let i = 0; i < 100000; i++) {
      if ((embed[i]! & 0x7f80) === 0x7f80) nonFinite++;
      distinct.add(embed[i]!);
    }
    expect(nonFinite).toBe(0);
    expect(distinct.size).toBeGreaterThan(500);
    destroyWeights(ck.weights);
  });

  it('F16 and F32 files (and new names in 3 shards) give the same bf16 bits as the bf16 file', async () => {
    const ref = await loadCheckpointFromDir(join(tmp, 'tiny-bf16'), gpu.device);
    for (const [dtype, shards, naming] of [['f16', 1, 'old'], ['f32', 3, 'new']] as const) {
      const out = join(tmp, `tiny-${dtype}`);
      await makeCheckpoint({ preset: 'tiny', seed: 5, out, dtype, shards, naming });
      // The F32 file also goes into weight textures through small staging buffers (converted rows
      // spread to the copy stride).
      const ck = await loadCheckpointFromDir(out, gpu.device, dtype === 'f32' ? { stagingBytes: 4096, textures: () => true } : { stagingBytes: 1 << 20 });
      expect(ck.weights.size).toBe(ref.weights.size);
      if (dtype === 'f32') expect([...ck.weights.values()].some((w) => weightTexture(w))).toBe(true);
      for (const name of ref.weights.keys()) {
        const [a, b] = [await gpuWeightBytes(gpu, ref.weights.get(name)!), await gpuWeightBytes(gpu, ck.weights.get(name)!)];
        expect(Buffer.compare(a, b), `${dtype} ${name}`).toBe(0);
      }
      if (shards === 3) {
        expect(readdirSync(out)).toContain('model-00003-of-00003.safetensors');
        const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
        expect(index.metadata.total_size).toBe(ck.bytesRead);
        expect(Object.keys(index.weight_map).every((k) => k.startsWith('model.'))).toBe(true);
      }
      destroyWeights(ck.weights);
    }
    destroyWeights(ref.weights);
  });

  it('prints usage errors', async () => {
    expect(await run([])).toBe(2);
    expect(await run(['--preset', 'huge', '--out', tmp])).toBe(2);
    expect(await run(['--preset', 'tiny'])).toBe(2);
    expect(await run(['--preset', 'tiny', '--out', tmp, '--dtype', 'int8'])).toBe(2);
    expect(await run(['--preset', 'tiny', '--out', tmp, '--shards', 'x'])).toBe(2);
    expect(await run(['--preset', 'tiny', '--out', tmp, '--bogus'])).toBe(2);
  });
});
