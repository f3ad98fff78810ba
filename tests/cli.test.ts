// The command line as users run it (the built bin/paligemma.mjs): dump against a golden fixture,
// generate --json, and clear errors for bad input.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '../src/loader/safetensors.js';
import { GOLDEN_FLOAT_TENSORS, normErr, readExpected } from '../src/node/golden.js';
import { cli } from './helpers/cli.js';

const FIXTURE = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded');
const meta = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8'));

describe('paligemma CLI', () => {
  it('dump writes the fixture tensors with the reference ids', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'pg-dump-')), 'dump.safetensors');
    const r = await cli([
      'dump', '--model', join(FIXTURE, 'checkpoint'), '--pixel-values', join(FIXTURE, 'expected.safetensors'),
      '--ids', meta.text_ids.join(','), '--max-new-tokens', String(meta.max_new_tokens), '--out', out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const bytes = new Uint8Array(readFileSync(out));
    const h = parseSafetensors(out, bytes);
    const t = h.tensors.get('generated_ids')!;
    const ids = Array.from(new BigInt64Array(bytes.slice(h.dataStart + t.begin, h.dataStart + t.end).buffer), Number);
    expect(ids).toEqual(meta.generated_ids);
    expect(h.tensors.get('final_hidden_states')!.shape).toEqual([1, meta.seq_len, 48]);
  });

  it('dump --quantize int8 matches the int8 fixture (from its expected.json cli_extra)', async () => {
    const dir = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-int8');
    const m = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
    const out = join(mkdtempSync(join(tmpdir(), 'pg-dump-')), 'dump.safetensors');
    const r = await cli([
      'dump', '--model', join(dir, 'checkpoint'), '--pixel-values', join(dir, 'expected.safetensors'),
      '--ids', m.text_ids.join(','), '--max-new-tokens', String(m.max_new_tokens), '--logits-rows', m.prefill_logits_rows ?? 'text', '--out', out, ...m.cli_extra,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const got = readExpected(out);
    const ref = readExpected(join(dir, 'expected.safetensors'));
    expect(Array.from(got.get('generated_ids')!.data as BigInt64Array, Number)).toEqual(m.generated_ids);
    for (const t of GOLDEN_FLOAT_TENSORS) expect(normErr(got.get(t)!.data as Float32Array, ref.get(t)!.data as Float32Array), t).toBeLessThanOrEqual(1e-5);
  });

  it('selfcheck --fixture checks the whole model against a golden fixture', async () => {
    const r = await cli(['selfcheck', '--fixture', FIXTURE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/prefill_logits: max\|err\|\/max\|ref\| = \S+ ok/);
    expect(r.stdout).toContain(`selfcheck ${FIXTURE}: ok`);
    expect(r.stdout).toMatch(/selfcheck GEMV K=16384 N=2048: max\|err\|\/max\|ref\| = \S+ ok/);
  });

  it('generate --json on an image and a prompt gives the reference ids, text and timings', async () => {
    const full = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224');
    const ref = JSON.parse(readFileSync(join(full, 'expected.json'), 'utf8'));
    const r = await cli([
      'generate', '--model', join(full, 'checkpoint'), '--image', join(full, 'shapes_300x200.png'),
      '--prompt', 'caption en', '--max-new-tokens', '3', '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ids).toEqual(ref.generated_ids.slice(0, 3));
    expect(typeof out.text).toBe('string');
    expect(out.timings.prefill_ms).toBeGreaterThan(0);
    expect(out.timings.first_choice_ms).toBeGreaterThan(0);
    expect(out.timings.decode_tokens_per_s).toBeGreaterThan(0);
    // A fresh process builds every pipeline once (fast from Mesa's disk cache), and says so.
    expect(out.timings.pipelines_compiled).toBeGreaterThan(0);
    expect(r.stderr).toMatch(new RegExp(`compiled ${out.timings.pipelines_compiled} pipelines in \\d+\\.\\d s`));
    // Ahead, while the weights streamed (a GPU's async creation, a CPU adapter's compile helpers), or null.
    expect(out.timings).toHaveProperty('compile_ahead_s');
    if (out.timings.compile_ahead_s !== null) expect(r.stderr).toMatch(/pipelines in \d+\.\d s from when the weights were allocated \(the load took \d+\.\d s\), \d+\.\d s after the load/);
  });

  it('says what is wrong with a missing image or a bad option', async () => {
    const missing = await cli(['generate', '--model', join(FIXTURE, 'checkpoint'), '--image', 'no-such.png', '--prompt', 'x']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/cannot read image no-such\.png: no such file/);
    const bad = await cli(['generate', '--image', 'a.png', '--prompt', 'x', '--top-p', '2']);
    expect(bad.stderr).toMatch(/--top-p must be a number in \[0, 1\], got '2'/);
    const q = await cli(['generate', '--image', 'a.png', '--prompt', 'x', '--quantize', 'int3']);
    expect(q.code).not.toBe(0);
    expect(q.stderr).toMatch(/--quantize must be int8 or int4, got 'int3'/);
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
