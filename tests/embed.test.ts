import { describe, expect, it } from 'vitest';
import { embed } from '../src/kernels/embed.js';
import { prepareWeights } from '../src/kernels/matmul.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { normErr, randInt, randomBf16, rng, testGpu, uploadWeight } from './helpers/gpu.js';
import { expectErr } from './helpers/report.js';

// Exact up to the f32 rounding of value·scale (tolerance 1e-7 normwise).
const TOL = 1e-7;

// [vocab, dim, shardRows, rows]: one shard, uneven shards, odd dims (rows start mid-word), and the
// real layout scaled down in vocab (257216 rows of 2048 would be 1 GiB): 8 shards, dim 2048; dim
// 4100: texture rows of two column blocks (weight-texture.ts).
const r = rng(5);
const cases: [number, number, number, number][] = [[10, 4, 10, 3], [37, 33, 8, 50], [1000, 7, 300, 129], [300, 12, 300, 40], [8 * 64, 2048, 64, 270], [8 * 64 + 5, 2048, 64, 1], [40, 4100, 40, 17]];
for (let i = 0; i < 4; i++) {
  const vocab = randInt(r, 2, 3000);
  cases.push([vocab, randInt(r, 1, 300), randInt(r, 1, vocab), randInt(r, 1, 300)]);
}

// The table in buffer shards, and packed into a weight texture as CPU adapters hold it (dims that
// are not a multiple of 4 stay in buffers: the layout does not take them).
describe.each(['buffer', 'texture'] as const)('embed, table in a %s', (layout) => {
  it.each(cases)('vocab=%i dim=%i shardRows=%i rows=%i (+ out-of-range ids)', async (vocab, dim, shardRows, rows) => {
    const gpu = await testGpu();
    const t = randomBf16(vocab * dim, vocab + dim, 0.1);
    const table = uploadWeight(gpu, t.words, [vocab, dim], shardRows, 'embed');
    await prepareWeights(gpu, [table], layout);
    expect(weightTexture(table) !== undefined).toBe(layout === 'texture' && dim % 4 === 0);
    const rr = rng(rows + vocab);
    const ids = Uint32Array.from({ length: rows }, () => randInt(rr, 0, vocab - 1));
    ids[rows - 1] = vocab - 1;
    if (rows > 2) ids[1] = vocab + 3; // out of range: a zero row
    if (rows > 3) ids[2] = 0xffffffff;
    const scale = Math.fround(Math.sqrt(2048));
    const out = gpu.upload(new Float32Array(rows * dim).fill(NaN), 'out');
    const step = gpu.step('embed');
    embed(step, { ids: gpu.upload(ids, 'ids'), table, out, rows, dim, scale });
    step.end();
    const ref = new Float64Array(rows * dim);
    ids.forEach((id, i) => {
      if (id < vocab) for (let j = 0; j < dim; j++) ref[i * dim + j] = t.values[id * dim + j]! * scale;
    });
    expectErr('embed', normErr(await gpu.readF32(out, 0, rows * dim), ref), TOL);
  });
});
