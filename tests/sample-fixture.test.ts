// The full-vocabulary distributions of Hugging Face's warpers (tests/fixtures/sampling-hf-warpers,
// transformers 4.45.1 in float32) against sampleProbs on the same logits rows.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleProbs } from '../src/kernels/sample.js';
import { readExpected } from '../src/node/golden.js';
import { testGpu } from './helpers/gpu.js';

const dir = join(import.meta.dirname, 'fixtures/sampling-hf-warpers');
const { settings } = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { settings: { temperature: number; top_k: number; top_p: number }[] };
const expected = readExpected(join(dir, 'expected.safetensors'));

describe('sampleProbs against Hugging Face on the 257,216-token vocabulary', () => {
  const logits = expected.get('logits')!;
  const [rows, cols] = logits.shape as [number, number];
  it.each(settings.map((s, i) => [i, s.temperature, s.top_k, s.top_p] as const))('setting %i: T=%f top-k=%i top-p=%f', async (i, temperature, topK, topP) => {
    const gpu = await testGpu();
    const want = expected.get(`probs_${i}`)!.data as Float32Array;
    const x = gpu.upload(logits.data as Float32Array, 'logits');
    const probs = gpu.buffer(rows * cols * 4, 'probs');
    const step = gpu.step('sample-probs');
    for (let r = 0; r < rows; r++) {
      const row = (b: GPUBuffer) => ({ buffer: b, offset: r * cols * 4, size: cols * 4 });
      sampleProbs(step, { logits: row(x), cols, temperature, topK, topP, probs: row(probs) });
    }
    step.end();
    const got = await gpu.readF32(probs);
    for (let r = 0; r < rows; r++) {
      let differ = 0, tv = 0, rel = 0, kept = 0;
      for (let j = r * cols; j < (r + 1) * cols; j++) {
        const g = got[j]!, w = want[j]!;
        if ((g > 0) !== (w > 0)) differ++;
        else if (w > 0) (rel = Math.max(rel, Math.abs(g - w) / w)), kept++;
        tv += Math.abs(g - w) / 2;
      }
      console.log(`setting ${i} row ${r}: kept ${kept}, differ ${differ}, tv ${tv.toExponential(2)}, rel ${rel.toExponential(2)}`);
      expect(differ, `row ${r}: tokens kept by one side`).toBeLessThanOrEqual(1);
      expect(tv, `row ${r}: total variation`).toBeLessThanOrEqual(1e-4);
    }
  });
});
