// PNG colour types / bit depths converted to RGB, and every refusal path.
import { readFileSync } from 'node:fs';
import { encode as encodePng } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { decodeImage, detectImageFormat } from '../src/image/decode.js';
import { ImageError } from '../src/image/errors.js';

const W = 5;
const H = 3;

function pattern(n: number, mul: number, mod: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * mul + 7) % mod);
}

function expectImageError(bytes: Uint8Array, name: string, problem: RegExp): void {
  let caught: unknown;
  try {
    decodeImage(bytes, name);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ImageError);
  const message = (caught as ImageError).message;
  expect(message.startsWith(`${name}: `)).toBe(true);
  expect(message).toMatch(problem);
}

describe('PNG colour types', () => {
  it('RGB 8-bit round-trips', () => {
    const data = new Uint8Array(pattern(W * H * 3, 37, 256));
    const img = decodeImage(encodePng({ width: W, height: H, data, channels: 3, depth: 8 }), 'rgb.png');
    expect(img).toEqual({ width: W, height: H, rgb: data });
  });

  it('RGBA drops alpha (no compositing)', () => {
    const data = new Uint8Array(pattern(W * H * 4, 53, 256));
    const img = decodeImage(encodePng({ width: W, height: H, data, channels: 4, depth: 8 }), 'rgba.png');
    const want = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) want.set(data.subarray(i * 4, i * 4 + 3), i * 3);
    expect(img.rgb).toEqual(want);
  });

  it('grayscale and grayscale+alpha replicate the gray level', () => {
    const gray = new Uint8Array(pattern(W * H, 41, 256));
    const ga = new Uint8Array(W * H * 2);
    gray.forEach((v, i) => {
      ga[i * 2] = v;
      ga[i * 2 + 1] = 255 - v;
    });
    const want = new Uint8Array(W * H * 3);
    gray.forEach((v, i) => want.fill(v, i * 3, i * 3 + 3));
    expect(decodeImage(encodePng({ width: W, height: H, data: gray, channels: 1, depth: 8 }), 'l.png').rgb).toEqual(want);
    expect(decodeImage(encodePng({ width: W, height: H, data: ga, channels: 2, depth: 8 }), 'la.png').rgb).toEqual(want);
  });

  it.each([1, 2, 4] as const)('%i-bit grayscale scales to 0..255 like PIL', (depth) => {
    const levels = pattern(W * H, 3, 1 << depth);
    // fast-png expects packed rows for sub-byte depths.
    const rowBytes = Math.ceil((W * depth) / 8);
    const packed = new Uint8Array(rowBytes * H);
    levels.forEach((v, i) => {
      const x = i % W;
      const y = Math.floor(i / W);
      const bit = x * depth;
      packed[y * rowBytes + (bit >> 3)] |= v << (8 - depth - (bit & 7));
    });
    const img = decodeImage(encodePng({ width: W, height: H, data: packed, channels: 1, depth }), `g${depth}.png`);
    const scale = 255 / ((1 << depth) - 1);
    expect(Array.from(img.rgb.filter((_, i) => i % 3 === 0))).toEqual(levels.map((v) => v * scale));
  });

  it('16-bit RGB keeps the high byte', () => {
    const data = new Uint16Array(pattern(W * H * 3, 4099, 65536));
    const img = decodeImage(encodePng({ width: W, height: H, data, channels: 3, depth: 16 }), 'rgb16.png');
    expect(Array.from(img.rgb)).toEqual(Array.from(data, (v) => v >> 8));
  });

  it('16-bit grayscale keeps the high byte', () => {
    const data = new Uint16Array(pattern(W * H, 4099, 65536));
    const img = decodeImage(encodePng({ width: W, height: H, data, channels: 1, depth: 16 }), 'l16.png');
    expect(Array.from(img.rgb.filter((_, i) => i % 3 === 1))).toEqual(Array.from(data, (v) => v >> 8));
  });

  it('palette (with transparency) maps indices to RGB', () => {
    const palette = [
      [255, 0, 0, 255],
      [0, 128, 0, 0],
      [10, 20, 30, 128],
    ];
    const indices = new Uint8Array(pattern(W * H, 1, 3));
    const img = decodeImage(encodePng({ width: W, height: H, data: indices, channels: 1, depth: 8, palette }), 'p.png');
    expect(Array.from(img.rgb)).toEqual(Array.from(indices).flatMap((i) => palette[i].slice(0, 3)));
  });

  it('Adam7-interlaced PNG decodes to the same pixels', () => {
    const data = new Uint8Array(pattern(9 * 7 * 3, 29, 256));
    const img = decodeImage(encodePng({ width: 9, height: 7, data, channels: 3, depth: 8 }, { interlace: 'Adam7' }), 'i.png');
    expect(img.rgb).toEqual(data);
  });
});

