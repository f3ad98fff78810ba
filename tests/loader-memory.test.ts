// PaliGemma 2 presets (the real shapes) and the memory estimate that refuses what cannot fit.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/loader/config.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planCheckpoint } from '../src/loader/layout.js';
import { makeCheckpoint, presetConfig, PRESETS, type Preset } from '../src/loader/make-checkpoint.js';
import { NodeFileSource } from '../src/loader/node-source.js';
import { checkMemory, estimateMemory, MemoryError } from '../src/loader/memory.js';
import { expectedTensors } from '../src/loader/names.js';
import { quantizeFor } from '../src/graph/weights.js';

const config = (p: Preset) => parseConfig(JSON.stringify(presetConfig(p)));
const GiB = 1024 ** 3;

describe('PaliGemma 2 presets', () => {
  // keras-hub's pali_gemma2_pt_* metadata counts a 257152-row embedding; HF pads it to 257216 rows.
  it.each([
    ['pg2-3b-224', 3032094960],
    ['pg2-3b-896', 3036518640],
    ['pg2-10b-224', 9662409456],
    ['pg2-28b-224', 27650192112],
  ] as const)('%s has the published parameter count', (preset, keras) => {
    const c = config(preset);
    let params = 0;
    for (const [, shape] of expectedTensors(c)) params += shape.reduce((a, b) => a * b, 1);
    expect(params - 64 * c.text.hiddenSize).toBe(keras);
  });

  it('pg2-tiny in new names over 3 shards plans completely (the extra norms found, nothing ignored)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pg2-new-'));
    await makeCheckpoint({ preset: 'pg2-tiny', seed: 1, out, naming: 'new', shards: 3 });
    const plan = await planCheckpoint(new NodeFileSource(out));
    expect(plan.warnings).toEqual([]);
    expect(plan.tensors.get('language_model.model.layers.2.post_feedforward_layernorm.weight')?.fileName).toBe('model.language_model.layers.2.post_feedforward_layernorm.weight');
    expect(plan.tensors.size).toBe(expectedTensors(plan.config).size);
    rmSync(out, { recursive: true, force: true });
  });

  it('every preset parses, with Gemma 2 attention settings from the config', () => {
    for (const p of PRESETS.filter((x) => x.startsWith('pg2-'))) {
      const c = config(p);
      expect(c.text.modelType).toBe('gemma2');
      expect(c.text).toMatchObject({ attnLogitSoftcap: 50, finalLogitSoftcap: 30 });
      expect(c.text.layerWindows[0]).toBe(p === 'pg2-tiny' ? 256 : 4096);
      expect(c.text.layerWindows[1]).toBe(0);
    }
    expect(config('pg2-28b-896').text).toMatchObject({ headDim: 128, queryPreAttnScalar: 144, numHeads: 32, numKvHeads: 16 });
    expect(config('pg2-28b-896').numImageTokens).toBe(4096);
  });
});

describe('memory estimate', () => {
  it('weights: two bytes a parameter in bf16; int8 and int4 shrink every Linear weight', () => {
    const c = config('pt-224');
    expect(estimateMemory(c).weights).toBe(2 * 2923466480);
    const int8 = estimateMemory(c, { quantize: quantizeFor('int8') }).weights;
    const int4 = estimateMemory(c, { quantize: quantizeFor('int4') }).weights;
    expect(int8 / (2 * 2923466480)).toBeGreaterThan(0.5);
    expect(int8 / (2 * 2923466480)).toBeLessThan(0.52);
    expect(int4 / (2 * 2923466480)).toBeLessThan(0.33);
  });

  it('refuses PaliGemma 2 28B in bf16 on 24 GiB and names the quantization that fits', () => {
    const c = config('pg2-28b-224');
    const check = (q?: 'int8' | 'int4') => () => checkMemory(c, 24 * GiB, 'this machine', { quantize: quantizeFor(q), quantizeAs: quantizeFor, current: q });
    expect(check()).toThrow(MemoryError);
    expect(check()).toThrow(/PaliGemma 2 .*46-layer.*needs about 5\d\.\d GiB .*but this machine has 24\.0 GiB; quantized to int4 \(--quantize int4\)/);
    expect(check('int4')).not.toThrow();
    expect(() => checkMemory(config('pg2-3b-224'), 24 * GiB, 'this machine', { quantizeAs: quantizeFor })).not.toThrow();
    expect(() => checkMemory(config('pg2-3b-896'), 2 * GiB, 'this machine', { quantizeAs: quantizeFor })).toThrow(/does not fit even quantized to int4/);
  });
});
