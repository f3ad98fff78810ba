// JPEG decoding on top of jpeg-js, made closer to libjpeg-turbo (what PIL uses,
// hence what HF's reference pixels come from).
//
// jpeg-js upsamples subsampled chroma by pixel replication and converts YCbCr
// with float math; libjpeg-turbo uses "fancy" (triangle) upsampling and
// fixed-point tables. At colour edges the difference reaches >100 levels, so we
// ask jpeg-js for the raw component planes (colorTransform: false), rebuild the
// subsampled chroma planes, and redo upsampling + conversion the libjpeg way
// (jdsample.c h2v1/h2v2_fancy_upsample, jdcolor.c ycc_rgb_convert).
// What remains is jpeg-js's IDCT versus libjpeg's islow IDCT: ±1-2 levels.
import jpeg from 'jpeg-js';
import { ImageError } from './errors.js';

export interface JpegHeader {
  width: number;
  height: number;
  /** Per component: horizontal and vertical sampling factors and the component id. */
  components: { id: number; h: number; v: number }[];
  /** Adobe APP14 transform flag, or null when there is no Adobe segment. */
  adobeTransform: number | null;
}

/**
 * Walk the marker segments up to the frame header (all have explicit lengths
 * there) to read dimensions before jpeg-js allocates anything.
 */
export function readJpegHeader(name: string, bytes: Uint8Array): JpegHeader {
  let adobeTransform: number | null = null;
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) throw new ImageError(name, 'broken JPEG: bad marker structure');
    let marker = bytes[pos + 1];
    while (marker === 0xff && pos + 2 < bytes.length) {
      pos++; // fill bytes before a marker
      marker = bytes[pos + 1];
    }
    pos += 2;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (marker === 0xd9 || marker === 0xda) break; // image ends or a scan starts before any frame header
    if (pos + 2 > bytes.length) break;
    const length = (bytes[pos] << 8) | bytes[pos + 1];
    if (length < 2) throw new ImageError(name, 'broken JPEG: bad segment length');
    if (marker === 0xee && length >= 14 && String.fromCharCode(...bytes.subarray(pos + 2, pos + 7)) === 'Adobe') {
      adobeTransform = bytes[pos + 13];
    }
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (marker > 0xc2) {
        throw new ImageError(name, `unsupported JPEG coding (SOF${marker - 0xc0}; only baseline, extended and progressive Huffman)`);
      }
      if (pos + 8 > bytes.length) break;
      const height = (bytes[pos + 3] << 8) | bytes[pos + 4];
      const width = (bytes[pos + 5] << 8) | bytes[pos + 6];
      const count = bytes[pos + 7];
      const components: JpegHeader['components'] = [];
      for (let i = 0; i < count && pos + 10 + i * 3 < bytes.length; i++) {
        const at = pos + 8 + i * 3;
        components.push({ id: bytes[at], h: bytes[at + 1] >> 4, v: bytes[at + 1] & 15 });
      }
      return { width, height, components, adobeTransform };
    }
    pos += length;
  }
  throw new ImageError(name, 'broken or truncated JPEG: no frame header (SOF) found');
}

/** libjpeg range_limit: clamp to 0..255. */
function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Extract one component's plane at its own (subsampled) resolution from the replicated full-size output. */
function subsampledPlane(full: Uint8Array, width: number, height: number, channel: number, fx: number, fy: number) {
  const w = Math.ceil(width / fx);
  const h = Math.ceil(height / fy);
  const plane = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) plane[y * w + x] = full[((y * fy) * width + x * fx) * 3 + channel];
  }
  return { plane, w, h };
}

/**
 * Upsample a chroma plane (w x h samples) to width x height like libjpeg-turbo's
 * jdsample.c: h2v1_fancy_upsample and h2v2_fancy_upsample. Each output takes 3/4
 * of the nearer sample and 1/4 of the further one, with alternating rounding
 * biases; end columns have no further sample; context rows above the first and
 * below the last row are copies of those rows (jdmainct.c).
 */
