import { describe, expect, it } from 'vitest';
import { prepareWeights } from '../src/kernels/matmul.js';
import { patchEmbed } from '../src/kernels/patch-embed.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { normErr, randomBf16, randomF32, testGpu, uploadWeight } from './helpers/gpu.js';
import { expectErr } from './helpers/report.js';

// Tolerance (max|err|/max|ref|): f32 accumulation over K = channels·patch² ≤ 588 products.
const TOL = 1e-5;

function ref(px: Float32Array, w: Float64Array, b: Float64Array, pos: Float64Array, size: number, patch: number, dim: number, ch: number): Float64Array {
  const g = size / patch, n = g * g;
  const out = new Float64Array(n * dim);
  for (let py = 0; py < g; py++)
    for (let pxi = 0; pxi < g; pxi++) {
      const t = py * g + pxi;
      for (let d = 0; d < dim; d++) {
        let s = b[d]! + pos[t * dim + d]!;
        for (let c = 0; c < ch; c++)
          for (let ky = 0; ky < patch; ky++)
            for (let kx = 0; kx < patch; kx++)
              s += w[((d * ch + c) * patch + ky) * patch + kx]! * px[(c * size + py * patch + ky) * size + pxi * patch + kx]!;
        out[t * dim + d] = s;
      }
    }
  return out;
}

// [size, patch, dim, channels]: small odd ones and SigLIP at 224 px (256 patches × 1152, K = 588).
const cases: [number, number, number, number][] = [[14, 14, 8, 3], [42, 14, 37, 3], [20, 5, 16, 1], [36, 6, 130, 2], [224, 14, 1152, 3]];

// The conv kernel in buffers, and packed into a texture as the model does on CPU adapters (K = 588
// ends in a half texel; K = 25 does not fit the layout and stays in its buffer).
describe.each(['buffer', 'texture'] as const)('patchEmbed, weight in a %s', (layout) => {
  it.each(cases)('size=%i patch=%i dim=%i channels=%i', async (size, patch, dim, ch) => {
    const gpu = await testGpu();
    const n = (size / patch) ** 2;
    const pixels = randomF32(ch * size * size, size + dim);
    const w = randomBf16(dim * ch * patch * patch, dim, 0.05), b = randomBf16(dim, dim + 1, 0.5), pos = randomBf16(n * dim, dim + 2, 0.5);
    const gw = uploadWeight(gpu, w.words, [dim, ch, patch, patch], dim, 'patch.w');
    await prepareWeights(gpu, [gw], layout);
    expect(weightTexture(gw) !== undefined).toBe(layout === 'texture' && (ch * patch * patch) % 4 === 0);
    const out = gpu.buffer(n * dim * 4, 'out');
    const step = gpu.step('patch');
    patchEmbed(step, {
      pixels: gpu.upload(pixels, 'px'),
      w: gw,
      b: uploadWeight(gpu, b.words, [dim], dim, 'patch.b'),
      pos: uploadWeight(gpu, pos.words, [n, dim], n, 'pos'),
      out, size, patch, dim, channels: ch,
    });
    step.end();
    expectErr('patchEmbed', normErr(await gpu.readF32(out, 0, n * dim), ref(pixels, w.values, b.values, pos.values, size, patch, dim, ch)), TOL);
  });
});

// Several images as one batch (SigLIP over the images of one prompt): rows image by image, each
// with the same position embedding; the GEMM runs once over images·numPatches rows.
it('patchEmbed over 3 images at once equals each image alone', async () => {
  const gpu = await testGpu();
  const [size, patch, dim, ch, images] = [28, 14, 24, 3, 3];
  const n = (size / patch) ** 2;
  const pixels = randomF32(images * ch * size * size, 11);
  const w = randomBf16(dim * ch * patch * patch, 12, 0.05), b = randomBf16(dim, 13, 0.5), pos = randomBf16(n * dim, 14, 0.5);
  const out = gpu.buffer(images * n * dim * 4, 'out');
  const step = gpu.step('patch');
  patchEmbed(step, {
    pixels: gpu.upload(pixels, 'px'),
    w: uploadWeight(gpu, w.words, [dim, ch, patch, patch], dim, 'patch.w'),
    b: uploadWeight(gpu, b.words, [dim], dim, 'patch.b'),
    pos: uploadWeight(gpu, pos.words, [n, dim], n, 'pos'),
    out, size, patch, dim, channels: ch, images,
  });
  step.end();
  const got = await gpu.readF32(out, 0, images * n * dim);
  const want = new Float64Array(images * n * dim);
  const plane = ch * size * size;
  for (let i = 0; i < images; i++) want.set(ref(pixels.subarray(i * plane, (i + 1) * plane), w.values, b.values, pos.values, size, patch, dim, ch), i * n * dim);
  expectErr('patchEmbed ×3', normErr(got, want), TOL);
});
