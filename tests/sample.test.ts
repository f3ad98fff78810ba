import { describe, expect, it } from 'vitest';
import { markSeen, seenBits, seenWords } from '../src/kernels/seen-mark.js';
import { sample, sampleMany, sampleProbs, type SamplingSettings } from '../src/kernels/sample.js';
import type { Gpu } from '../src/device.js';
import { stepCandidates } from '../src/graph/candidates.js';
import type { PaliGemmaConfig } from '../src/loader/config.js';
import { rng, testGpu } from './helpers/gpu.js';
import { referenceProbs } from './helpers/sample-ref.js';

async function gpuProbs(gpu: Gpu, x: Float32Array, s: SamplingSettings, seen?: number[]): Promise<Float32Array> {
  const cols = x.length;
  const probs = gpu.buffer(cols * 4, 'probs');
  const step = gpu.step('sample-probs');
  const bits = seen ? gpu.upload(seenBits(seen, cols), 'seen') : undefined;
  sampleProbs(step, { logits: gpu.upload(x, 'logits'), cols, ...s, seen: bits, probs });
  step.end();
  return gpu.readF32(probs);
}

/** Max relative error over the kept tokens, and the tokens kept by one side only. */
function compare(got: Float32Array, ref: Float64Array): { rel: number; differ: number[] } {
  let rel = 0;
  const differ: number[] = [];
  for (let i = 0; i < ref.length; i++) {
    if ((got[i]! > 0) !== (ref[i]! > 0)) differ.push(i);
    else if (ref[i]! > 0) rel = Math.max(rel, Math.abs(got[i]! - ref[i]!) / ref[i]!);
  }
  return { rel, differ };
}

describe('sampleProbs: Hugging Face warpers against a float64 reference', () => {
  // [cols, T, topK, topP, tied]: no filter, top-k only (incl. k = V, k > V), top-p only (tiny p,
  // p = 0), both, rows with many exact ties, several chunks.
  const cases: [number, number, number, number, boolean][] = [
    [1000, 1, 0, 1, false], [1000, 0.7, 50, 1, false], [1000, 1, 1000, 1, false], [300, 1, 5000, 1, false],
    [1000, 1.3, 0, 0.9, false], [1000, 1, 0, 1e-6, false], [1000, 1, 0, 0, false], [5000, 0.5, 64, 0.8, false],
    [3, 1, 0, 0.5, false], [1000, 1, 10, 1, true], [1000, 1, 0, 0.37, true], [2000, 2, 100, 0.61, true], [10000, 1, 0, 0.45, true], [9000, 1, 4500, 0.93, false],
  ];
  it.each(cases)('cols=%i T=%f top-k=%i top-p=%f ties=%s', async (cols, temperature, topK, topP, tied) => {
    const gpu = await testGpu();
    const r = rng(cols * 7 + topK);
    const x = Float32Array.from({ length: cols }, () => (tied ? Math.round(r() * 12) / 4 : (r() * 2 - 1) * 4));
    const s = { temperature, topK, topP };
    const got = await gpuProbs(gpu, x, s);
    const ref = referenceProbs(x, s);
    const { rel, differ } = compare(got, ref.probs);
    expect(differ.length, `tokens kept by one side: ${differ.slice(0, 5)}`).toBeLessThanOrEqual(ref.margin < 1e-6 ? 1 : 0);
    if (differ.length === 0) expect(rel).toBeLessThan(2e-6);
  });

  it('repetition penalty: positive logits divided, negative multiplied, only for seen ids (hand-computed)', async () => {
    const gpu = await testGpu();
    // logits [2, −1, 0.5, −3, 1], penalty 2 on ids {0, 1, 3}: scores [1, −2, 0.5, −6, 1].
    const x = Float32Array.from([2, -1, 0.5, -3, 1]);
    const got = await gpuProbs(gpu, x, { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 2 }, [0, 1, 3, 3]);
    const e = [1, -2, 0.5, -6, 1].map(Math.exp);
    const sum = e.reduce((a, b) => a + b);
    e.forEach((v, i) => expect(got[i]).toBeCloseTo(v / sum, 6));
    // Then the warpers see the penalised scores: top-k 2 keeps the two tied at 1 (ids 0 and 4).
    const k2 = await gpuProbs(gpu, x, { temperature: 1, topK: 2, topP: 1, repetitionPenalty: 2 }, [0, 1, 3]);
    expect([...k2]).toEqual([0.5, 0, 0, 0, 0.5]);
  });

  it('repetition penalty with top-k and top-p, random rows', async () => {
    const gpu = await testGpu();
    const r = rng(5);
    const x = Float32Array.from({ length: 6000 }, () => (r() * 2 - 1) * 5);
    const seen = Array.from({ length: 300 }, () => Math.floor(r() * 6000));
    const s = { temperature: 0.8, topK: 200, topP: 0.9, repetitionPenalty: 1.3 };
    const got = await gpuProbs(gpu, x, s, seen);
    const ref = referenceProbs(x, s, new Set(seen));
    const { rel, differ } = compare(got, ref.probs);
    expect(differ.length).toBeLessThanOrEqual(ref.margin < 1e-6 ? 1 : 0);
    expect(rel).toBeLessThan(2e-6);
  });

  it('rejects bad settings with a clear error', async () => {
    const gpu = await testGpu();
    const step = gpu.step('bad');
    const logits = gpu.buffer(40, 'x');
    const base = { logits, cols: 10, temperature: 1, topK: 0, topP: 1, probs: gpu.buffer(40, 'p') };
    expect(() => sampleProbs(step, { ...base, topK: -1 })).toThrow(/top-k must be an integer ≥ 0/);
    expect(() => sampleProbs(step, { ...base, topP: 1.5 })).toThrow(/top-p must be in \[0, 1\]/);
    expect(() => sampleProbs(step, { ...base, repetitionPenalty: 0 })).toThrow(/repetition penalty must be a positive number/);
    expect(() => sampleProbs(step, { ...base, repetitionPenalty: 1.2 })).toThrow(/needs the bitset/);
    expect(() => sampleProbs(step, { ...base, temperature: 0 })).toThrow(/temperature > 0/);
    step.end();
  });
});

