// Our JPEG decoder against libjpeg-turbo: the HF fixture photo (PIL's decode,
// image_rgb_u8) and small files made with libjpeg-turbo 2.1.5's cjpeg/jpegtran
// whose djpeg output (islow IDCT + fancy upsampling, PIL's defaults) is
// committed next to them (tests/fixtures/images/README.md). Plus refusals and
// truncation/corruption robustness.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../src/image/decode.js';
import { ImageError } from '../src/image/errors.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { readSafetensors, tensor } from './helpers/safetensors.js';
import { absErrors } from './helpers/gpu.js';

const IMAGES = new URL('./fixtures/images/', import.meta.url);
const PHOTO_DIR = new URL('./fixtures/pg-tiny-v2048-224-sharded/', import.meta.url);

const read = (name: string, base = IMAGES) => new Uint8Array(readFileSync(new URL(name, base)));

/** Binary PGM (P5) or PPM (P6) with maxval 255, as djpeg writes them, converted to RGB. */
function readPnm(name: string): { width: number; height: number; rgb: Uint8Array } {
  const bytes = read(name);
  const header = new TextDecoder().decode(bytes.subarray(0, 32)).match(/^(P[56])\s+(\d+)\s+(\d+)\s+255\s/);
  if (header === null) throw new Error(`${name}: not a binary PNM`);
  const width = Number(header[2]);
  const height = Number(header[3]);
  const data = bytes.subarray(header[0].length);
  if (header[1] === 'P6') return { width, height, rgb: data.slice(0, width * height * 3) };
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.fill(data[i], i * 3, i * 3 + 3);
  return { width, height, rgb };
}


/** Decode, accepting only success or an ImageError naming the file. */
function decodeOrImageError(bytes: Uint8Array, name: string): 'ok' | 'refused' {
  try {
    decodeImage(bytes, name);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).message.startsWith(`${name}: `)).toBe(true);
    return 'refused';
  }
}

function expectRefusal(bytes: Uint8Array, name: string, problem: RegExp): void {
  expect(() => decodeImage(bytes, name)).toThrow(ImageError);
  expect(() => decodeImage(bytes, name)).toThrow(problem);
}

/** Offset of the first marker `code` in a JPEG (walking segment lengths). */
function markerAt(bytes: Uint8Array, code: number): number {
  let pos = 2;
  while (bytes[pos + 1] !== code) pos += 2 + ((bytes[pos + 2] << 8) | bytes[pos + 3]);
  return pos;
}

describe('HF fixture photo (baseline 4:2:0, PIL reference)', () => {
  const expected = readSafetensors(new URL('expected.safetensors', PHOTO_DIR).pathname);
  const referenceRgb = tensor(expected, 'image_rgb_u8', 'U8');
  const pixelValues = tensor(expected, 'pixel_values', 'F32');

  it('decodes exactly to PIL/libjpeg-turbo pixels', () => {
    const img = decodeImage(read('photo_320x240.jpg', PHOTO_DIR), 'photo_320x240.jpg');
    expect([img.height, img.width, 3]).toEqual(referenceRgb.shape);
    expect(absErrors(img.rgb, referenceRgb.data)).toEqual({ max: 0, mean: 0 });
  });

  it('decode + preprocess matches pixel_values within the bar (max 4/255, mean 2e-3); measured exact', () => {
    const img = decodeImage(read('photo_320x240.jpg', PHOTO_DIR), 'photo_320x240.jpg');
    const { max, mean } = absErrors(preprocessImage(img.rgb, img.width, img.height, 224), pixelValues.data);
    expect(max).toBeLessThanOrEqual(4 / 255);
    expect(mean).toBeLessThanOrEqual(2e-3);
    expect(max).toBe(0);
  });

  // jpegtran rewrites the same coefficients progressively, so the pixels must not change.
  it.each(['photo_320x240_progressive.jpg', 'photo_320x240_progressive_restart.jpg'])('%s (jpegtran) decodes to the same pixels', (name) => {
    const img = decodeImage(read(name), name);
    expect(absErrors(img.rgb, referenceRgb.data)).toEqual({ max: 0, mean: 0 });
  });
});

