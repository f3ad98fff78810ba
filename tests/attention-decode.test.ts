import { describe, expect, it } from 'vitest';
import { decodeAttention } from '../src/kernels/attention-decode.js';
import { attentionWeights } from '../src/kernels/attention-weights.js';
import { normErr, randomF32, testGpu } from './helpers/gpu.js';
import { reference, type Shape } from './helpers/attention-ref.js';

// Tolerance: normErr = max|gpu − ref| / max|ref| ≤ 1e-5.
const TOL = 1e-5;

describe('decodeAttention (split-K + reduce)', () => {
  it.each([
    // heads, kvHeads, headDim, seqK, maxLen, keyStart, splitLen
    [8, 1, 256, 300, 320, 0, undefined],
    [8, 1, 256, 1100, 1100, 37, undefined],
    [4, 2, 16, 1, 8, 0, undefined],
    [4, 4, 12, 77, 90, 5, 16],
    [2, 1, 72, 130, 130, 0, 64],
  ] as const)('heads %i/%i × %i over %i keys (cache %i, keyStart %i, split %s)', async (heads, kvHeads, headDim, seqK, maxLen, keyStart, splitLen) => {
    const gpu = await testGpu();
    const q = randomF32(heads * headDim, seqK, 2);
    const k = randomF32(maxLen * kvHeads * headDim, seqK + 1, 2);
    const v = randomF32(maxLen * kvHeads * headDim, seqK + 2);
    const out = gpu.buffer(heads * headDim * 4, 'out');
    const scale = 1 / Math.sqrt(headDim);
    const step = gpu.step('decode');
    const keyCount = gpu.upload(Uint32Array.of(seqK), 'key count');
    decodeAttention(step, { q: gpu.upload(q, 'q'), k: gpu.upload(k, 'k'), v: gpu.upload(v, 'v'), out, heads, kvHeads, headDim, scale, keyCount, keyStart, maxLen, splitLen });
    step.end();
    const got = await gpu.readF32(out, 0, heads * headDim);
    // the decode query is the newest token: it sees every cached key (from keyStart)
    const s: Shape = { seqQ: 1, seqK, heads, kvHeads, headDim, prefixLen: seqK, qStart: seqK - 1, keyStart };
    expect(normErr(got, reference(s, q, k.subarray(0, seqK * kvHeads * headDim), v.subarray(0, seqK * kvHeads * headDim), scale))).toBeLessThanOrEqual(TOL);
  });

  it('batches sequences in one cache with per-sequence keyStart', async () => {
    const gpu = await testGpu();
    const [heads, kvHeads, headDim, seqK, maxLen, batch] = [8, 1, 16, 50, 64, 3];
    const keyStarts = [0, 9, 30];
    const q = randomF32(batch * heads * headDim, 1, 2);
    const k = randomF32(batch * maxLen * kvHeads * headDim, 2, 2);
    const v = randomF32(batch * maxLen * kvHeads * headDim, 3);
    const out = gpu.buffer(batch * heads * headDim * 4, 'out');
    const step = gpu.step('decode');
    decodeAttention(step, {
      q: gpu.upload(q, 'q'), k: gpu.upload(k, 'k'), v: gpu.upload(v, 'v'), out, heads, kvHeads, headDim, scale: 0.25, keyCount: gpu.upload(Uint32Array.of(seqK), 'n'), maxLen, batch,
      keyStarts: gpu.upload(Uint32Array.from(keyStarts), 'ks'), splitLen: 16,
    });
    step.end();
    const got = await gpu.readF32(out, 0, batch * heads * headDim);
    const row = kvHeads * headDim;
    for (let b = 0; b < batch; b++) {
      const s: Shape = { seqQ: 1, seqK, heads, kvHeads, headDim, prefixLen: seqK, qStart: seqK - 1, keyStart: keyStarts[b]! };
      const kb = k.subarray(b * maxLen * row, (b * maxLen + seqK) * row);
      const vb = v.subarray(b * maxLen * row, (b * maxLen + seqK) * row);
      const ref = reference(s, q.subarray(b * heads * headDim, (b + 1) * heads * headDim), kb, vb, 0.25);
      expect(normErr(got.subarray(b * heads * headDim, (b + 1) * heads * headDim), ref)).toBeLessThanOrEqual(TOL);
    }
  });
});

