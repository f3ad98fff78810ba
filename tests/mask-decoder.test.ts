import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MaskDecoder } from '../src/graph/mask-decoder.js';
import { NpzArchive, NpzError } from '../src/loader/npz.js';
import { maskToUint8, pasteMask, pixelBox, textToMasks } from '../src/masks.js';
import { normErr, testGpu } from './helpers/gpu.js';
import { npy, zip } from './helpers/npz.js';
import { readSafetensors, tensor } from './helpers/safetensors.js';

const DIR = 'tests/fixtures/vae-oid-random-seed0';
const npzBytes = new Uint8Array(readFileSync(`${DIR}/vae-oid.npz`));
const expected = readSafetensors(`${DIR}/expected.safetensors`);
const fixture = JSON.parse(readFileSync(`${DIR}/expected.json`, 'utf8')) as { text: string; width: number; height: number };
const refMask64 = tensor(expected, 'mask64', 'F32').data;
const refMasks = tensor(expected, 'masks', 'U8').data;
const refCodes = tensor(expected, 'codewords', 'I32').data;
const refBoxes = tensor(expected, 'boxes', 'I32').data;

let decoder: Promise<MaskDecoder> | undefined;
const fixtureDecoder = async () => (decoder ??= MaskDecoder.fromNpz(await testGpu(), 'vae-oid.npz', npzBytes));

/** The fixture's arrays re-zipped with deflate (np.savez_compressed's layout). */
async function deflated(drop?: string, reshape?: [string, number[]]): Promise<Uint8Array> {
  const npz = NpzArchive.open('vae-oid.npz', npzBytes);
  const files: Record<string, Uint8Array> = {};
  for (const key of npz.keys()) {
    if (key === drop) continue;
    const a = await npz.float32(key);
    const shape = reshape?.[0] === key ? reshape[1] : a.shape;
    files[`${key}.npy`] = npy(shape, a.data.subarray(0, shape.reduce((x, y) => x * y, 1)));
  }
  return zip(files, true);
}

describe('mask decoder (vae-oid-random-seed0)', () => {
  it('decodes the fixture codewords to mask64 within 1e-5·max|ref|', async () => {
    const d = await fixtureDecoder();
    expect([d.entries, d.codewords, d.maskSize]).toEqual([128, 16, 64]);
    const codes = [0, 1, 2].map((i) => Array.from(refCodes.subarray(i * 16, (i + 1) * 16)));
    const got = await d.decode(codes);
    expect(normErr(got, refMask64)).toBeLessThanOrEqual(1e-5);
    // One object alone gives the same result as in the batch.
    expect(normErr(await d.decode([codes[2]!]), refMask64.subarray(2 * 4096))).toBeLessThanOrEqual(1e-5);
    expect(await d.decode([])).toEqual(new Float32Array(0));
  });

  it('decodes more objects than one batch holds, each as if alone', async () => {
    const d = await fixtureDecoder();
    const codes = Array.from({ length: 70 }, (_, i) => Array.from({ length: 16 }, (_, j) => (i * 11 + j * 5) % 128));
    const all = await d.decode(codes);
    for (const i of [0, 63, 64, 69]) expect(normErr(all.subarray(i * 4096, (i + 1) * 4096), await d.decode([codes[i]!]))).toBeLessThanOrEqual(1e-6);
  });

  it('reproduces the demo post-processing: boxes, codewords, uint8 masks', async () => {
    const { text, width, height } = fixture;
    const objs = await textToMasks(await fixtureDecoder(), text, width, height);
    expect(objs.map((o) => o.label)).toEqual(['cat', 'dog', 'red ball']);
    expect(objs.flatMap((o) => [o.box.x1, o.box.y1, o.box.x2, o.box.y2])).toEqual(Array.from(refBoxes));
    expect(objs.flatMap((o) => o.codewords)).toEqual(Array.from(refCodes));
    let off = 0;
    let worst = 0;
    objs.forEach((o, i) => {
      const ref = refMasks.subarray(i * width * height, (i + 1) * width * height);
      for (let p = 0; p < ref.length; p++) {
        const d = Math.abs(o.mask[p]! - ref[p]!);
        worst = Math.max(worst, d);
        if (d > 0) off++;
      }
      expect(o.area).toBe(o.mask.reduce((a, v) => a + (v > 127 ? 1 : 0), 0));
    });
    expect(worst).toBeLessThanOrEqual(2);
    expect(off).toBeLessThanOrEqual(0.01 * refMasks.length);
    // From the reference's own mask64 the paste is bit-exact.
    objs.forEach((o, i) => {
      const exact = pasteMask(refMask64.subarray(i * 4096, (i + 1) * 4096), o.box, width, height);
      expect(exact).toEqual(refMasks.subarray(i * width * height, (i + 1) * width * height));
    });
  });

  it('keeps boxes without area with an all-zero mask; skips objects without 16 seg tokens', async () => {
    const segs = '<seg001>'.repeat(16);
    const text = `<loc0500><loc0100><loc0500><loc0900>${segs} flat ; <loc0001><loc0001><loc0002><loc0002>${segs} tiny ; <loc0000><loc0000><loc0100><loc0100> no mask`;
    const objs = await textToMasks(await fixtureDecoder(), text, 7, 5);
    expect(objs.map((o) => o.label)).toEqual(['flat', 'tiny']);
    expect(objs[0]!.box).toEqual({ x1: 1, y1: 2, x2: 6, y2: 2 });
    expect(objs[1]!.box).toEqual({ x1: 0, y1: 0, x2: 0, y2: 0 });
    for (const o of objs) {
      expect(o.mask.every((v) => v === 0)).toBe(true);
      expect(o.mask64.length).toBe(4096);
    }
  });

  it('rounds boxes half to even and clips the mask like numpy', () => {
    expect(pixelBox({ x0: 2.5, y0: 3.5, x1: 4.5, y1: 0.5 }, 10, 10)).toEqual({ x1: 2, y1: 4, x2: 4, y2: 0 });
    expect(Array.from(maskToUint8(Float32Array.of(-3, -1, 0, 0.999, 1, 5)))).toEqual([0, 0, 127, 254, 255, 255]);
  });

  it('reads a deflated file (np.savez_compressed) to the same masks', async () => {
    const gpu = await testGpu();
    const d = await MaskDecoder.fromNpz(gpu, 'vae-oid-compressed.npz', await deflated());
    const codes = Array.from(refCodes.subarray(16, 32));
    expect(await d.decode([codes])).toEqual(await (await fixtureDecoder()).decode([codes]));
    d.destroy();
  });

  it('names the file and the array for a missing or misshapen tensor, and rejects bad codewords', async () => {
    const gpu = await testGpu();
    await expect(MaskDecoder.fromNpz(gpu, 'cut.npz', await deflated('decoder.3.net.2.bias'))).rejects.toThrow(/cut\.npz: no array 'decoder\.3\.net\.2\.bias'/);
    const bad = MaskDecoder.fromNpz(gpu, 'bad.npz', await deflated(undefined, ['decoder.6.weight', [128, 64, 3, 3]]));
    await expect(bad).rejects.toThrow(NpzError);
    await expect(bad).rejects.toThrow(/bad\.npz: array 'decoder\.6\.weight' has shape \[128, 64, 3, 3\], expected \[128, \*, 4, 4\]/);
    const d = await fixtureDecoder();
    await expect(d.decode([[1, 2, 3]])).rejects.toThrow(/16 codewords in 0\.\.127/);
    await expect(d.decode([new Array(16).fill(128)])).rejects.toThrow(RangeError);
  });
});
