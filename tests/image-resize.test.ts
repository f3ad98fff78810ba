// Properties of the Pillow bicubic port that the fixture comparison does not isolate.
import { describe, expect, it } from 'vitest';
import { resizeBicubic } from '../src/image/resize.js';

function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

function transpose(src: Uint8Array, w: number, h: number, c: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[(x * h + y) * c + k] = src[(y * w + x) * c + k];
  return out;
}

describe('resizeBicubic', () => {
  it('same size returns an identical copy', () => {
    const src = noise(7 * 5 * 3, 1);
    const out = resizeBicubic(src, 7, 5, 7, 5);
    expect(out).toEqual(src);
    expect(out).not.toBe(src);
  });

  it.each([
    [300, 200, 224, 224],
    [50, 40, 224, 224],
    [224, 300, 224, 224],
  ])('keeps a constant image constant (%ix%i -> %ix%i)', (w, h, ow, oh) => {
    for (const v of [0, 1, 128, 254, 255]) {
      const out = resizeBicubic(new Uint8Array(w * h * 3).fill(v), w, h, ow, oh);
      expect(out.every((x) => x === v)).toBe(true);
    }
  });

  it('a vertical-only resize equals the transposed horizontal-only resize', () => {
    // Pillow skips the pass whose axis keeps its size; both passes share one kernel.
    const w = 31;
    const h = 57;
    const src = noise(w * h * 3, 7);
    const vertical = resizeBicubic(src, w, h, w, 20);
    const horizontal = resizeBicubic(transpose(src, w, h, 3), h, w, 20, w);
    expect(vertical).toEqual(transpose(horizontal, 20, w, 3));
  });

  it('overshoot is clipped to 0..255 (negative lobes of the cubic)', () => {
    // A hard 0/255 edge upscaled rings past both ends before clipping.
    const w = 4;
    const src = new Uint8Array([0, 0, 255, 255]);
    const out = resizeBicubic(src, w, 1, 16, 1, 1);
    // Without clipping the ringing would wrap around in uint8 and break monotonicity.
    for (let i = 1; i < out.length; i++) expect(out[i]).toBeGreaterThanOrEqual(out[i - 1]);
    expect(out[0]).toBe(0);
    expect(out[15]).toBe(255);
  });

  it('rejects bad sizes and buffer lengths', () => {
    expect(() => resizeBicubic(new Uint8Array(12), 2, 2, 0, 2)).toThrow(RangeError);
    expect(() => resizeBicubic(new Uint8Array(11), 2, 2, 3, 3)).toThrow(/expected 12 bytes/);
  });
});
