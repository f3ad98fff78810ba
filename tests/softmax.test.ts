import { describe, it } from 'vitest';
import { softmax } from '../src/kernels/softmax.js';
import { normErr, randInt, randomF32, rng } from './helpers/gpu.js';
import { expectErr } from './helpers/report.js';
import { gpuVariants } from './helpers/variants.js';

// Tolerance (max|err|/max|ref|): exp has 4.7e-7 relative error on lavapipe; f32 sums.
const TOL = 2e-6;

function ref(x: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[r * cols + j]!);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[r * cols + j]! - m);
    for (let j = 0; j < cols; j++) out[r * cols + j] = Math.exp(x[r * cols + j]! - m) / s;
  }
  return out;
}

// [rows, cols]: tiny and odd rows, SigLIP attention rows (256 keys), a Gemma prefill row (270), a vocab row.
const r = rng(9);
const shapes: [number, number][] = [[1, 1], [3, 7], [5, 255], [64, 256], [8, 270], [1, 257216]];
for (let i = 0; i < 5; i++) shapes.push([randInt(r, 1, 50), randInt(r, 1, 3000)]);

describe('softmax', async () => {
  for (const { name, gpu } of await gpuVariants()) {
    it.each(shapes)(`${name} rows=%i cols=%i`, async (rows, cols) => {
      const x = randomF32(rows * cols, rows * 13 + cols, 30).map((v) => v + 1000); // large offset: needs the max shift
      if (cols > 2) x[1] = -Infinity; // a masked entry
      const out = gpu.buffer(rows * cols * 4, 'out');
      const step = gpu.step('softmax');
      softmax(step, { x: gpu.upload(x, 'x'), out, rows, cols });
      step.end();
      expectErr(`softmax ${name}`, normErr(await gpu.readF32(out, 0, rows * cols), ref(x, rows, cols)), TOL);
    });
  }
});
