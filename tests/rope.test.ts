import { describe, expect, it } from 'vitest';
import { rope, ropeAppend } from '../src/kernels/rope.js';
import { normErr, randInt, randomF32, rng, testGpu } from './helpers/gpu.js';
import { expectErr } from './helpers/report.js';

// Reference: HF's float32 inv_freq and f32 angle, then cos/sin in float64 of that f32 angle.
// Tolerance (max|err|/max|ref|): the reduced argument is good to ~3e-7 absolute at angles ~8192.
const TOL = 1e-6;

function invFreqRef(headDim: number, theta: number): Float64Array {
  const f = Math.fround;
  const out = new Float64Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) out[i] = f(1 / f(Math.pow(theta, f(f(2 * i) / headDim))));
  return out;
}

function ropeRef(x: Float32Array, pos: Uint32Array, rows: number, heads: number, headDim: number, theta: number, rowStride: number, rowOffset = 0): Float64Array {
  const half = headDim / 2;
  const inv = invFreqRef(headDim, theta);
  const out = new Float64Array(rows * heads * headDim);
  for (let r = 0; r < rows; r++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < half; i++) {
        const ang = Math.fround(pos[rowOffset + r]! * inv[i]!);
        const src = (rowOffset + r) * rowStride + h * headDim + i;
        const a = x[src]!, b = x[src + half]!;
        const o = (r * heads + h) * headDim + i;
        out[o] = a * Math.cos(ang) - b * Math.sin(ang);
        out[o + half] = b * Math.cos(ang) + a * Math.sin(ang);
      }
  return out;
}

function randomPositions(rows: number, seed: number, max: number): Uint32Array {
  const r = rng(seed);
  const p = Uint32Array.from({ length: rows }, () => randInt(r, 0, max));
  p[0] = max; // the largest angle at least once
  return p;
}

// [rows, heads, headDim, maxPos]: odd sizes, random ones, Gemma q/k (8/1 heads × 256) at 8192.
const r = rng(11);
const shapes: [number, number, number, number][] = [[1, 1, 2, 1], [3, 3, 18, 100], [270, 8, 256, 8192], [17, 1, 256, 8192], [5, 16, 72, 1000]];
for (let i = 0; i < 5; i++) shapes.push([randInt(r, 1, 40), randInt(r, 1, 12), 2 * randInt(r, 1, 128), randInt(r, 1, 9000)]);

