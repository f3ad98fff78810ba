// Node: masks as files — one grayscale PNG per object and an overlay of all of them on the image
// (or a white canvas of its size) — and where the mask decoder file is looked for.

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encode } from 'fast-png';
import { MASK_DECODER_FILE } from '../graph/mask-decoder.js';
import type { RgbImage } from '../image/decode.js';
import { overlayMasks } from '../image/overlay.js';
import type { ObjectMask } from '../masks.js';
import { cacheDir } from './demo-model.js';

/** `vae-oid.npz` in the model folder, then in the cache folder; undefined when neither has it. */
export function findMaskDecoderFile(modelDir?: string): string | undefined {
  const candidates = [...(modelDir ? [join(modelDir, MASK_DECODER_FILE)] : []), join(cacheDir(), MASK_DECODER_FILE)];
  return candidates.find((f) => existsSync(f));
}

/** Where to get the decoder file, for the one-line note printed when it is missing. */
export function maskDecoderHint(modelDir?: string): string {
  const where = [...(modelDir ? [modelDir] : []), cacheDir()].join(' or ');
  return `no mask decoder: put ${MASK_DECODER_FILE} (gs://big_vision/paligemma/vae-oid.npz, also in the Hugging Face Space google/paligemma-hf) in ${where}, or pass --vae FILE`;
}

/** PNG bytes of an RGB image or an 8-bit gray one. */
export function pngBytes(width: number, height: number, data: Uint8Array, channels: 1 | 3): Uint8Array {
  return encode({ width, height, data, channels, depth: 8 });
}

/** Writes mask-<i>.png per object and overlay.png into dir (made if needed); returns the paths. */
export async function writeMaskPngs(dir: string, masks: readonly ObjectMask[], size: { width: number; height: number }, image?: RgbImage): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [i, m] of masks.entries()) {
    const file = join(dir, `mask-${i}.png`);
    await writeFile(file, pngBytes(size.width, size.height, m.mask, 1));
    written.push(file);
  }
  const overlay = overlayMasks(image ?? size, masks);
  const file = join(dir, 'overlay.png');
  await writeFile(file, pngBytes(overlay.width, overlay.height, overlay.rgb, 3));
  written.push(file);
  return written;
}
