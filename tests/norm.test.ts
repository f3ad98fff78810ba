import { describe, expect, it } from 'vitest';
import { addRmsNorm, layerNorm, rmsNorm } from '../src/kernels/norm.js';
import { normErr, randInt, randomBf16, randomF32, rng, uploadWeight } from './helpers/gpu.js';
import { expectErr } from './helpers/report.js';
import { gpuVariants } from './helpers/variants.js';

// Tolerance (max|err|/max|ref|): f32 accumulation of ≤ 2048 terms plus inverseSqrt (1.1e-7 rel).
const TOL = 2e-6;

function rmsRef(x: Float32Array, w: Float64Array, rows: number, dim: number, eps: number): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i]! ** 2;
    const s = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[r * dim + i] = x[r * dim + i]! * s * (1 + w[i]!);
  }
  return out;
}

function layerRef(x: Float32Array, w: Float64Array, b: Float64Array, rows: number, dim: number, eps: number): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let i = 0; i < dim; i++) m += x[r * dim + i]!;
    m /= dim;
    let v = 0;
    for (let i = 0; i < dim; i++) v += (x[r * dim + i]! - m) ** 2;
    const s = 1 / Math.sqrt(v / dim + eps);
    for (let i = 0; i < dim; i++) out[r * dim + i] = (x[r * dim + i]! - m) * s * w[i]! + b[i]!;
  }
  return out;
}

// [rows, dim]: edge sizes, odd dims, random ones, and the real shapes (SigLIP 256×1152, Gemma 2048).
const r = rng(7);
const shapes: [number, number][] = [[1, 32], [3, 33], [2, 255], [4, 257], [2, 2047], [256, 1152], [9, 2048]];
for (let i = 0; i < 5; i++) shapes.push([randInt(r, 1, 20), randInt(r, 32, 2048)]);

describe('norms', async () => {
  for (const { name, gpu } of await gpuVariants()) {
    describe(name, () => {
      it.each(shapes)('rmsNorm rows=%i dim=%i', async (rows, dim) => {
        const x = randomF32(rows * dim, rows * 31 + dim, 3);
        const w = randomBf16(dim, dim, 0.5);
        const out = gpu.buffer(rows * dim * 4, 'out');
        const step = gpu.step('rms');
        rmsNorm(step, { x: gpu.upload(x, 'x'), w: uploadWeight(gpu, w.words, [dim]), out, rows, dim, eps: 1e-6 });
        step.end();
        expectErr(`rmsNorm ${name}`, normErr(await gpu.readF32(out, 0, rows * dim), rmsRef(x, w.values, rows, dim, 1e-6)), TOL);
      });

      it.each(shapes)('layerNorm rows=%i dim=%i (mean offset 4)', async (rows, dim) => {
        const x = randomF32(rows * dim, rows * 7 + dim, 2).map((v) => v + 4);
        const w = randomBf16(dim, dim + 1, 1), b = randomBf16(dim, dim + 2, 0.3);
        const out = gpu.buffer(rows * dim * 4, 'out');
        const step = gpu.step('ln');
        layerNorm(step, { x: gpu.upload(x, 'x'), w: uploadWeight(gpu, w.words, [dim]), b: uploadWeight(gpu, b.words, [dim]), out, rows, dim, eps: 1e-6 });
        step.end();
        expectErr(`layerNorm ${name}`, normErr(await gpu.readF32(out, 0, rows * dim), layerRef(x, w.values, b.values, rows, dim, 1e-6)), TOL);
      });

      it.each([shapes[0]!, shapes[3]!, shapes[6]!])('rmsNorm accumulate rows=%i dim=%i: out += norm(x) (Gemma 2 post-norms)', async (rows, dim) => {
        const x = randomF32(rows * dim, dim + 9, 2), res = randomF32(rows * dim, dim + 11, 2);
        const w = randomBf16(dim, dim + 4, 0.5);
        const out = gpu.upload(res, 'residual');
        const step = gpu.step('rms-acc');
        rmsNorm(step, { x: gpu.upload(x, 'x'), w: uploadWeight(gpu, w.words, [dim]), out, rows, dim, eps: 1e-6, accumulate: true });
        step.end();
        const ref = rmsRef(x, w.values, rows, dim, 1e-6).map((v, i) => v + res[i]!);
        expectErr(`rmsNorm accumulate ${name}`, normErr(await gpu.readF32(out, 0, rows * dim), ref), TOL);
      });

      it.each(shapes.slice(0, 7))('addRmsNorm rows=%i dim=%i', async (rows, dim) => {
        const x = randomF32(rows * dim, dim, 2), d = randomF32(rows * dim, dim + 5, 2);
        const w = randomBf16(dim, dim + 3, 0.5);
        const gx = gpu.upload(x, 'x'), out = gpu.buffer(rows * dim * 4, 'out');
        const step = gpu.step('addrms');
        addRmsNorm(step, { x: gx, delta: gpu.upload(d, 'd'), w: uploadWeight(gpu, w.words, [dim]), out, rows, dim, eps: 1e-6 });
        step.end();
        const sum = x.map((v, i) => v + d[i]!); // f32 sum, as the kernel stores it
        expect(normErr(await gpu.readF32(gx, 0, rows * dim), sum)).toBe(0);
        expectErr(`addRmsNorm ${name}`, normErr(await gpu.readF32(out, 0, rows * dim), rmsRef(sum, w.values, rows, dim, 1e-6)), TOL);
      });
    });
  }
});
