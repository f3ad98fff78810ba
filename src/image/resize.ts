// Bit-exact port of Pillow's 8-bit BICUBIC resampling (src/libImaging/Resample.c:
// bicubic_filter, precompute_coeffs, normalize_coeffs_8bpc,
// ImagingResampleHorizontal_8bpc / Vertical_8bpc, ImagingResampleInner).
// HF's SiglipImageProcessor (transformers 4.x) resizes with PIL bicubic on the
// uint8 image, so matching it bit for bit makes our pixel_values identical to HF's.

/** Pillow: 8 bits for the result, 2 for overflow of negative lobes, sign bit. */
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Keys' cubic convolution kernel with a = -0.5 (support 2). */
function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  /** Coefficient slots per output sample. */
  ksize: number;
  /** Per output sample: first input index, then number of inputs used. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output sample (unused slots are 0). */
  weights: Int32Array;
}

/**
 * precompute_coeffs + normalize_coeffs_8bpc for the full-image box [0, inSize).
 * All float math is double as in C; C's (int) casts truncate toward zero.
 */
function precomputeCoefficients(inSize: number, outSize: number): Coefficients {
  const filterSupport = 2;
  const scale = inSize / outSize;
  // Downscaling widens the kernel (antialiasing); upscaling keeps it at 1 pixel.
  const filterscale = scale < 1 ? 1 : scale;
  const support = filterSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubicFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const normalized = ww !== 0 ? k[x] / ww : k[x];
      // normalize_coeffs_8bpc: round half away from zero, then truncate.
      weights[xx * ksize + x] = normalized < 0 ? Math.trunc(-0.5 + normalized * ONE) : Math.trunc(0.5 + normalized * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

/**
 * clip8: C's `ss >> PRECISION_BITS` is an arithmetic shift (floor) followed by a
 * clamp to 0..255. The sums stay far below 2^53, so doubles hold them exactly.
 */
function clip8(ss: number): number {
  const v = Math.floor(ss / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over rows [rowStart, rowStart + rows) of the source. */
function resampleHorizontal(
  src: Uint8Array,
  srcWidth: number,
  rowStart: number,
  rows: number,
  channels: number,
  outWidth: number,
  c: Coefficients,
): Uint8Array {
  const out = new Uint8Array(outWidth * rows * channels);
  const acc = new Float64Array(channels);
  for (let yy = 0; yy < rows; yy++) {
    const rowBase = (yy + rowStart) * srcWidth * channels;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = c.bounds[xx * 2];
      const xmax = c.bounds[xx * 2 + 1];
      const kBase = xx * c.ksize;
      acc.fill(HALF);
      for (let x = 0; x < xmax; x++) {
        const w = c.weights[kBase + x];
        const p = rowBase + (x + xmin) * channels;
        for (let ch = 0; ch < channels; ch++) acc[ch] += src[p + ch] * w;
      }
      const o = (yy * outWidth + xx) * channels;
      for (let ch = 0; ch < channels; ch++) out[o + ch] = clip8(acc[ch]);
    }
  }
  return out;
}

/** Vertical pass; `rowOffset` is subtracted from the bounds (Pillow's ybox shift). */
function resampleVertical(
  src: Uint8Array,
  width: number,
  rowOffset: number,
  channels: number,
  outHeight: number,
  c: Coefficients,
): Uint8Array {
  const out = new Uint8Array(width * outHeight * channels);
  const acc = new Float64Array(channels);
  const stride = width * channels;
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = c.bounds[yy * 2] - rowOffset;
    const ymax = c.bounds[yy * 2 + 1];
    const kBase = yy * c.ksize;
    for (let xx = 0; xx < width; xx++) {
      acc.fill(HALF);
      for (let y = 0; y < ymax; y++) {
        const w = c.weights[kBase + y];
        const p = (y + ymin) * stride + xx * channels;
        for (let ch = 0; ch < channels; ch++) acc[ch] += src[p + ch] * w;
      }
      const o = yy * stride + xx * channels;
      for (let ch = 0; ch < channels; ch++) out[o + ch] = clip8(acc[ch]);
    }
  }
  return out;
}

/**
 * Resize interleaved 8-bit pixels (default RGB) with PIL's Image.resize(size, BICUBIC).
 * Like ImagingResampleInner: horizontal pass first (only over the source rows the
 * vertical pass reads), rounding to uint8, then the vertical pass; a pass is
 * skipped when that axis keeps its size.
 */
export function resizeBicubic(
  src: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  channels = 3,
): Uint8Array {
  for (const [label, v] of [['width', width], ['height', height], ['outWidth', outWidth], ['outHeight', outHeight]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`resizeBicubic: ${label} must be a positive integer, got ${v}`);
  }
  if (src.length !== width * height * channels) {
    throw new RangeError(`resizeBicubic: expected ${width * height * channels} bytes for ${width}x${height}x${channels}, got ${src.length}`);
  }
  const needHorizontal = outWidth !== width;
  const needVertical = outHeight !== height;
  if (!needHorizontal && !needVertical) return src.slice();

  const vertical = precomputeCoefficients(height, outHeight);
  const yboxFirst = vertical.bounds[0];
  const yboxLast = vertical.bounds[outHeight * 2 - 2] + vertical.bounds[outHeight * 2 - 1];

  let image = src;
  let rowOffset = 0;
  if (needHorizontal) {
    const horizontal = precomputeCoefficients(width, outWidth);
    image = resampleHorizontal(src, width, yboxFirst, yboxLast - yboxFirst, channels, outWidth, horizontal);
    rowOffset = yboxFirst;
  }
  if (!needVertical) return image;
  return resampleVertical(image, outWidth, rowOffset, channels, outHeight, vertical);
}
