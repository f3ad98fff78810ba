// Many callers on one Pipeline (issue 19): concurrent requests are queued and batched, yet each gets
// exactly what it gets alone; cancelling or failing one leaves the others alone; a lost device
// fails every waiting caller clearly, and a fresh load works afterwards.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuError } from '../src/device.js';
import type { GenerateOptions } from '../src/graph/generate.js';
import { decodeImage, type RgbImage } from '../src/image/decode.js';
import { loadModel } from '../src/node/load-model.js';
import { requestGpu } from '../src/node/gpu.js';
import { PaliGemma } from '../src/graph/paligemma.js';
import { loadCheckpointFromDir } from '../src/loader/node.js';
import { Pipeline, type Request } from '../src/pipeline.js';
import { testGpu } from './helpers/gpu.js';

const FIXTURE = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded');
const CHECKPOINT = join(FIXTURE, 'checkpoint');
const meta = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8'));
const image = (file: string) => decodeImage(new Uint8Array(readFileSync(file)), file);

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);

/** A request and how long it may run: different images, prompt lengths and token counts. */
interface Case {
  request: Request;
  maxNewTokens: number;
}

describe('Pipeline with concurrent callers', { timeout: 120_000 }, () => {
  let pipeline: Pipeline;
  let cases: Case[];
  const alone = new Map<string, number[]>();

  /** What a request gives when it runs by itself (memoised per request and settings). */
  async function solo(c: Case, opts: GenerateOptions = {}): Promise<number[]> {
    const key = JSON.stringify([cases.findIndex((x) => x.request === c.request), c.maxNewTokens, opts]);
    if (!alone.has(key)) {
      const g = pipeline.generate([c.request], { maxNewTokens: c.maxNewTokens, ...opts });
      const ids = (await g.run())[0]!;
      expect(g.batchSize).toBe(1);
      alone.set(key, ids);
    }
    return alone.get(key)!;
  }

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    pipeline = (await loadModel(CHECKPOINT, { gpu: await testGpu() })).pipeline;
    const photo = image(join(FIXTURE, 'photo_320x240.jpg'));
    const inverted: RgbImage = { ...photo, rgb: photo.rgb.map((v) => 255 - v) };
    const small = image(join(__dirname, 'fixtures', 'images', 'q420_33x17.jpg'));
    const other = image(join(__dirname, 'fixtures', 'images', 'photo_320x240_progressive.jpg'));
    cases = [
      { request: { image: photo, ids: meta.text_ids }, maxNewTokens: 9 },
      { request: { image: inverted, ids: [2, 1017, 108] }, maxNewTokens: 4 },
      { request: { image: small, ids: [2, 5, 77, 300, 1200, 9, 108] }, maxNewTokens: 7 },
      { request: { image: other, ids: [2, 40, 108] }, maxNewTokens: 12 },
      { request: { image: photo, ids: [2, 640, 641, 642, 108] }, maxNewTokens: 5 },
    ];
  });

  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('runs requests started together as one batch, each getting exactly its tokens alone (greedy)', async () => {
    const expected = [];
    for (const c of cases) expected.push(await solo(c));
    expect(new Set(expected.map((e) => e.length)).size).toBeGreaterThan(2);

    const streamed = cases.map((): number[] => []);
    const called = cases.map((): number[] => []);
    const gens = cases.map((c, i) => pipeline.generate([c.request], { maxNewTokens: c.maxNewTokens, onToken: (t) => called[i]!.push(t.id) }));
    await Promise.all(
      gens.map(async (g, i) => {
        for await (const t of g) {
          expect(t.sequence).toBe(0);
          expect(t.index).toBe(streamed[i]!.length);
          streamed[i]!.push(t.id);
        }
      }),
    );
    expect(streamed).toEqual(expected);
    expect(called).toEqual(expected);
    expect(gens.map((g) => g.ids[0])).toEqual(expected);
    expect(gens.map((g) => g.batchSize)).toEqual(cases.map(() => cases.length));
  });

  it('splits the queue into batches of at most maxBatch, oldest first, with the same results', async () => {
    const expected = [];
    for (const c of cases) expected.push(await solo(c));
    pipeline.maxBatch = 2;
    try {
      const started: number[] = [];
      const gens = cases.map((c, i) => pipeline.generate([c.request], { maxNewTokens: c.maxNewTokens, onToken: (t) => t.index === 0 && started.push(i) }));
      expect(await Promise.all(gens.map(async (g) => (await g.run())[0]))).toEqual(expected);
      expect(gens.map((g) => g.batchSize)).toEqual([2, 2, 2, 2, 1]);
      expect(started).toEqual([0, 1, 2, 3, 4]);
    } finally {
      pipeline.maxBatch = 8;
    }
  });

  it('a multi-request call stays one batch, its sequences numbered from 0, next to other callers', async () => {
    const [a, b, c] = [cases[0]!, cases[2]!, cases[3]!];
    const max = 6;
    const pair = pipeline.generate([a.request, b.request], { maxNewTokens: max });
    const single = pipeline.generate([c.request], { maxNewTokens: max });
    const seqs = new Set<number>();
    for await (const t of pair) seqs.add(t.sequence);
    expect(seqs).toEqual(new Set([0, 1]));
    expect(pair.ids).toEqual([await solo({ ...a, maxNewTokens: max }), await solo({ ...b, maxNewTokens: max })]);
    expect((await single.run())[0]).toEqual(await solo({ ...c, maxNewTokens: max }));
    expect(pair.batchSize).toBe(3);
  });

  it('an aborted or abandoned request ends at the next step; the others are untouched', async () => {
    const expected = [];
    for (const c of cases) expected.push(await solo(c));
    pipeline.maxBatch = 3;
    try {
      const running = new AbortController();
      const queued = new AbortController();
      const gens = cases.map((c, i) => pipeline.generate([c.request], { maxNewTokens: c.maxNewTokens, signal: [running, undefined, undefined, queued, undefined][i]?.signal }));
      const got = cases.map((): number[] => []);
      const outcomes = await Promise.allSettled(
        gens.map(async (g, i) => {
          for await (const t of g) {
            got[i]!.push(t.id);
            if (i === 0 && got[0]!.length === 2) {
              running.abort();
              queued.abort(); // request 3 is still waiting for the second batch
            }
            if (i === 2 && got[2]!.length === 3) break;
          }
        }),
      );
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      for (const i of [0, 3]) expect(String((outcomes[i] as PromiseRejectedResult).reason)).toMatch(/abort/i);
      expect(got).toEqual([expected[0]!.slice(0, 2), expected[1], expected[2]!.slice(0, 3), [], expected[4]]);
      expect(gens[2]!.ids[0]).toEqual(expected[2]!.slice(0, 3));
      expect(gens[4]!.batchSize).toBe(1);
    } finally {
      pipeline.maxBatch = 8;
    }
  });

  it('cancel() ends a call quietly after its tokens so far, waiting or running', async () => {
    const [a, b] = [cases[0]!, cases[3]!];
    pipeline.maxBatch = 1;
    try {
      const running = pipeline.generate([a.request], { maxNewTokens: a.maxNewTokens, onToken: (t) => t.index === 1 && running.cancel() });
      const waiting = pipeline.generate([b.request], { maxNewTokens: b.maxNewTokens });
      waiting.cancel();
      expect(await waiting.run()).toEqual([[]]);
      expect((await running.run())[0]).toEqual((await solo(a)).slice(0, 2));
    } finally {
      pipeline.maxBatch = 8;
    }
  });

  it('a request the model cannot take fails alone, at once; a throwing token callback fails only its caller', async () => {
    const expected = await solo(cases[1]!);
    const good = pipeline.generate([cases[1]!.request], { maxNewTokens: cases[1]!.maxNewTokens });
    expect(() => pipeline.generate([{ image: cases[0]!.request.image, ids: [2, 99999, 108] }])).toThrow(/token id 99999 is outside the vocabulary/);
    const long = [2, ...new Array<number>(pipeline.model.contextLength).fill(5)];
    expect(() => pipeline.generate([{ image: cases[0]!.request.image, ids: long }])).toThrow(/prompt too long/);
    expect(() => pipeline.generate([{ image: { rgb: new Uint8Array(5), width: 2, height: 2 }, ids: [2, 108] }])).toThrow();
    const throwing = pipeline.generate([cases[3]!.request], {
      maxNewTokens: 8,
      onToken: (t) => {
        if (t.index === 1) throw new Error('consumer bug');
      },
    });
    await expect(throwing.run()).rejects.toThrow('consumer bug');
    expect((await good.run())[0]).toEqual(expected);
    expect(good.batchSize).toBe(2);
  });

  it('sampled requests draw from their own seeds, and the repetition penalty sees only their own ids, whatever they are batched with', async () => {
    const sampled = { temperature: 2, seed: 11 };
    // Below 1 the penalty favours seen ids: counted as seen, the pads of a batch would show.
    const penalised = { repetitionPenalty: 1e-3 };
    const [a, b, c] = [cases[0]!, cases[2]!, cases[3]!];
    const expected = [await solo(a, sampled), await solo(b, { ...sampled, seed: 40 }), await solo(c, penalised), await solo(a, penalised)];
    const gens = [
      pipeline.generate([a.request], { maxNewTokens: a.maxNewTokens, ...sampled }),
      pipeline.generate([b.request], { maxNewTokens: b.maxNewTokens, ...sampled, seed: 40 }),
      pipeline.generate([c.request], { maxNewTokens: c.maxNewTokens, ...penalised }),
      pipeline.generate([a.request], { maxNewTokens: a.maxNewTokens, ...penalised }),
    ];
    expect(await Promise.all(gens.map(async (g) => (await g.run())[0]))).toEqual(expected);
    // Different settings never share a batch; the same settings do.
    expect(gens.map((g) => g.batchSize)).toEqual([2, 2, 2, 2]);
    expect(gens[0]!.timings).toBe(gens[1]!.timings);
    expect(gens[0]!.timings).not.toBe(gens[2]!.timings);
  });

  it('a lost device fails the running and the waiting callers with a clear error; a fresh load works', async () => {
    const gpu = await requestGpu();
    const checkpoint = await loadCheckpointFromDir(CHECKPOINT, gpu.device);
    const p = new Pipeline(new PaliGemma(gpu, checkpoint), pipeline.tokenizer, checkpoint.preprocessor);
    const c = cases[0]!;
    const running = [p.generate([c.request], { maxNewTokens: 12 }), p.generate([cases[1]!.request], { maxNewTokens: 12 })];
    const waiting = p.generate([c.request], { maxNewTokens: 12, stopIds: [7] });
    const outcomes = Promise.allSettled([
      (async () => {
        for await (const t of running[0]!) if (t.index === 1) gpu.device.destroy();
      })(),
      running[1]!.run(),
      waiting.run(),
    ]);
    for (const o of await outcomes) {
      expect(o.status).toBe('rejected');
      const reason = (o as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(GpuError);
      expect(String(reason)).toMatch(/GPU device lost .*load the model again/);
    }
    expect(() => p.generate([c.request])).toThrow(/GPU device lost/);

    const fresh = await loadModel(CHECKPOINT, { gpu: await requestGpu() });
    try {
      expect(await fresh.pipeline.run([c.request], { maxNewTokens: c.maxNewTokens })).toMatchObject([{ ids: await solo(c) }]);
    } finally {
      fresh.pipeline.model.destroy();
      fresh.gpu.device.destroy();
    }
  });
});
