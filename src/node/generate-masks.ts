// Masks for `paligemma generate`: when a request is a segment prompt, its objects' codewords go
// through the mask decoder (--vae, else vae-oid.npz beside the model, else in the cache folder);
// without a decoder file a one-line note says where it comes from instead of failing.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gpu } from '../device.js';
import { MaskDecoder } from '../graph/mask-decoder.js';
import { decodeMasks, type ObjectMask } from '../masks.js';
import { imagesOf, type Request, type Result } from '../pipeline.js';
import { findMaskDecoderFile, maskDecoderHint, pngBytes, writeMaskPngs } from './mask-files.js';

export interface GenerateMasksOptions {
  /** The decoder file; default: findMaskDecoderFile(modelDir). */
  vae?: string;
  modelDir?: string;
  /** Write mask PNGs and the overlay on the input image here (a subfolder per request in a batch). */
  masksOut?: string;
}

export interface GenerateMasks {
  /** Per result: its segments' masks, in the order of result.segmentations; undefined without a decoder. */
  masks: ObjectMask[][] | undefined;
  /** Set when masks were wanted but no decoder file was found. */
  note?: string;
  /** PNG files written. */
  files: string[];
}

const isSegment = (r: Request) => (r.prompt ?? '').trimStart().split(/\s+/, 1)[0] === 'segment';

export async function generateMasks(gpu: Gpu, requests: readonly Request[], results: readonly Result[], o: GenerateMasksOptions): Promise<GenerateMasks> {
  if (!requests.some(isSegment)) return { masks: undefined, files: [] };
  const file = o.vae ?? findMaskDecoderFile(o.modelDir);
  if (!file) return { masks: undefined, note: maskDecoderHint(o.modelDir), files: [] };
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new Error(`cannot read the mask decoder ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const decoder = await MaskDecoder.fromNpz(gpu, file, bytes);
  try {
    const masks: ObjectMask[][] = [];
    const files: string[] = [];
    for (const [i, r] of results.entries()) {
      // Boxes and masks are in the first image's pixels (Pipeline.results).
      const image = imagesOf(requests[i]!.image)[0]!;
      const { width, height } = image;
      masks.push(await decodeMasks(decoder, r.segmentations, width, height));
      if (o.masksOut && isSegment(requests[i]!)) {
        const dir = requests.length > 1 ? join(o.masksOut, `request-${i}`) : o.masksOut;
        files.push(...(await writeMaskPngs(dir, masks[i]!, { width, height }, image)));
      }
    }
    return { masks, files };
  } finally {
    decoder.destroy();
  }
}

/** A segment as `generate --json` prints it: box in whole pixels, the mask as a base64 PNG and its area. */
export function segmentJson(m: ObjectMask, width: number, height: number) {
  return {
    label: m.label,
    box: { x1: m.box.x1, y1: m.box.y1, x2: m.box.x2, y2: m.box.y2 },
    codewords: m.codewords,
    mask: { png_base64: Buffer.from(pngBytes(width, height, m.mask, 1)).toString('base64'), area: m.area },
  };
}
