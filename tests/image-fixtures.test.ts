// Decoding + preprocessing against the HF reference tensors of the three fixtures.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../src/image/decode.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { readSafetensors, tensor } from './helpers/safetensors.js';
import { absErrors } from './helpers/gpu.js';

const FIXTURES = [
  { dir: 'pg-tiny-fullvocab-224', image: 'shapes_300x200.png', width: 300, height: 200 },
  { dir: 'pg-tiny-v2048-224-newnames', image: 'tall_180x260.png', width: 180, height: 260 },
  { dir: 'pg-tiny-v2048-224-sharded', image: 'photo_320x240.jpg', width: 320, height: 240 },
] as const;

// The bar, in normalised pixel units (1 uint8 level = 2/255): max 4/255, mean 2e-3.
const BAR_MAX = 4 / 255;
const BAR_MEAN = 2e-3;


describe.each(FIXTURES)('fixture $dir', ({ dir, image, width, height }) => {
  const base = new URL(`./fixtures/${dir}/`, import.meta.url);
  const expected = readSafetensors(new URL('expected.safetensors', base).pathname);
  const referenceRgb = tensor(expected, 'image_rgb_u8', 'U8');
  const pixelValues = tensor(expected, 'pixel_values', 'F32');
  const decoded = decodeImage(new Uint8Array(readFileSync(new URL(image, base))), image);

  it('decodes to the reference size', () => {
    expect([decoded.height, decoded.width, 3]).toEqual(referenceRgb.shape);
    expect([decoded.width, decoded.height]).toEqual([width, height]);
  });

  it('preprocesses the reference pixels bit-exactly (PIL bicubic port + HF float math)', () => {
    const ours = preprocessImage(referenceRgb.data, width, height, 224);
    expect(pixelValues.shape).toEqual([1, 3, 224, 224]);
    const { max, mean } = absErrors(ours, pixelValues.data);
    expect(max).toBe(0);
    expect(mean).toBe(0);
  });

  // PNG decoding is lossless; our JPEG decoder is bit-exact with libjpeg-turbo
  // (islow IDCT, fancy upsampling), so the whole pipeline is exact for all
  // three. The bar (max 4/255, mean 2e-3) is asserted too, as the contract.
  it('decodes exactly and the whole pipeline matches pixel_values (exact; bar max 4/255, mean 2e-3)', () => {
    expect(absErrors(decoded.rgb, referenceRgb.data)).toEqual({ max: 0, mean: 0 });
    const { max, mean } = absErrors(preprocessImage(decoded.rgb, width, height, 224), pixelValues.data);
    expect(max).toBeLessThanOrEqual(BAR_MAX);
    expect(mean).toBeLessThanOrEqual(BAR_MEAN);
    expect(max).toBe(0);
  });
});
