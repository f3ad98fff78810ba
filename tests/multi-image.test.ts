// Several images in one sequence (issue 16): each image's 256 tokens in order, then the text, all
// in the bidirectional prefix. The graph against the two-image fixture (Hugging Face float32) at the
// strict tier, SigLIP over every image of a batch at once, batches whose sequences hold different
// numbers of images, the context check, and the command line (dump from pixel values [n, 3, S, S]
// or image files, generate's --image/--prompt grouping and --json).

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dumpRun } from '../src/graph/dump.js';
import { generate } from '../src/graph/generate.js';
import { ContextError } from '../src/graph/paligemma.js';
import { decodeImage } from '../src/image/decode.js';
import { loadModel } from '../src/node/load-model.js';
import { compareGolden, GOLDEN_FLOAT_TENSORS, GOLDEN_ID_TENSORS, normErr, readExpected, runGolden, type GoldenRun } from '../src/node/golden.js';
import { writeSafetensors } from '../src/node/write-safetensors.js';
import { cli } from './helpers/cli.js';
import { testGpu } from './helpers/gpu.js';

const FIXTURE = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-2images');
const meta = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as { text_ids: number[]; max_new_tokens: number; generated_ids: number[]; images: { path: string }[] };
const PLANE = 3 * 224 * 224;

const numbers = (a: ArrayLike<bigint | number>) => Array.from(a, Number);

/** Every golden tensor of a dump file against the fixture: floats within `tol`·max|ref|, ids identical. */
function expectFixture(file: string, tol: number): void {
  const got = readExpected(file);
  const want = readExpected(join(FIXTURE, 'expected.safetensors'));
  for (const name of GOLDEN_FLOAT_TENSORS) {
    expect(got.get(name)!.shape, name).toEqual(want.get(name)!.shape);
    const err = normErr(got.get(name)!.data as Float32Array, want.get(name)!.data as Float32Array);
    console.log(`${file.endsWith('images.safetensors') ? 'image files' : 'pixel values'} ${name}: ${err.toExponential(2)}`);
    expect(err, name).toBeLessThanOrEqual(tol);
  }
  for (const name of GOLDEN_ID_TENSORS) expect(numbers(got.get(name)!.data as BigInt64Array), name).toEqual(numbers(want.get(name)!.data as BigInt64Array));
}

describe('two images in one sequence (pg-tiny-v2048-224-2images)', () => {
  let run: GoldenRun;
  let pixels: Float32Array;

  beforeAll(async () => {
    run = await runGolden(await testGpu(), FIXTURE);
    pixels = run.expected.get('pixel_values')!.data as Float32Array;
  });

  it('matches Hugging Face at the strict tier: every tensor within 1e-5·max|ref|, the same greedy ids', () => {
    const check = compareGolden(run);
    for (const f of check.floats) console.log(`2 images ${f.name}: max|err|/max|ref| = ${f.err.toExponential(2)}`);
    expect(check.floats.map((f) => [f.name, f.ok])).toEqual(check.floats.map((f) => [f.name, true]));
    expect(check.ids.map((i) => [i.name, i.ok])).toEqual(check.ids.map((i) => [i.name, true]));
    expect(run.got.get('vision_last_hidden_state')!.shape).toEqual([2, 256, 32]);
    expect(run.got.get('image_features')!.shape).toEqual([2, 256, 48]);
    expect(run.model.images).toEqual([2]);
  });

  it('runs SigLIP once for both images (M = 512 rows); one pass per image gives the same tensors', async () => {
    const model = run.model;
    const gpu = model.gpu;
    const passes = (label: string) => {
      const step = gpu.step.bind(gpu);
      let n = 0;
      gpu.step = (l) => ((n += l === label ? 1 : 0), step(l));
      return { get count() { return n; }, restore: () => void (gpu.step = step) };
    };
    const once = passes('vision');
    const batched = await dumpRun(model, { pixels, textIds: meta.text_ids, maxNewTokens: 1 });
    once.restore();
    expect(once.count).toBe(1);
    model.maxVisionBatch = 1;
    const apart = passes('vision');
    try {
      const single = await dumpRun(model, { pixels, textIds: meta.text_ids, maxNewTokens: 1 });
      expect(apart.count).toBe(2);
      for (const name of ['vision_last_hidden_state', 'image_features', 'final_hidden_states']) {
        const a = batched.find((t) => t.name === name)!.data as Float32Array;
        const b = single.find((t) => t.name === name)!.data as Float32Array;
        expect(normErr(b, a), name).toBeLessThanOrEqual(1e-6);
      }
    } finally {
      apart.restore();
      model.maxVisionBatch = Infinity;
    }
  });

  it('a batch of sequences with two images and with one gives each what it gets alone', async () => {
    const model = run.model;
    const first = pixels.subarray(0, PLANE);
    const inputs = [
      { pixels, textIds: meta.text_ids },
      { pixels: first, textIds: [2, 1017, 108] },
      // The same two images in the other order: a different sequence.
      { pixels: Float32Array.from([...pixels.subarray(PLANE), ...first]), textIds: meta.text_ids },
    ];
    const alone = [];
    for (const input of inputs) alone.push((await generate(model, [input], { maxNewTokens: 4, stopIds: [] }).run())[0]);
    expect(alone[0]).toEqual(meta.generated_ids.slice(0, 4));
    const batched = await generate(model, inputs, { maxNewTokens: 4, stopIds: [] }).run();
    expect(batched).toEqual(alone);
    expect(model.images).toEqual([2, 1, 2]);
  });

  it('refuses what does not fit the context, naming the image and text counts', () => {
    const model = run.model;
    expect(model.contextLength).toBe(8192);
    expect(() => model.layout([{ pixels: new Float32Array(32 * PLANE), textIds: [2, 1017, 108] }], 4)).toThrow(ContextError);
    expect(() => model.layout([{ pixels: new Float32Array(32 * PLANE), textIds: [2, 1017, 108] }], 4)).toThrow(
      "prompt too long: 8195 tokens (32 images × 256 image tokens + 3 text) + 4 new tokens exceed the model's context of 8192",
    );
    // 31 images + 3 text + 4 new = 7943 tokens fit.
    expect(model.layout([{ pixels: new Float32Array(31 * PLANE), textIds: [2, 1017, 108] }], 4).length).toBe(31 * 256 + 3);
    expect(() => model.layout([{ pixels: new Float32Array(PLANE + 7), textIds: [2] }], 1)).toThrow(
      /pixel values must be \[3, 224, 224\] per image \(\[n, 3, 224, 224\]: a whole multiple of 150528 floats\), got 150535 floats/,
    );
    expect(() => model.layout([{ pixels: new Float32Array(0), textIds: [2] }], 1)).toThrow(/got 0 floats/);
  });
});

