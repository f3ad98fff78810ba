import { describe, expect, it } from 'vitest';
import { argmax, topK } from '../src/kernels/argmax.js';
import { randInt, rng } from './helpers/gpu.js';
import { gpuVariants } from './helpers/variants.js';

// Values on a coarse grid so that ties are common; the order is exact (no tolerance).
function values(n: number, seed: number, levels: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.round((r() * 2 - 1) * levels) / 4);
}

/** The torch.argmax order: NaN first, larger first, smaller index first on ties. */
function order(x: Float32Array, start: number, n: number): number[] {
  const key = (v: number) => (Number.isNaN(v) ? Infinity : v);
  const idx = Array.from({ length: n }, (_, i) => i);
  return idx.sort((a, b) => {
    const va = x[start + a]!, vb = x[start + b]!;
    if (Number.isNaN(va) !== Number.isNaN(vb)) return Number.isNaN(va) ? -1 : 1;
    return key(vb) - key(va) || a - b;
  });
}

const r = rng(21);
// [rows, cols]: tiny, chunk edges (4096 = one workgroup's chunk), a prefill's worth of rows, the vocab.
const argShapes: [number, number][] = [[1, 1], [3, 5], [2, 4096], [2, 4097], [4, 70000], [1, 257216]];
for (let i = 0; i < 4; i++) argShapes.push([randInt(r, 1, 30), randInt(r, 1, 20000)]);
const topShapes: [number, number][] = [[1, 1], [64, 64], [5, 4096], [64, 4097], [50, 257216]];
for (let i = 0; i < 4; i++) {
  const cols = randInt(r, 1, 100000);
  topShapes.push([randInt(r, 1, Math.min(64, cols)), cols]);
}

describe('argmax / topK', async () => {
  for (const { name, gpu } of await gpuVariants()) {
    it.each(argShapes)(`${name} argmax rows=%i cols=%i (ties, NaN, ±0)`, async (rows, cols) => {
      const x = values(rows * cols, rows * 7 + cols, cols < 100 ? 2 : 400);
      if (rows > 1 && cols > 3) {
        x[cols + 3] = NaN; // row 1: a NaN wins
        x[cols + 1] = NaN;
      }
      if (rows > 2) {
        x.fill(-0, 2 * cols, 3 * cols); // row 2: all zeros of both signs: index 0 wins
        x[2 * cols + cols - 1] = 0;
      }
      const out = gpu.buffer(rows * 4, 'out');
      const step = gpu.step('argmax');
      argmax(step, { x: gpu.upload(x, 'x'), rows, cols, out });
      step.end();
      const got = new Uint32Array(await gpu.read(out, 0, rows * 4));
      const want = Array.from({ length: rows }, (_, row) => order(x, row * cols, cols)[0]);
      expect(Array.from(got)).toEqual(want);
    });

    it.each(topShapes)(`${name} topK k=%i cols=%i`, async (k, cols) => {
      const x = values(cols, k * 3 + cols, 2000);
      const outIdx = gpu.buffer(k * 4, 'idx'), outVal = gpu.buffer(k * 4, 'val');
      const step = gpu.step('topk');
      topK(step, { x: gpu.upload(x, 'x'), cols, k, outIdx, outVal });
      step.end();
      const idx = Array.from(new Uint32Array(await gpu.read(outIdx, 0, k * 4)));
      const val = Array.from(await gpu.readF32(outVal, 0, k));
      const want = order(x, 0, cols).slice(0, k);
      expect(idx).toEqual(want);
      expect(val).toEqual(want.map((i) => x[i]));
    });
  }
});
