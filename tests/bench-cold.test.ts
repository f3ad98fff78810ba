// bench cold: each child's measurement in this process (the CLI runs them in fresh processes with
// empty shader caches, which would compile every pipeline again here), the report built from them,
// and the CLI's errors. No timing assertions.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coldChild, type ColdReport } from '../bench/cold.js';
import { coldText } from '../bench/cold-report.js';
import { machine } from '../bench/machine.js';
import { cli } from './helpers/cli.js';
import { testGpu } from './helpers/gpu.js';

const MODEL = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224', 'checkpoint');

describe('bench cold', () => {
  it("lists every pipeline of a request, compiled one at a time or all at once; the request then compiles nothing", async () => {
    const o = { model: MODEL, images: 1, maxNewTokens: 3, prompt: 'caption en', gpu: {} };
    const each = await coldChild('each', o);
    const together = await coldChild('together', o);
    for (const c of [each, together]) {
      expect(c.compiled.pipelines).toBeGreaterThan(5);
      expect(c.request.compiledPipelines + c.request.compiledOnDispatch).toBe(0);
      expect(c.request.firstTokenMs).toBeGreaterThan(0);
      for (const p of c.pipelines) expect(p.createMs).toBeGreaterThanOrEqual(0);
    }
    // One at a time: a time for each pipeline the request compiled (the others were the load's).
    const timed = each.pipelines.filter((p) => p.compileMs !== undefined);
    expect(timed.length).toBe(each.compiled.pipelines);
    for (const p of timed) expect(p.compileMs).toBeGreaterThanOrEqual(0);
    expect(together.pipelines.every((p) => p.compileMs === undefined)).toBe(true);
    // Both processes built the same pipelines.
    expect(together.pipelines.map((p) => p.name).sort()).toEqual(each.pipelines.map((p) => p.name).sort());
    expect(together.compiled.pipelines).toBe(each.compiled.pipelines);
    // As generate: while the weights streamed, on the helpers (a CPU adapter) or Dawn's workers (a GPU).
    const ahead = !(await testGpu()).cpuAdapter || together.helpers > 0;
    expect(together.compiledAhead?.pipelines ?? 0).toBe(ahead ? together.compiled.pipelines : 0);
    expect(together.loadSeconds).toBeGreaterThan(0);

    const report: ColdReport = { date: '', command: 'test', machine: machine(), adapter: each.adapter, model: MODEL, images: 1, each, together };
    const text = coldText(report);
    for (const p of timed) expect(text).toContain(p.name);
    expect(text).toContain(`${each.pipelines.length} pipelines (`);
    expect(text).toMatch(/then 0 pipelines compiled by the request itself\n.*then 0 pipelines compiled by the request itself/);
    if (ahead) expect(text).toMatch(/ms from the weights' allocation \(the load took [\d.]+ ms\), [\d.]+ ms after the load; then/);
  });

  it('lists the quantized kernels a request builds with --quantize', async () => {
    const c = await coldChild('together', { model: MODEL, images: 1, maxNewTokens: 2, prompt: 'caption en', gpu: {}, quantize: 'int4' });
    expect(c.request.compiledPipelines + c.request.compiledOnDispatch).toBe(0);
    expect(c.pipelines.some((p) => p.name.includes('int4'))).toBe(true);
  });

  it('passes --lora on to its processes, and refuses what it cannot run', async () => {
    const lora = await cli(['bench', 'cold', '--model', MODEL, '--lora', join(__dirname, 'no-such-adapter')]);
    expect(lora.code).not.toBe(0);
    expect(lora.stderr).toMatch(/--child each .*--lora .*no-such-adapter.* process failed \(exit \d+\):\npaligemma: .*no-such-adapter/);
    for (const [args, message] of [
      [['--lora', 'random:4'], "bench cold: --lora takes adapter folders (random adapters are e2e's), got 'random:4'"],
      [['--lora-merge'], '--lora-merge merges the --lora adapters: give at least one'],
      [['--quantize', 'int5'], "--quantize must be int8 or int4, got 'int5'"],
    ] as const) {
      const r = await cli(['bench', 'cold', '--model', MODEL, ...args]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(message);
    }
  });

  it('says what failed in a child process, and what --child takes', async () => {
    const missing = await cli(['bench', 'cold', '--model', join(__dirname, 'no-such-model')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/bench cold: the bench cold --child each .* process failed \(exit \d+\):\npaligemma: .*no-such-model/);
    const bad = await cli(['bench', 'cold', '--child', 'sometimes', '--model', MODEL]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--child takes each or together, got 'sometimes'");
  });
});
