import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/device.js';
import { codebookLookup } from '../src/kernels/codebook-lookup.js';
import { conv2d, type Epilogue } from '../src/kernels/conv2d.js';
import { convTranspose2d } from '../src/kernels/conv-transpose2d.js';
import { conv2dRef, convTranspose2dRef, relu, type ConvShape } from './helpers/conv-ref.js';
import { normErr, randInt, randomF32, rng, testGpu } from './helpers/gpu.js';
import { expectErr } from './helpers/report.js';

// Tolerance (max|err|/max|ref|): f32 sums of at most a few thousand products.
const TOL = 1e-5;

function randomShape(r: () => number, k: number): ConvShape {
  return { n: randInt(r, 1, 3), cin: randInt(r, 1, 19), cout: randInt(r, 1, 19), h: randInt(r, 1, 9), w: randInt(r, 1, 9), k };
}

async function read(gpu: Gpu, buf: GPUBuffer, count: number): Promise<Float32Array> {
  return gpu.readF32(buf, 0, count);
}

const r = rng(13);
// The mask decoder's own shapes (2 objects) once each, then random small ones.
const convCases: [ConvShape, Epilogue][] = [
  [{ n: 2, cin: 512, cout: 128, h: 4, w: 4, k: 1 }, 'relu'],
  [{ n: 2, cin: 128, cout: 128, h: 4, w: 4, k: 3 }, 'relu'],
  [{ n: 2, cin: 128, cout: 128, h: 4, w: 4, k: 1 }, 'residual'],
  [{ n: 2, cin: 16, cout: 1, h: 64, w: 64, k: 1 }, 'none'],
];
for (const epilogue of ['none', 'relu', 'residual'] as const) for (const k of [1, 3]) convCases.push([randomShape(r, k), epilogue]);

describe('conv2d', () => {
  it.each(convCases)('%o %s', async (s, epilogue) => {
    const gpu = await testGpu();
    const seed = s.n * 1000 + s.cin * 10 + s.k;
    const x = randomF32(s.n * s.cin * s.h * s.w, seed);
    const w = randomF32(s.cout * s.cin * s.k * s.k, seed + 1, 0.3);
    const b = randomF32(s.cout, seed + 2);
    const size = s.n * s.cout * s.h * s.w;
    const res = randomF32(size, seed + 3);
    const out = gpu.buffer(size * 4, 'out');
    const step = gpu.step('conv2d');
    const pad = (s.k - 1) / 2;
    conv2d(step, {
      x: gpu.upload(x, 'x'), w: gpu.upload(w, 'w'), bias: gpu.upload(b, 'b'), out,
      n: s.n, cin: s.cin, cout: s.cout, h: s.h, width: s.w, k: s.k, pad, epilogue,
      residual: epilogue === 'residual' ? gpu.upload(res, 'res') : undefined,
    });
    step.end();
    let ref = conv2dRef(x, w, b, s, pad);
    if (epilogue === 'relu') ref = relu(ref);
    if (epilogue === 'residual') ref = ref.map((v, i) => v + res[i]!);
    expectErr(`conv2d k${s.k} ${epilogue}`, normErr(await read(gpu, out, size), ref), TOL);
  });

  it('rejects padding other than same and a missing residual', async () => {
    const gpu = await testGpu();
    const buf = gpu.buffer(64, 'b');
    const a = { x: buf, w: buf, bias: buf, out: gpu.buffer(64, 'o'), n: 1, cin: 1, cout: 1, h: 2, width: 2, k: 3 };
    expect(() => conv2d(gpu.step('t'), { ...a, pad: 0 })).toThrow(/same/);
    expect(() => conv2d(gpu.step('t'), { ...a, pad: 1, epilogue: 'residual' })).toThrow(/residual/);
  });
});

const tCases: ConvShape[] = [
  { n: 1, cin: 128, cout: 64, h: 8, w: 8, k: 4 },
  { n: 2, cin: 32, cout: 16, h: 32, w: 32, k: 4 },
  { n: 3, cin: 5, cout: 9, h: 1, w: 1, k: 4 },
];
for (let i = 0; i < 4; i++) tCases.push(randomShape(r, 4));

describe('convTranspose2d (k4 s2 p1)', () => {
  it.each(tCases)('%o', async (s) => {
    const gpu = await testGpu();
    const seed = s.n * 1000 + s.cin * 10 + s.h;
    const x = randomF32(s.n * s.cin * s.h * s.w, seed);
    const w = randomF32(s.cin * s.cout * 16, seed + 1, 0.3);
    const b = randomF32(s.cout, seed + 2);
    const { out: ref, oh, ow } = convTranspose2dRef(x, w, b, s, 2, 1);
    expect([oh, ow]).toEqual([2 * s.h, 2 * s.w]);
    for (const reluOn of [false, true]) {
      const out = gpu.buffer(ref.length * 4, 'out');
      const step = gpu.step('convT');
      convTranspose2d(step, { x: gpu.upload(x, 'x'), w: gpu.upload(w, 'w'), bias: gpu.upload(b, 'b'), out, n: s.n, cin: s.cin, cout: s.cout, h: s.h, width: s.w, relu: reluOn });
      step.end();
      expectErr(`convTranspose2d${reluOn ? ' relu' : ''}`, normErr(await read(gpu, out, ref.length), reluOn ? relu(ref) : ref), TOL);
    }
  });
});

describe('codebookLookup', () => {
  it('gathers codebook rows into channel-major images; out-of-range codes give zeros', async () => {
    const gpu = await testGpu();
    const [n, positions, dim, entries] = [3, 16, 37, 128];
    const table = randomF32(entries * dim, 5);
    const rr = rng(6);
    const codes = Uint32Array.from({ length: n * positions }, () => randInt(rr, 0, entries - 1));
    codes[5] = entries; // out of range
    const out = gpu.buffer(n * dim * positions * 4, 'out');
    const step = gpu.step('lookup');
    codebookLookup(step, { codes: gpu.upload(codes, 'codes'), table: gpu.upload(table, 'table'), out, n, positions, dim, entries });
    step.end();
    const got = await read(gpu, out, n * dim * positions);
    const ref = new Float32Array(n * dim * positions);
    for (let i = 0; i < n; i++)
      for (let d = 0; d < dim; d++)
        for (let p = 0; p < positions; p++) {
          const c = codes[i * positions + p]!;
          ref[(i * dim + d) * positions + p] = c < entries ? table[c * dim + d]! : 0;
        }
    expect(got).toEqual(ref);
  });
});