function fancyUpsample(plane: Uint8Array, w: number, h: number, fy: number, width: number, height: number): Int32Array {
  const out = new Int32Array(width * height);
  const row = new Int32Array(2 * w);
  const colsum = new Int32Array(w);
  for (let y = 0; y < height; y++) {
    if (fy === 1) {
      const base = y * w;
      for (let i = 0; i < w; i++) {
        const here = plane[base + i] * 3;
        row[2 * i] = i === 0 ? plane[base] : (here + plane[base + i - 1] + 1) >> 2;
        row[2 * i + 1] = i === w - 1 ? plane[base + i] : (here + plane[base + i + 1] + 2) >> 2;
      }
    } else {
      const inRow = y >> 1;
      const neighbour = y & 1 ? Math.min(inRow + 1, h - 1) : Math.max(inRow - 1, 0);
      for (let i = 0; i < w; i++) colsum[i] = plane[inRow * w + i] * 3 + plane[neighbour * w + i];
      for (let i = 0; i < w; i++) {
        const here = colsum[i] * 3;
        row[2 * i] = i === 0 ? (colsum[0] * 4 + 8) >> 4 : (here + colsum[i - 1] + 8) >> 4;
        row[2 * i + 1] = i === w - 1 ? (colsum[i] * 4 + 7) >> 4 : (here + colsum[i + 1] + 7) >> 4;
      }
    }
    out.set(row.subarray(0, width), y * width);
  }
  return out;
}

// jdcolor.c build_ycc_rgb_table: 16-bit fixed point, FIX(x) = round(x * 2^16).
const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number) => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Float64Array(256);
const CB_G = new Float64Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = Math.floor((fix(1.402) * x + ONE_HALF) / (1 << SCALEBITS));
  CB_B[i] = Math.floor((fix(1.772) * x + ONE_HALF) / (1 << SCALEBITS));
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

function yccToRgb(y: Uint8Array | Int32Array, cb: Int32Array, cr: Int32Array, out: Uint8Array): void {
  for (let i = 0; i < cb.length; i++) {
    const l = y[i];
    const b = cb[i];
    const r = cr[i];
    out[i * 3] = clamp8(l + CR_R[r]);
    out[i * 3 + 1] = clamp8(l + Math.floor((CB_G[b] + CR_G[r]) / (1 << SCALEBITS)));
    out[i * 3 + 2] = clamp8(l + CB_B[b]);
  }
}

function hasEndMarker(bytes: Uint8Array): boolean {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0x00) end--; // some writers pad with zeros
  return end >= 2 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

/** Decode a JPEG whose header has already been validated. Returns interleaved RGB. */
export function decodeJpegPixels(name: string, bytes: Uint8Array, header: JpegHeader): Uint8Array {
  const { width, height, components } = header;
  // A JPEG without its end-of-image marker is truncated; PIL refuses those too.
  if (!hasEndMarker(bytes)) throw new ImageError(name, 'truncated JPEG (no end-of-image marker)');
  const isRgbIds = components.length === 3 && components[0].id === 0x52 && components[1].id === 0x47 && components[2].id === 0x42;
  const ycc = header.adobeTransform !== null ? header.adobeTransform !== 0 : !isRgbIds;
  const maxH = Math.max(...components.map((c) => c.h));
  const maxV = Math.max(...components.map((c) => c.v));
  const chromaFactors = components.slice(1).map((c) => [maxH / c.h, maxV / c.v]);
  const lumaFull = components.length === 3 && components[0].h === maxH && components[0].v === maxV;
  const sameChroma = chromaFactors.length === 2 && chromaFactors[0][0] === chromaFactors[1][0] && chromaFactors[0][1] === chromaFactors[1][1];
  const [fx, fy] = chromaFactors[0] ?? [1, 1];
  const supported = (fx === 1 && fy === 1) || (fx === 2 && fy === 1) || (fx === 2 && fy === 2);
  // jpeg-js forces its own colour transform when an Adobe segment asks for one,
  // so raw planes are only available without it.
  const rebuild = lumaFull && sameChroma && supported && ycc && header.adobeTransform === null;

  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      colorTransform: rebuild ? false : undefined,
      tolerantDecoding: false,
      maxResolutionInMP: 100,
      maxMemoryUsageInMB: 2048,
    });
  } catch (err) {
    throw new ImageError(name, `broken JPEG (${err instanceof Error ? err.message : String(err)})`);
  }
  if (decoded.width !== width || decoded.height !== height || decoded.data.length !== width * height * 3) {
    throw new ImageError(name, 'broken JPEG (decoded size does not match the header)');
  }
  if (!rebuild) return decoded.data; // grayscale, RGB, CMYK or unusual sampling: jpeg-js as is

  const raw = decoded.data;
  const n = width * height;
  const luma = new Uint8Array(n);
  for (let i = 0; i < n; i++) luma[i] = raw[i * 3];
  const chroma = [1, 2].map((channel) => {
    if (fx === 1 && fy === 1) {
      const plane = new Int32Array(n);
      for (let i = 0; i < n; i++) plane[i] = raw[i * 3 + channel];
      return plane;
    }
    const { plane, w, h } = subsampledPlane(raw, width, height, channel, fx, fy);
    return fancyUpsample(plane, w, h, fy, width, height);
  });
  const rgb = new Uint8Array(n * 3);
  yccToRgb(luma, chroma[0], chroma[1], rgb);
  return rgb;
}