describe('format detection uses magic bytes, not the name', () => {
  const png = encodePng({ width: 2, height: 2, data: new Uint8Array(12), channels: 3, depth: 8 });
  it('a PNG named .jpg decodes as PNG', () => {
    expect(detectImageFormat(png)).toBe('png');
    expect(decodeImage(png, 'lies.jpg').width).toBe(2);
  });
});

describe('broken images raise ImageError naming the file', () => {
  const fixturePng = new Uint8Array(readFileSync(new URL('./fixtures/pg-tiny-fullvocab-224/shapes_300x200.png', import.meta.url)));
  const fixtureJpeg = new Uint8Array(readFileSync(new URL('./fixtures/pg-tiny-v2048-224-sharded/photo_320x240.jpg', import.meta.url)));

  /** Copy of a PNG with its IHDR width/height replaced (CRC left stale: the size check must come first). */
  function pngWithSize(width: number, height: number): Uint8Array {
    const copy = fixturePng.slice();
    const view = new DataView(copy.buffer);
    view.setUint32(16, width);
    view.setUint32(20, height);
    return copy;
  }

  /** Copy of the fixture JPEG with SOF0 height/width replaced. */
  function jpegWithSize(width: number, height: number): Uint8Array {
    const copy = fixtureJpeg.slice();
    let pos = 2;
    while (!(copy[pos] === 0xff && copy[pos + 1] === 0xc0)) pos += 2 + ((copy[pos + 2] << 8) | copy[pos + 3]);
    copy[pos + 5] = height >> 8;
    copy[pos + 6] = height & 255;
    copy[pos + 7] = width >> 8;
    copy[pos + 8] = width & 255;
    return copy;
  }

  it('empty file', () => expectImageError(new Uint8Array(0), 'empty.png', /empty/));
  it('unknown format', () => expectImageError(new TextEncoder().encode('hello world, not an image'), 'notes.png', /unknown image format/));
  it('GIF is recognised but unsupported', () => expectImageError(new TextEncoder().encode('GIF89a\x01\x00\x01\x00'), 'a.gif', /unsupported image format GIF/));
  it('WebP is recognised but unsupported', () =>
    expectImageError(new TextEncoder().encode('RIFF\x10\x00\x00\x00WEBPVP8 '), 'a.webp', /unsupported image format WEBP/));
  it('PNG signature only', () => expectImageError(fixturePng.slice(0, 8), 'sig.png', /missing IHDR/));
  it('truncated PNG', () => expectImageError(fixturePng.slice(0, fixturePng.length >> 1), 'half.png', /broken or truncated PNG/));
  it('PNG without its last bytes', () => expectImageError(fixturePng.slice(0, fixturePng.length - 5), 'cut.png', /broken or truncated PNG/));
  it('PNG with a corrupted data byte (CRC mismatch)', () => {
    const copy = fixturePng.slice();
    copy[200] ^= 0x55;
    expectImageError(copy, 'flip.png', /broken or truncated PNG/);
  });
  it('PNG with zero width', () => expectImageError(pngWithSize(0, 200), 'zero.png', /zero size/));
  it('PNG with a side above 16384', () => expectImageError(pngWithSize(20000, 10), 'wide.png', /too large/));
  it('PNG above 100 megapixels', () => expectImageError(pngWithSize(12000, 12000), 'huge.png', /too large/));
  it('PNG with absurd 2^32-1 sides', () => expectImageError(pngWithSize(0xffffffff, 0xffffffff), 'absurd.png', /too large/));
  it('JPEG header only', () => expectImageError(fixtureJpeg.slice(0, 4), 'head.jpg', /JPEG/));
  it('truncated JPEG', () => expectImageError(fixtureJpeg.slice(0, fixtureJpeg.length >> 1), 'half.jpg', /truncated JPEG/));
  it('JPEG with zero height', () => expectImageError(jpegWithSize(320, 0), 'zero.jpg', /zero size/));
  it('JPEG above 100 megapixels', () => expectImageError(jpegWithSize(12000, 12000), 'huge.jpg', /too large/));
  it('JPEG with garbage entropy data', () => {
    const copy = fixtureJpeg.slice();
    // Scramble the scan data but keep the end-of-image marker.
    for (let i = 700; i < copy.length - 2; i++) copy[i] = (i * 7919) & 0xff;
    expectImageError(copy, 'garbage.jpg', /JPEG/);
  });
});