describe('libjpeg-turbo cjpeg files decode exactly like djpeg', () => {
  it.each([
    ['q420_33x17', '4:2:0, odd size'],
    ['q422_33x17', '4:2:2'],
    ['q444_33x17', '4:4:4, optimised Huffman tables'],
    ['q440_33x17', '4:4:0 (h1v2 fancy upsampling)'],
    ['mixed_33x17', 'Y 2x1, Cb 1x2, Cr 1x1 (h1v2 luma, h2v1 and h2v2 chroma)'],
    ['s3x1_33x17', 'Y 3x1 (3:1 replication)'],
    ['tiny420_3x5', '4:2:0 with 2-sample-wide chroma (plain upsampling)'],
    ['gray_33x17', 'grayscale'],
    ['rgb_33x17', 'RGB without colour transform (Adobe transform 0)'],
    ['restart420_33x17', 'restart marker after every MCU'],
    ['prog420_33x17', 'progressive 4:2:0 (jpegtran)'],
    ['proggray_33x17', 'progressive grayscale'],
    ['prog444_64x48', 'progressive 4:4:4 q95'],
    ['progrestart420_64x48', 'progressive with restart markers'],
  ])('%s: %s', (base) => {
    const ref = readPnm(`${base}.pnm`);
    const img = decodeImage(read(`${base}.jpg`), `${base}.jpg`);
    expect([img.width, img.height]).toEqual([ref.width, ref.height]);
    expect(absErrors(img.rgb, ref.rgb)).toEqual({ max: 0, mean: 0 });
  });
});

// Known gap: when progressive scans leave low-frequency coefficients unrefined,
// libjpeg (do_block_smoothing, on by default and in PIL) smooths them from the
// neighbouring blocks' DC values (jdcoefct.c decompress_smooth_data); we do
// not. Standard scan scripts (cjpeg, jpegtran, mozjpeg) refine everything, so
// this only affects unusual files. Measured here: max 7 levels, mean 0.99.
it('progressive file left unrefined differs from libjpeg by its block smoothing only (measured max 7, mean 0.99 levels)', () => {
  const ref = readPnm('partial_64x48.pnm');
  const { max, mean } = absErrors(decodeImage(read('partial_64x48.jpg'), 'partial_64x48.jpg').rgb, ref.rgb);
  expect(max).toBeLessThanOrEqual(7);
  expect(mean).toBeLessThan(1);
});

describe('unsupported JPEG kinds are refused with a clear ImageError', () => {
  const baseline = read('q420_33x17.jpg');

  it('arithmetic coding', () => expectRefusal(read('arith_33x17.jpg'), 'arith.jpg', /^arith\.jpg: unsupported JPEG: arithmetic-coded JPEG \(SOF9\)/));

  it('12-bit samples', () => {
    const copy = baseline.slice();
    copy[markerAt(copy, 0xc0) + 4] = 12;
    expectRefusal(copy, 'deep.jpg', /^deep\.jpg: unsupported JPEG: 12-bit samples/);
  });

  it('lossless', () => {
    const copy = baseline.slice();
    copy[markerAt(copy, 0xc0) + 1] = 0xc3;
    expectRefusal(copy, 'lossless.jpg', /lossless JPEG \(SOF3\)/);
  });

  it('4 components (CMYK)', () => {
    // SOI, SOF0 8-bit 8x8 with 4 components, EOI.
    const sof = [0xff, 0xc0, 0x00, 0x14, 8, 0, 8, 0, 8, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0];
    expectRefusal(new Uint8Array([0xff, 0xd8, ...sof, 0xff, 0xd9]), 'cmyk.jpg', /4 components \(CMYK\/YCCK\)/);
  });

  it('a frame far larger than the data is refused before allocating', () => {
    const copy = baseline.slice();
    const sof = markerAt(copy, 0xc0);
    copy.set([0x17, 0x70, 0x3e, 0x80], sof + 5); // 6000 x 16000
    expectRefusal(copy, 'big.jpg', /truncated JPEG \(too little data/);
  });
});

describe('truncated or corrupt JPEGs raise ImageError, never crash or hang', () => {
  it.each(['q420_33x17.jpg', 'prog420_33x17.jpg', 'restart420_33x17.jpg'])('every prefix of %s is refused', (name) => {
    const bytes = read(name);
    for (let n = 0; n < bytes.length; n++) expect(decodeOrImageError(bytes.subarray(0, n), `cut${n}.jpg`)).toBe('refused');
  });

  it.each(['q420_33x17.jpg', 'prog444_64x48.jpg', 'progrestart420_64x48.jpg'])('random byte corruption of %s decodes or is refused', (name) => {
    const bytes = read(name);
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const outcomes = { ok: 0, refused: 0 };
    for (let trial = 0; trial < 300; trial++) {
      const copy = bytes.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
      outcomes[decodeOrImageError(copy, 'fuzz.jpg')]++;
    }
    expect(outcomes.ok + outcomes.refused).toBe(300);
  });
});
