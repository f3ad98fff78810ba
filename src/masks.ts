// Segmentation masks from model text: <seg> codewords → the VQ-VAE decoder's 64×64 output → a
// uint8 mask of the image's size, exactly as the official PaliGemma demo's extract_objs pastes it
// (fixture vae-oid-random-seed0/README.md): box y1 = round(Y1 / 1024 · H) etc. (half to even),
// m = uint8(trunc(clip(mask64 · 0.5 + 0.5, 0, 1) · 255)) in float32, resized into the box with
// PIL's bicubic filter; 0 outside the box and for boxes without area.

import type { MaskDecoder } from './graph/mask-decoder.js';
import { resizeBicubic } from './image/resize.js';
import { parseSegmentations, type Box, type ParseOptions, type Segmentation } from './tasks.js';

/** A box in whole pixels: columns x1..x2−1, rows y1..y2−1 (numpy's mask[y1:y2, x1:x2]). */
export interface PixelBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface ObjectMask {
  label: string;
  box: PixelBox;
  codewords: number[];
  /** The decoder's raw output, maskSize² floats (about [-1, 1]). */
  mask64: Float32Array;
  /** height × width, 0..255 (row-major). */
  mask: Uint8Array;
  /** Pixels of `mask` above 127 (decoder output above 0). */
  area: number;
}

/** Python's round(): half to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Rounds a parsed box (pixels, from parseSegmentations) like the demo, kept inside the image. */
export function pixelBox(box: Box, width: number, height: number): PixelBox {
  const clamp = (v: number, hi: number) => Math.min(Math.max(roundHalfEven(v), 0), hi);
  return { x1: clamp(box.x0, width), y1: clamp(box.y0, height), x2: clamp(box.x1, width), y2: clamp(box.y1, height) };
}

/** The demo's 8-bit version of a raw decoder output, computed in float32 like numpy does. */
export function maskToUint8(mask64: Float32Array): Uint8Array {
  const out = new Uint8Array(mask64.length);
  for (let i = 0; i < mask64.length; i++) {
    const v = Math.min(Math.max(Math.fround(mask64[i]! * 0.5 + 0.5), 0), 1);
    out[i] = Math.trunc(Math.fround(v * 255));
  }
  return out;
}

/** A width × height uint8 mask: the raw mask resized (PIL bicubic) into its box, 0 elsewhere. */
export function pasteMask(mask64: Float32Array, box: PixelBox, width: number, height: number): Uint8Array {
  const side = Math.sqrt(mask64.length);
  if (!Number.isInteger(side)) throw new RangeError(`pasteMask: a square mask is needed, got ${mask64.length} values`);
  const out = new Uint8Array(width * height);
  const bw = box.x2 - box.x1;
  const bh = box.y2 - box.y1;
  if (bw <= 0 || bh <= 0) return out;
  const resized = resizeBicubic(maskToUint8(mask64), side, side, bw, bh, 1);
  for (let y = 0; y < bh; y++) out.set(resized.subarray(y * bw, (y + 1) * bw), (box.y1 + y) * width + box.x1);
  return out;
}

/** Decodes the masks of parsed segments (all in one batched decoder pass) and pastes them. */
export async function decodeMasks(decoder: MaskDecoder, segments: readonly Segmentation[], width: number, height: number): Promise<ObjectMask[]> {
  const plane = decoder.maskSize * decoder.maskSize;
  const raw = await decoder.decode(segments.map((s) => s.codewords));
  return segments.map((s, i) => {
    const mask64 = raw.slice(i * plane, (i + 1) * plane);
    const box = pixelBox(s.box, width, height);
    const mask = pasteMask(mask64, box, width, height);
    let area = 0;
    for (const v of mask) if (v > 127) area++;
    return { label: s.label, box, codewords: s.codewords, mask64, mask, area };
  });
}

/**
 * Model text → masks: every object with 4 <loc> and 16 <seg> tokens, including boxes without area
 * (their mask is all zero, as in the demo).
 */
export function textToMasks(decoder: MaskDecoder, text: string, width: number, height: number, options: ParseOptions = {}): Promise<ObjectMask[]> {
  return decodeMasks(decoder, parseSegmentations(text, width, height, { keepEmptyBoxes: true, ...options }), width, height);
}