describe('decodeAttention recorded once, replayed for every key count', () => {
  // Plain, and with Gemma 2's soft-cap and a window the later key counts run past.
  it.each([
    { heads: 4, maxLen: 200, splitLen: 64, counts: [1, 63, 64, 65, 150, 200], seed: 7 },
    { heads: 6, maxLen: 160, splitLen: 32, counts: [1, 36, 37, 38, 100, 160], seed: 17, softcap: 2, window: 37 },
  ])('reads the key count on the GPU (heads $heads/2, softcap $softcap, window $window)', async ({ heads, maxLen, splitLen, counts, seed, softcap, window }) => {
    const gpu = await testGpu();
    const [kvHeads, headDim] = [2, 16];
    const q = randomF32(heads * headDim, seed, 2);
    const k = randomF32(maxLen * kvHeads * headDim, seed + 1, 2);
    const v = randomF32(maxLen * kvHeads * headDim, seed + 2);
    const out = gpu.buffer(heads * headDim * 4, 'out');
    const keyCount = gpu.buffer(4, 'key count');
    const [qb, kb, vb] = [gpu.upload(q, 'q'), gpu.upload(k, 'k'), gpu.upload(v, 'v')];
    const rec = gpu.record('decode', (s) => decodeAttention(s, { q: qb, k: kb, v: vb, out, heads, kvHeads, headDim, scale: 0.25, keyCount, maxLen, splitLen, softcap, window }));
    for (const seqK of counts) {
      gpu.write(keyCount, Uint32Array.of(seqK));
      const step = gpu.step('replay');
      step.replay(rec);
      step.end();
      const got = await gpu.readF32(out, 0, heads * headDim);
      const s: Shape = { seqQ: 1, seqK, heads, kvHeads, headDim, prefixLen: seqK, qStart: seqK - 1, keyStart: 0, softcap, window };
      const [ks, vs] = [k.subarray(0, seqK * kvHeads * headDim), v.subarray(0, seqK * kvHeads * headDim)];
      expect(normErr(got, reference(s, q, ks, vs, 0.25)), `${seqK} keys`).toBeLessThanOrEqual(TOL);
      if (window && seqK > window) expect(normErr(got, reference({ ...s, window: 0 }, q, ks, vs, 0.25)), `${seqK} keys, no window`).toBeGreaterThan(1e-3);
    }
  });
});

describe('attentionWeights', () => {
  it('gives the softmax row of one query and head, masked keys 0', async () => {
    const gpu = await testGpu();
    const [heads, kvHeads, headDim, seqQ, seqK] = [8, 2, 72, 5, 300];
    const q = randomF32(seqQ * heads * headDim, 4, 2);
    const k = randomF32(seqK * kvHeads * headDim, 5, 2);
    const out = gpu.buffer(seqK * 4, 'w');
    const [head, qRow, qPos, prefixLen, keyStart] = [5, 3, 260, 250, 4];
    const scale = 1 / Math.sqrt(headDim);
    const step = gpu.step('weights');
    attentionWeights(step, { q: gpu.upload(q, 'q'), k: gpu.upload(k, 'k'), out, heads, kvHeads, headDim, scale, seqK, head, qRow, qPos, prefixLen, keyStart });
    step.end();
    const got = await gpu.readF32(out, 0, seqK);
    const kvh = Math.floor(head / (heads / kvHeads));
    const sc = new Float64Array(seqK);
    let max = -Infinity;
    for (let j = 0; j < seqK; j++) {
      if (!(j >= keyStart && (j < prefixLen || j <= qPos))) continue;
      let d = 0;
      for (let x = 0; x < headDim; x++) d += q[qRow * heads * headDim + head * headDim + x]! * k[j * kvHeads * headDim + kvh * headDim + x]!;
      sc[j] = d * scale;
      max = Math.max(max, sc[j]!);
    }
    let sum = 0;
    for (let j = 0; j < seqK; j++) sum += sc[j] = j >= keyStart && (j < prefixLen || j <= qPos) ? Math.exp(sc[j]! - max) : 0;
    const ref = sc.map((x) => x / sum);
    expect(normErr(got, ref)).toBeLessThanOrEqual(TOL);
    expect(got[0]).toBe(0);
    expect(got[270]).toBe(0); // past the query, outside the prefix
  });

  it('with a soft-cap and a window (Gemma 2): the softmax of the capped scores over the window', async () => {
    const gpu = await testGpu();
    const [heads, kvHeads, headDim, seqK, head, qPos, softcap, window] = [4, 2, 16, 120, 3, 90, 1.5, 25];
    const q = randomF32(heads * headDim, 14, 2);
    const k = randomF32(seqK * kvHeads * headDim, 15, 2);
    const out = gpu.buffer(seqK * 4, 'w');
    const step = gpu.step('weights');
    attentionWeights(step, { q: gpu.upload(q, 'q'), k: gpu.upload(k, 'k'), out, heads, kvHeads, headDim, scale: 0.25, seqK, head, qPos, prefixLen: 80, softcap, window });
    step.end();
    const got = await gpu.readF32(out, 0, seqK);
    // The weights are the attention of a value matrix that is the identity: the reference's output row.
    const s: Shape = { seqQ: 1, seqK, heads: 1, kvHeads: 1, headDim, prefixLen: 80, qStart: qPos, keyStart: 0, softcap, window };
    const kvh = Math.floor(head / (heads / kvHeads));
    const kh = Float32Array.from({ length: seqK * headDim }, (_, e) => k[Math.floor(e / headDim) * kvHeads * headDim + kvh * headDim + (e % headDim)]!);
    const ref = reference({ ...s, headDim: seqK }, pad(q.subarray(head * headDim, (head + 1) * headDim), seqK), pad(kh, seqK, headDim), identity(seqK), 0.25);
    expect(normErr(got, ref)).toBeLessThanOrEqual(TOL);
    expect(got[qPos - window]).toBe(0);
    expect(got[qPos - window + 1]).toBeGreaterThan(0);
  });
});

/** Rows of `dim` floats widened to `width` with zeros (the same dot products). */
function pad(a: Float32Array, width: number, dim = a.length): Float32Array {
  const rows = a.length / dim;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * dim, (r + 1) * dim), r * width);
  return out;
}

function identity(n: number): Float32Array {
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
}