describe('sample: the draw', () => {
  it('each uniform picks the token of the inverse CDF in index order', async () => {
    const gpu = await testGpu();
    const r = rng(11);
    const cols = 10_000; // three chunks
    const x = Float32Array.from({ length: cols }, () => (r() * 2 - 1) * 3);
    const s = { temperature: 0.9, topK: 3000, topP: 0.95 };
    const { probs, margin } = referenceProbs(x, s);
    expect(margin).toBeGreaterThan(1e-6);
    const us = Float32Array.from({ length: 64 }, () => r());
    us[0] = 0;
    us[1] = Math.fround(0.99999994);
    const out = gpu.buffer(us.length * 4, 'ids');
    const step = gpu.step('draws');
    sampleMany(step, { logits: gpu.upload(x, 'logits'), cols, ...s, uniforms: gpu.upload(us, 'u'), count: us.length, out });
    step.end();
    const got = new Uint32Array(await gpu.read(out));
    const cdf: number[] = [];
    let cum = 0;
    for (const p of probs) cdf.push((cum += p));
    const lastKept = probs.reduce((last, p, j) => (p > 0 ? j : last), -1);
    us.forEach((u, i) => {
      const want = cdf.findIndex((c, j) => probs[j]! > 0 && u < c);
      const near = Math.min(...cdf.map((c) => Math.abs(c - u)));
      if (near > 1e-5) expect(got[i], `u=${u}`).toBe(want === -1 ? lastKept : want);
      else expect(probs[got[i]!]).toBeGreaterThan(0);
    });
    // One draw at a time (sample) gives the same ids as the batch of draws.
    const one = gpu.buffer(4, 'one');
    for (const i of [2, 3]) {
      const st = gpu.step('draw');
      sample(st, { logits: gpu.upload(x, 'logits'), cols, ...s, uniform: us[i]!, out: one });
      st.end();
      expect(new Uint32Array(await gpu.read(one))[0]).toBe(got[i]);
    }
  });

  it('20,000 draws pass a chi-square test against the distribution (fixed seed)', async () => {
    const gpu = await testGpu();
    const r = rng(2024);
    const cols = 5000;
    const x = Float32Array.from({ length: cols }, (_, i) => (i < 40 ? 2 + r() * 2 : (r() * 2 - 1) * 2));
    const s = { temperature: 1, topK: 0, topP: 0.7 };
    const { probs } = referenceProbs(x, s);
    const n = 20_000;
    const us = Float32Array.from({ length: n }, () => r());
    const out = gpu.buffer(n * 4, 'ids');
    const step = gpu.step('draws');
    sampleMany(step, { logits: gpu.upload(x, 'logits'), cols, ...s, uniforms: gpu.upload(us, 'u'), count: n, out });
    step.end();
    const ids = new Uint32Array(await gpu.read(out));
    const counts = new Map<number, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const id of counts.keys()) expect(probs[id], `drew dropped token ${id}`).toBeGreaterThan(0);
    // Bins: each kept token with n·p ≥ 5 on its own, the rest pooled.
    let chi = 0, bins = 0, restObs = 0, restExp = 0;
    probs.forEach((p, id) => {
      if (p === 0) return;
      const o = counts.get(id) ?? 0;
      if (n * p >= 5) {
        chi += (o - n * p) ** 2 / (n * p);
        bins++;
      } else {
        restObs += o;
        restExp += n * p;
      }
    });
    if (restExp > 0) (chi += (restObs - restExp) ** 2 / restExp), bins++;
    const df = bins - 1;
    // Wilson–Hilferty: the 0.999 quantile of chi-square with df degrees of freedom.
    const q = df * (1 - 2 / (9 * df) + 3.0902 * Math.sqrt(2 / (9 * df))) ** 3;
    expect(df).toBeGreaterThan(20);
    expect(chi).toBeLessThan(q);
  });

  it('greedy (temperature 0) is the argmax of the penalised logits; seen-mark sets the chosen ids', async () => {
    const gpu = await testGpu();
    const cols = 70;
    const x = Float32Array.from({ length: cols }, (_, i) => (i === 7 ? 3 : i === 40 ? 2.5 : 0));
    const words = seenWords(cols);
    const seen = gpu.buffer(2 * words * 4, 'seen');
    const ids = gpu.upload(Uint32Array.from([7, 65]), 'ids');
    const out = gpu.buffer(4, 'out');
    const step = gpu.step('greedy');
    markSeen(step, { ids, seen, rows: 2, words });
    sample(step, { logits: gpu.upload(x, 'x'), cols, temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1.5, seen: { buffer: seen, offset: 0, size: words * 4 }, uniform: 0.5, out });
    step.end();
    expect(new Uint32Array(await gpu.read(out))[0]).toBe(40); // 3 / 1.5 = 2 < 2.5
    const bits = new Uint32Array(await gpu.read(seen));
    expect(bits[0]).toBe(1 << 7);
    expect(bits[words + 2]).toBe(1 << 1); // row 1: id 65
  });
});

