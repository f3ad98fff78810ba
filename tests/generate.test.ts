// Generation behaviour on a real (tiny) checkpoint: batching with left padding, sampling with a
// seed, stopping, streaming, and the context limit.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, resolveSampling } from '../src/graph/generate.js';
import { parseGenerationConfig } from '../src/loader/extra-config.js';
import { ContextError, PaliGemma } from '../src/graph/paligemma.js';
import { loadCheckpointFromDir } from '../src/loader/node.js';
import { parseSafetensors } from '../src/loader/safetensors.js';
import { testGpu } from './helpers/gpu.js';

const dir = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded');
const meta = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));

function fixturePixels(): Float32Array {
  const file = join(dir, 'expected.safetensors');
  const bytes = new Uint8Array(readFileSync(file));
  const h = parseSafetensors(file, bytes);
  const t = h.tensors.get('pixel_values')!;
  return new Float32Array(bytes.slice(h.dataStart + t.begin, h.dataStart + t.end).buffer);
}

describe('generate', () => {
  let model: PaliGemma;
  let pixels: Float32Array;
  beforeAll(async () => {
    const gpu = await testGpu();
    model = new PaliGemma(gpu, await loadCheckpointFromDir(join(dir, 'checkpoint'), gpu.device));
    pixels = fixturePixels();
  });

  it('greedy decoding reproduces the reference ids, streamed through the iterator and the callback alike', async () => {
    const seen: number[] = [];
    const g = generate(model, [{ pixels, textIds: meta.text_ids }], { maxNewTokens: meta.max_new_tokens, onToken: (t) => seen.push(t.id) });
    const streamed: number[] = [];
    for await (const t of g) streamed.push(t.id);
    expect(streamed).toEqual(meta.generated_ids);
    expect(seen).toEqual(meta.generated_ids);
    expect(g.ids[0]).toEqual(meta.generated_ids);
  });

  it('waiting for each token (runAhead false) gives the same ids and timings of the same shape', async () => {
    const g = generate(model, [{ pixels, textIds: meta.text_ids }], { maxNewTokens: meta.max_new_tokens, runAhead: false });
    expect(await g.run()).toEqual([meta.generated_ids]);
    expect(g.timings.decodeSteps).toBe(meta.generated_ids.length - 1);
    expect(g.timings.encodeMsPerDecodeStep).toBeGreaterThan(0);
    // The first token's parts: none counted twice (setup is what the others leave), each one there.
    const { setupMs, compileMs, visionMs, prefillMs, firstChoiceMs, firstTokenMs } = g.timings;
    for (const part of [setupMs, compileMs, visionMs, prefillMs, firstChoiceMs]) expect(part).toBeGreaterThanOrEqual(0);
    for (const part of [visionMs, prefillMs, firstChoiceMs]) expect(part).toBeGreaterThan(0);
    expect(setupMs + compileMs + visionMs + prefillMs + firstChoiceMs).toBeCloseTo(firstTokenMs, 6);
  });

  it('a left-padded batch gives each sequence what it gets alone', async () => {
    const short = [2, 1017, 108];
    const inputs = [
      { pixels, textIds: meta.text_ids },
      { pixels: pixels.map((v) => -v), textIds: short },
    ];
    const alone = [];
    for (const input of inputs) alone.push((await generate(model, [input], { maxNewTokens: 6 }).run())[0]);
    const batched = await generate(model, inputs, { maxNewTokens: 6 }).run();
    expect(batched).toEqual(alone);
  });

  it('an attention map asked for just before a prefill that replaces the plan reads the request it was asked of', async () => {
    model.recordQueries = true;
    try {
      await generate(model, [{ pixels, textIds: meta.text_ids }], { maxNewTokens: 4 }).run();
      const want = Array.from(await model.attentionMap(1, 0, 2));
      const pending = model.attentionMap(1, 0, 2);
      // Another length: a new plan, whose prefill destroys the KV cache `pending` reads from.
      const next = generate(model, [{ pixels, textIds: [2, 1017, 108] }], { maxNewTokens: 9 }).run();
      expect(Array.from(await pending)).toEqual(want);
      await next;
      await model.gpu.finish('after the attention map'); // throws a GPU validation error, if any was raised
    } finally {
      model.recordQueries = false;
    }
  });

  it('stop(b) ends one sequence of a batch; the others go on unchanged', async () => {
    const inputs = [
      { pixels, textIds: meta.text_ids },
      { pixels: pixels.map((v) => -v), textIds: [2, 1017, 108] },
    ];
    const g = generate(model, inputs, { maxNewTokens: 6, stopIds: [] });
    for await (const t of g) if (t.sequence === 1 && t.index === 1) g.stop(1);
    expect(g.ids[1]!.length).toBe(2);
    expect(g.ids[0]).toEqual(meta.generated_ids.slice(0, 6));
    expect(() => g.stop(2)).toThrow(/no sequence 2/);
  });

  it('sampling is reproducible with a seed and differs across seeds', async () => {
    const run = (seed: number) => generate(model, [{ pixels, textIds: meta.text_ids }], { maxNewTokens: 8, temperature: 5, seed }).run();
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    const others = [await run(2), await run(3)];
    expect(others.some((o) => JSON.stringify(o) !== JSON.stringify(a))).toBe(true);
  });

  it('top-k 1 sampling is greedy', async () => {
    const ids = await generate(model, [{ pixels, textIds: meta.text_ids }], { maxNewTokens: 5, temperature: 0.7, topK: 1, seed: 9 }).run();
    expect(ids[0]).toEqual(meta.generated_ids.slice(0, 5));
  });

  it('a repetition penalty reaches the prompt and every generated id (greedy too)', async () => {
    const input = { pixels, textIds: meta.text_ids };
    const ids = (await generate(model, [input], { maxNewTokens: 12, repetitionPenalty: 1e6 }).run())[0]!;
    const before = new Set<number>([...meta.text_ids, model.config.imageTokenId]);
    for (const id of ids) {
      expect(before.has(id), `id ${id} again`).toBe(false);
      before.add(id);
    }
    // Without it the reference repeats 343 894 from its 7th token on; the first tokens stay.
    expect(meta.generated_ids.slice(4, 8)).toEqual([343, 894, 343, 894]);
    expect(ids.slice(0, 6)).toEqual(meta.generated_ids.slice(0, 6));
    expect(ids.length).toBe(12);
  });

  it('settings: the caller first, then generation_config.json, then Hugging Face defaults', () => {
    expect(resolveSampling({})).toEqual({ doSample: false, temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1, seed: 0 });
    expect(resolveSampling({ temperature: 0.7 })).toMatchObject({ doSample: true, temperature: 0.7, topK: 50, topP: 1 });
    const config = parseGenerationConfig(JSON.stringify({ do_sample: true, top_k: 0, top_p: 0.9, repetition_penalty: 1.2 }));
    expect(resolveSampling({}, config)).toEqual({ doSample: true, temperature: 1, topK: 0, topP: 0.9, repetitionPenalty: 1.2, seed: 0 });
    expect(resolveSampling({ topK: 7, temperature: 0 }, config)).toMatchObject({ doSample: false, topK: 7, topP: 0.9 });
  });

  it('stops at a stop id, which is not part of the output', async () => {
    const stopAt = meta.generated_ids[3];
    const ids = await generate(model, [{ pixels, textIds: meta.text_ids }], { maxNewTokens: 10, stopIds: [stopAt] }).run();
    expect(ids[0]).toEqual(meta.generated_ids.slice(0, meta.generated_ids.indexOf(stopAt)));
  });

  it('refuses prompts longer than the context with a clear error', () => {
    const long = [2, ...new Array<number>(model.contextLength).fill(5), 108];
    expect(() => model.layout([{ pixels, textIds: long }], 4)).toThrow(ContextError);
    expect(() => model.layout([{ pixels, textIds: long }], 4)).toThrow(/prompt too long: .* exceed the model's context of 8192/);
  });

  it('refuses ids outside the vocabulary and pixels of the wrong size', () => {
    expect(() => model.layout([{ pixels, textIds: [2, 99999, 108] }], 4)).toThrow(/token id 99999 is outside the vocabulary \(2048\)/);
    expect(() => model.layout([{ pixels: new Float32Array(10), textIds: [2, 108] }], 4)).toThrow(/pixel values must be \[3, 224, 224\]/);
  });

  it('can be stopped with an AbortSignal', async () => {
    const ctrl = new AbortController();
    const got: number[] = [];
    const g = generate(model, [{ pixels, textIds: meta.text_ids }], { maxNewTokens: 10, signal: ctrl.signal });
    await expect(
      (async () => {
        for await (const t of g) {
          got.push(t.id);
          if (got.length === 2) ctrl.abort();
        }
      })(),
    ).rejects.toThrow(/abort/i);
    expect(got).toEqual(meta.generated_ids.slice(0, 2));
  });
});
