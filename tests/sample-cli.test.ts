// `paligemma sample-probs` (the built bin) against Hugging Face's fixture and the float64
// reference, its errors, and the sampling settings `generate --json` reports.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readExpected } from '../src/node/golden.js';
import { writeSafetensors } from '../src/node/write-safetensors.js';
import { cli } from './helpers/cli.js';
import { rng } from './helpers/gpu.js';
import { referenceProbs } from './helpers/sample-ref.js';

const FIXTURE = join(__dirname, 'fixtures', 'sampling-hf-warpers');

describe('paligemma sample-probs', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pg-probs-'));

  it('writes the distribution Hugging Face samples from, for every row of the fixture', async () => {
    const out = join(tmp, 'fixture.safetensors');
    const r = await cli(['sample-probs', '--logits', join(FIXTURE, 'expected.safetensors'), '--temperature', '1', '--top-k', '0', '--top-p', '0.9', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const got = readExpected(out).get('probs')!;
    const want = readExpected(join(FIXTURE, 'expected.safetensors')).get('probs_0')!;
    expect(got.shape).toEqual(want.shape);
    let differ = 0, tv = 0;
    for (let i = 0; i < want.data.length; i++) {
      const g = Number(got.data[i]), w = Number(want.data[i]);
      if ((g > 0) !== (w > 0)) differ++;
      tv += Math.abs(g - w) / 2;
    }
    expect(differ).toBeLessThanOrEqual(1);
    expect(tv / 2).toBeLessThan(1e-4); // two rows
  });

  it('applies the repetition penalty to the given ids, with Hugging Face defaults for the rest', async () => {
    const r0 = rng(3);
    const x = Float32Array.from({ length: 700 }, () => (r0() * 2 - 1) * 4);
    const logits = join(tmp, 'logits.safetensors');
    await writeSafetensors(logits, [{ name: 'logits', shape: [700], data: x }]);
    const out = join(tmp, 'pen.safetensors');
    const ids = [5, 17, 17, 300, 699];
    const r = await cli(['sample-probs', '--logits', logits, '--repetition-penalty', '1.7', '--ids', ids.join(','), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('"temperature":1,"top_k":50,"top_p":1,"repetition_penalty":1.7');
    const got = readExpected(out).get('probs')!;
    expect(got.shape).toEqual([1, 700]);
    const { probs } = referenceProbs(x, { temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1.7 }, new Set(ids));
    probs.forEach((p, i) => expect(Math.abs(Number(got.data[i]) - p), `token ${i}`).toBeLessThanOrEqual(1e-6 * Math.max(p, 1e-30) + 1e-12));
  });

  it('says what is wrong with bad input', async () => {
    const logits = join(tmp, 'wrong.safetensors');
    await writeSafetensors(logits, [{ name: 'scores', shape: [4], data: new Float32Array(4) }]);
    const cases: [string[], RegExp][] = [
      [['--logits', logits, '--out', join(tmp, 'x')], /wrong\.safetensors: no tensor named logits \(has scores\)/],
      [['--logits', join(tmp, 'missing'), '--out', join(tmp, 'x')], /cannot read logits .*missing: no such file/],
      [['--logits', logits], /--logits and --out are required/],
      [['--logits', logits, '--out', 'x', '--top-p', '2'], /--top-p must be a number in \[0, 1\]/],
      [['--logits', logits, '--out', 'x', '--repetition-penalty', '1.2'], /--repetition-penalty needs --ids/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['sample-probs', ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('paligemma generate --json', () => {
  it('prints the sampling settings a run used (the defaults filled in)', async () => {
    const full = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224');
    const r = await cli([
      'generate', '--model', join(full, 'checkpoint'), '--image', join(full, 'shapes_300x200.png'), '--prompt', 'caption en',
      '--max-new-tokens', '2', '--sample', '--top-p', '0.9', '--seed', '7', '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.sampling).toEqual({ do_sample: true, temperature: 1, top_k: 50, top_p: 0.9, repetition_penalty: 1, seed: 7 });
    expect(out.ids.length).toBeGreaterThan(0);
  });
});