describe('rope', () => {
  it.each(shapes)('in place rows=%i heads=%i headDim=%i pos≤%i', async (rows, heads, headDim, maxPos) => {
    const gpu = await testGpu();
    const x = randomF32(rows * heads * headDim, rows + heads * 7 + headDim);
    const pos = randomPositions(rows, rows * 3 + 1, maxPos);
    const gx = gpu.upload(x, 'x');
    const step = gpu.step('rope');
    rope(step, { x: gx, positions: gpu.upload(pos, 'pos'), rows, heads, headDim, theta: 10000 });
    step.end();
    const ref = ropeRef(x, pos, rows, heads, headDim, 10000, heads * headDim);
    expectErr('rope in place', normErr(await gpu.readF32(gx, 0, ref.length), ref), TOL);
  });

  it.each(shapes)('in place, strided, from a row offset rows=%i heads=%i headDim=%i pos≤%i', async (rows, heads, headDim, maxPos) => {
    const gpu = await testGpu();
    const stride = heads * headDim + headDim + 1, skip = 2;
    const x = randomF32((rows + skip) * stride, rows + heads + headDim + 1);
    const pos = randomPositions(rows + skip, rows * 7 + 2, maxPos);
    const gx = gpu.upload(x, 'x');
    const step = gpu.step('rope');
    rope(step, { x: gx, positions: gpu.upload(pos, 'pos'), rows, heads, headDim, theta: 10000, rowStride: stride, rowOffset: skip });
    step.end();
    const got = await gpu.readF32(gx, 0, x.length);
    const ref = ropeRef(x, pos, rows, heads, headDim, 10000, stride, skip);
    const picked = new Float32Array(ref.length);
    for (let r = 0; r < rows; r++) picked.set(got.subarray((skip + r) * stride, (skip + r) * stride + heads * headDim), r * heads * headDim);
    expectErr('rope in place strided', normErr(picked, ref), TOL);
    const untouched = (i: number) => i < skip * stride || i % stride >= heads * headDim;
    expect(got.every((v, i) => !untouched(i) || v === x[i])).toBe(true);
  });

  it.each(shapes)('strided input, out at a row offset rows=%i heads=%i headDim=%i pos≤%i', async (rows, heads, headDim, maxPos) => {
    const gpu = await testGpu();
    const stride = heads * headDim + 2 * headDim + 3; // q inside a fused qkv row, say
    const x = randomF32((rows + 1) * stride, rows + heads + headDim); // rows 1.. (rowOffset 1)
    const pos = randomPositions(rows + 1, rows * 5 + 2, maxPos);
    const offset = 7, width = heads * headDim;
    const out = gpu.upload(new Float32Array((rows + offset + 1) * width).fill(42), 'cache');
    const step = gpu.step('rope');
    rope(step, { x: gpu.upload(x, 'x'), out, positions: gpu.upload(pos, 'pos'), rows, heads, headDim, theta: 10000, rowStride: stride, rowOffset: 1, outRowOffset: offset });
    step.end();
    const got = await gpu.readF32(out, 0, (rows + offset + 1) * width);
    const ref = ropeRef(x, pos, rows, heads, headDim, 10000, stride, 1);
    expectErr('rope to out', normErr(got.subarray(offset * width, (offset + rows) * width), ref), TOL);
    expect(got.subarray(0, offset * width).every((v) => v === 42)).toBe(true); // rows around untouched
    expect(got.subarray((offset + rows) * width).every((v) => v === 42)).toBe(true);
  });

  it('reads rows from a row offset (one sequence of a batch into its cache rows)', async () => {
    const gpu = await testGpu();
    const [rows, heads, headDim, skip] = [5, 2, 12, 3];
    const width = heads * headDim;
    const x = randomF32((rows + skip) * width, 77);
    const pos = randomPositions(rows + skip, 78, 300);
    const out = gpu.buffer((rows + 4) * width * 4, 'cache');
    const step = gpu.step('rope');
    rope(step, { x: gpu.upload(x, 'x'), out, positions: gpu.upload(pos, 'pos'), rows, heads, headDim, theta: 10000, rowOffset: skip, outRowOffset: 4 });
    step.end();
    const got = await gpu.readF32(out, 4 * width * 4, rows * width);
    const ref = ropeRef(x.subarray(skip * width), pos.subarray(skip), rows, heads, headDim, 10000, width);
    expectErr('rope from a row offset', normErr(got, ref), TOL);
  });

  it('ropeAppend: queries rotated in place; each sequence\'s rotated k and plain v into cache row keyCount − 1, nothing else touched', async () => {
    const gpu = await testGpu();
    const [batch, heads, headDim, maxLen, count, stride, qHeads, qStride] = [3, 2, 12, 10, 7, 30, 4, 50];
    const q = randomF32(batch * qStride, 93);
    const gq = gpu.upload(q, 'q');
    const width = heads * headDim;
    const k = randomF32(batch * stride, 90);
    const v = randomF32(batch * stride, 91);
    const pos = randomPositions(batch, 92, 4000);
    const fill = new Float32Array(batch * maxLen * width).fill(42);
    const [kCache, vCache] = [gpu.upload(fill, 'k cache'), gpu.upload(fill, 'v cache')];
    const step = gpu.step('append');
    ropeAppend(step, {
      q: gq, qHeads, qRowStride: qStride,
      k: gpu.upload(k, 'k'), v: gpu.upload(v, 'v'), positions: gpu.upload(pos, 'pos'), keyCount: gpu.upload(Uint32Array.of(count), 'n'),
      kCache, vCache, batch, heads, headDim, theta: 10000, maxLen, rowStride: stride,
    });
    step.end();
    const [gk, gv] = [await gpu.readF32(kCache), await gpu.readF32(vCache)];
    const ref = ropeRef(k, pos, batch, heads, headDim, 10000, stride);
    for (let b = 0; b < batch; b++) {
      const row = (b * maxLen + count - 1) * width;
      expectErr('ropeAppend k', normErr(gk.subarray(row, row + width), ref.subarray(b * width, (b + 1) * width)), TOL);
      expect(Array.from(gv.subarray(row, row + width))).toEqual(Array.from(v.subarray(b * stride, b * stride + width)));
      gk.fill(42, row, row + width);
      gv.fill(42, row, row + width);
    }
    expect(gk.every((x) => x === 42) && gv.every((x) => x === 42)).toBe(true);
    const gotQ = await gpu.readF32(gq);
    const refQ = ropeRef(q, pos, batch, qHeads, headDim, 10000, qStride);
    for (let b = 0; b < batch; b++) {
      expectErr('ropeAppend q', normErr(gotQ.subarray(b * qStride, b * qStride + qHeads * headDim), refQ.subarray(b * qHeads * headDim, (b + 1) * qHeads * headDim)), TOL);
      expect(Array.from(gotQ.subarray(b * qStride + qHeads * headDim, (b + 1) * qStride))).toEqual(Array.from(q.subarray(b * qStride + qHeads * headDim, (b + 1) * qStride)));
    }
  });
});