describe('paligemma CLI with several images', () => {
  const out = mkdtempSync(join(tmpdir(), 'pg-images-'));
  const common = ['--model', join(FIXTURE, 'checkpoint'), '--ids', meta.text_ids.join(','), '--max-new-tokens', String(meta.max_new_tokens), '--logits-rows', 'all'];

  it('dump --pixel-values [2, 3, 224, 224] matches the fixture at the strict tier', async () => {
    const file = join(out, 'pixels.safetensors');
    const r = await cli(['dump', ...common, '--pixel-values', join(FIXTURE, 'expected.safetensors'), '--out', file]);
    expect(r.code, r.stderr).toBe(0);
    expectFixture(file, 1e-5);
  });

  it('dump --image A --image B (own decoding and preprocessing) matches the fixture', async () => {
    const file = join(out, 'images.safetensors');
    const images = meta.images.flatMap((i) => ['--image', join(FIXTURE, i.path)]);
    const r = await cli(['dump', ...common, ...images, '--out', file]);
    expect(r.code, r.stderr).toBe(0);
    // The preprocessing is exact for both images (image-fixtures.test.ts), so the strict tier holds here too.
    expectFixture(file, 1e-5);
  });

  it('dump --pixel-values refuses a tensor that is not [n, 3, S, S]', async () => {
    const file = join(out, 'bad.safetensors');
    await writeSafetensors(file, [{ name: 'pixel_values', shape: [2, 3, 112, 224], data: new Float32Array(2 * 3 * 112 * 224) }]);
    const r = await cli(['dump', ...common, '--pixel-values', file, '--out', join(out, 'x.safetensors')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${file}: pixel_values must be F32 [n, 3, 224, 224] (n images, n ≥ 1), got F32 [2,3,112,224]`);
  });

  it('generate: images before a prompt belong to it; the sequences run as one batch; --json lists each one\'s images', async () => {
    const full = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224');
    const [a, b, c] = [join(full, 'shapes_300x200.png'), join(FIXTURE, meta.images[0]!.path), join(FIXTURE, meta.images[1]!.path)];
    const r = await cli([
      'generate', '--model', join(full, 'checkpoint'), '--image', a, '--image', b, '--prompt', 'caption en',
      '--image', c, '--prompt', 'describe en', '--max-new-tokens', '3', '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { results: { images: string[]; ids: number[] }[] };
    expect(got.results.map((x) => x.images)).toEqual([[a, b], [c]]);
    const { pipeline } = await loadModel(join(full, 'checkpoint'), { gpu: await testGpu() });
    const image = (f: string) => decodeImage(new Uint8Array(readFileSync(f)), f);
    const want = await pipeline.run([{ image: [image(a), image(b)], prompt: 'caption en' }, { image: image(c), prompt: 'describe en' }], { maxNewTokens: 3 });
    expect(got.results.map((x) => x.ids)).toEqual(want.map((w) => w.ids));
    expect(pipeline.model.images).toEqual([2, 1]);
    pipeline.model.destroy();
  });

  it('generate: says which --image has no prompt, and which --prompt no image', async () => {
    const trailing = await cli(['generate', '--image', 'a.png', '--prompt', 'x', '--image', 'b.png', '--image', 'c.png']);
    expect(trailing.code).not.toBe(0);
    expect(trailing.stderr).toContain('--image b.png, c.png after the last --prompt');
    const bare = await cli(['generate', '--image', 'a.png', '--prompt', 'x', '--prompt', 'y']);
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toContain("--prompt 'y' has no --image before it");
  });
});