describe('stepCandidates: the top of the distribution a step draws from', () => {
  it('sampled: the reference top-n and kept count, the penalty over image token, text and earlier tokens; greedy: the T = 1 softmax', async () => {
    const gpu = await testGpu();
    const r = rng(77);
    const cols = 3000;
    const x = Float32Array.from({ length: cols }, () => (r() * 2 - 1) * 3);
    const cfg = { text: { vocabSize: cols }, padId: 0, imageTokenId: 2999, numImageTokens: 4 } as unknown as PaliGemmaConfig;
    const textIds = [2, 17, 400];
    const before = [1234, 17];
    const s = { doSample: true, temperature: 0.8, topK: 300, topP: 0.85, repetitionPenalty: 1.4, seed: 0 };
    const got = await stepCandidates(gpu, cfg, x, s, textIds, before, 8);
    const { probs, margin } = referenceProbs(x, s, new Set([2999, ...textIds, ...before]));
    const want = [...probs.keys()].filter((i) => probs[i]! > 0).sort((a, b) => probs[b]! - probs[a]! || a - b);
    expect(got.sampled).toBe(true);
    expect(Math.abs(got.kept - want.length)).toBeLessThanOrEqual(margin < 1e-6 ? 1 : 0);
    expect(got.top.map((c) => c.id)).toEqual(want.slice(0, 8));
    for (const c of got.top) expect(Math.abs(c.p - probs[c.id]!) / probs[c.id]!).toBeLessThan(2e-6);
    const greedy = await stepCandidates(gpu, cfg, x, { ...s, doSample: false, repetitionPenalty: 1 }, textIds, before, 3);
    const softmax = referenceProbs(x, { temperature: 1, topK: 0, topP: 1 }).probs;
    expect(greedy).toMatchObject({ sampled: false, kept: cols });
    expect(greedy.top[0]!.id).toBe(x.indexOf(Math.max(...x)));
    for (const c of greedy.top) expect(Math.abs(c.p - softmax[c.id]!) / softmax[c.id]!).toBeLessThan(2e-6);
    await expect(stepCandidates(gpu, cfg, x.subarray(1), s, textIds, before, 3)).rejects.toThrow(/a logits row has 2999 values, the vocabulary 3000/);
  });
});
