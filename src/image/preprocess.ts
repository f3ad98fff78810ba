// SigLIP/PaliGemma image preprocessing as HF transformers 4.x does it
// (SiglipImageProcessor, spec §4.3): PIL bicubic resize of the uint8 image to
// size x size ignoring the aspect ratio, rescale in float64 then cast to float32,
// normalise in float32, channels-first RGB.
import { resizeBicubic } from './resize.js';

export interface PreprocessOptions {
  /** Per-channel mean, RGB. preprocessor_config.json `image_mean`. */
  mean?: readonly [number, number, number];
  /** Per-channel std, RGB. preprocessor_config.json `image_std`. */
  std?: readonly [number, number, number];
  /** preprocessor_config.json `rescale_factor` (1/255). */
  rescale?: number;
}

export const DEFAULT_IMAGE_MEAN = [0.5, 0.5, 0.5] as const;
export const DEFAULT_IMAGE_STD = [0.5, 0.5, 0.5] as const;
/** The literal HF writes into preprocessor_config.json; equal to 1 / 255 as a double. */
export const DEFAULT_RESCALE_FACTOR = 0.00392156862745098;

/**
 * Turn interleaved 8-bit RGB (width x height) into the model input:
 * Float32Array of shape [3, size, size].
 */
export function preprocessImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  size: number,
  options: PreprocessOptions = {},
): Float32Array {
  const mean = options.mean ?? DEFAULT_IMAGE_MEAN;
  const std = options.std ?? DEFAULT_IMAGE_STD;
  const rescale = options.rescale ?? DEFAULT_RESCALE_FACTOR;
  const resized = resizeBicubic(rgb, width, height, size, size, 3);

  // HF: rescale = (u8 as float64) * factor, cast to float32; normalize casts mean
  // and std to the image dtype (float32) and computes (x - mean) / std in float32.
  // Each step is one correctly rounded float32 op, which Math.fround reproduces.
  const mean32 = mean.map((m) => Math.fround(m));
  const std32 = std.map((s) => Math.fround(s));
  const table = new Float32Array(256 * 3);
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 256; v++) {
      const x = Math.fround(v * rescale);
      table[c * 256 + v] = Math.fround(x - mean32[c]) / std32[c];
    }
  }

  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = table[resized[i * 3]];
    out[plane + i] = table[256 + resized[i * 3 + 1]];
    out[2 * plane + i] = table[512 + resized[i * 3 + 2]];
  }
  return out;
}
