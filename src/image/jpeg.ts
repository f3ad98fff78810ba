// JPEG to RGB the way libjpeg-turbo does it with its defaults (what PIL uses,
// hence what Hugging Face's reference pixels come from): our own decoder
// (jpeg-decode.ts, islow IDCT) gives the component planes, then "fancy"
// (triangle) chroma upsampling (jdsample.c) and fixed-point YCbCr->RGB
// (jdcolor.c ycc_rgb_convert). With fancy upsampling on, libjpeg never uses
// its merged upsampler (jdmaster.c use_merged_upsample), so this is the path.
import { ImageError } from './errors.js';
import { JpegError } from './jpeg-bits.js';
import { decodeJpegPlanes } from './jpeg-decode.js';
import type { JpegPlane } from './jpeg-decode.js';

/**
 * Upsample one component plane to width x height as jdsample.c's
 * jinit_upsampler would choose: h2v1/h2v2 fancy when the plane is more than 2
 * samples wide, h1v2 fancy, otherwise (and for other integer ratios) pixel
 * replication. Fancy outputs take 3/4 of the nearer sample and 1/4 of the
 * further one with alternating rounding biases; end columns have no further
 * sample; rows above the first and below the last are copies of those rows
 * (jdmainct.c context rows).
 */
function upsample(p: JpegPlane, width: number, height: number): Uint8Array {
  const { samples, stride, ratioH, ratioV } = p;
  const w = p.width;
  const out = new Uint8Array(width * height);
  const row = new Uint8Array(w * ratioH);
  const colsum = new Int32Array(w);
  const fancyH = ratioH === 2 && w > 2 && (ratioV === 1 || ratioV === 2);
  const fancyV = ratioH === 1 && ratioV === 2;
  for (let y = 0; y < height; y++) {
    const inRow = Math.floor(y / ratioV);
    const near = inRow * stride;
    // For vertical fancy upsampling, the second-nearest row: above for even output rows, below for odd ones.
    const far = (y & 1 ? Math.min(inRow + 1, p.height - 1) : Math.max(inRow - 1, 0)) * stride;
    if (ratioH === 1 && ratioV === 1) {
      out.set(samples.subarray(near, near + width), y * width); // fullsize_upsample
      continue;
    }
    if (fancyH && ratioV === 1) {
      // h2v1_fancy_upsample
      for (let i = 0; i < w; i++) {
        const here = samples[near + i] * 3;
        row[2 * i] = i === 0 ? samples[near] : (here + samples[near + i - 1] + 1) >> 2;
        row[2 * i + 1] = i === w - 1 ? samples[near + i] : (here + samples[near + i + 1] + 2) >> 2;
      }
    } else if (fancyH) {
      // h2v2_fancy_upsample
      for (let i = 0; i < w; i++) colsum[i] = samples[near + i] * 3 + samples[far + i];
      for (let i = 0; i < w; i++) {
        const here = colsum[i] * 3;
        row[2 * i] = i === 0 ? (colsum[0] * 4 + 8) >> 4 : (here + colsum[i - 1] + 8) >> 4;
        row[2 * i + 1] = i === w - 1 ? (colsum[i] * 4 + 7) >> 4 : (here + colsum[i + 1] + 7) >> 4;
      }
    } else if (fancyV) {
      // h1v2_fancy_upsample
      const bias = y & 1 ? 2 : 1;
      for (let i = 0; i < w; i++) row[i] = (samples[near + i] * 3 + samples[far + i] + bias) >> 2;
    } else {
      // h2v1/h2v2_upsample, int_upsample: replication
      for (let i = 0; i < row.length; i++) row[i] = samples[near + Math.floor(i / ratioH)];
    }
    out.set(row.subarray(0, width), y * width);
  }
  return out;
}

// jdcolor.c build_ycc_rgb_table: 16-bit fixed point, FIX(x) = round(x * 2^16).
// The green terms are JLONG in C, but their sum stays below 2^23: int32 is exact.
const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number) => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

/** libjpeg range_limit: clamp to 0..255. */
function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Decode JPEG bytes to interleaved RGB. `checkSize` sees the frame size before
 * any allocation and may throw to refuse it. Every problem is an ImageError naming `name`.
 */
export function decodeJpeg(name: string, bytes: Uint8Array, checkSize: (width: number, height: number) => void): { width: number; height: number; rgb: Uint8Array } {
  let decoded;
  try {
    decoded = decodeJpegPlanes(bytes, checkSize);
  } catch (err) {
    if (err instanceof JpegError) throw new ImageError(name, err.message);
    throw err;
  }
  const { width, height, colorSpace } = decoded;
  const planes = decoded.planes.map((p) => upsample(p, width, height));
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  if (colorSpace === 'gray') {
    const [l] = planes;
    for (let i = 0; i < n; i++) {
      rgb[i * 3] = l[i];
      rgb[i * 3 + 1] = l[i];
      rgb[i * 3 + 2] = l[i];
    }
  } else if (colorSpace === 'rgb') {
    const [r, g, b] = planes;
    for (let i = 0; i < n; i++) {
      rgb[i * 3] = r[i];
      rgb[i * 3 + 1] = g[i];
      rgb[i * 3 + 2] = b[i];
    }
  } else {
    const [l, cb, cr] = planes;
    for (let i = 0; i < n; i++) {
      const y = l[i];
      rgb[i * 3] = clamp8(y + CR_R[cr[i]]);
      rgb[i * 3 + 1] = clamp8(y + ((CB_G[cb[i]] + CR_G[cr[i]]) >> SCALEBITS));
      rgb[i * 3 + 2] = clamp8(y + CB_B[cb[i]]);
    }
  }
  return { width, height, rgb };
}
