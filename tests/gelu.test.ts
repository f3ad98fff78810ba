import { describe, expect, it } from 'vitest';
import { geglu, gelu } from '../src/kernels/gelu.js';
import { normErr, randInt, randomF32, rng, testGpu } from './helpers/gpu.js';
import { expectErr } from './helpers/report.js';

// Tolerance (max|err|/max|ref|): lavapipe's tanh has 1.5e-7 absolute error.
const TOL = 1e-6;
const geluRef = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));

const r = rng(3);
// 256×4304: SigLIP MLP at 224 px; 270×16384: a Gemma prefill GeGLU is too big for the time budget, one row of it here.
const sizes = [1, 255, 257, 256 * 4304, 16384];
for (let i = 0; i < 4; i++) sizes.push(randInt(r, 1, 100_000));

describe('gelu', () => {
  it.each(sizes)('gelu n=%i', async (n) => {
    const gpu = await testGpu();
    const x = randomF32(n, n, 6);
    const out = gpu.buffer(n * 4, 'out');
    const step = gpu.step('gelu');
    gelu(step, { x: gpu.upload(x, 'x'), out, n });
    step.end();
    expectErr('gelu', normErr(await gpu.readF32(out, 0, n), Float64Array.from(x, geluRef)), TOL);
  });

  it.each(sizes)('geglu n=%i', async (n) => {
    const gpu = await testGpu();
    const g = randomF32(n, n + 1, 6), u = randomF32(n, n + 2, 3);
    const out = gpu.buffer(n * 4, 'out');
    const step = gpu.step('geglu');
    geglu(step, { gate: gpu.upload(g, 'g'), up: gpu.upload(u, 'u'), out, n });
    step.end();
    expectErr('geglu', normErr(await gpu.readF32(out, 0, n), Float64Array.from(g, (z, i) => geluRef(z) * u[i]!)), TOL);
  });

  it('stays finite for huge inputs', async () => {
    const gpu = await testGpu();
    const x = Float32Array.from([-1e30, -100, -20, 0, 20, 100, 1e30]);
    const out = gpu.buffer(x.length * 4, 'out');
    const step = gpu.step('gelu');
    gelu(step, { x: gpu.upload(x, 'x'), out, n: x.length });
    step.end();
    const got = await gpu.readF32(out, 0, x.length);
    expect(Array.from(got)).toEqual([-0, -0, -0, 0, 20, 100, 1e30].map(Math.fround));
  });
});
