// Masks and boxes drawn over an image in plain RGB pixels (PNG output; the playground draws on a
// canvas with the same colours): each mask blended in its object's colour at up to 50 %, then its
// box outlined.

import type { RgbImage } from './decode.js';
import type { PixelBox } from '../masks.js';

/** Distinct colours for objects, in order (the playground's boxes use the same list). */
export const PALETTE = ['#e8710a', '#1a73e8', '#d93025', '#188038', '#a142f4', '#f9ab00', '#12b5cb', '#e52592'];

/** [r, g, b] of a '#rrggbb' colour. */
export function rgbOf(hex: string): [number, number, number] {
  const v = parseInt(hex.slice(1), 16);
  return [v >> 16, (v >> 8) & 255, v & 255];
}

export interface OverlayObject {
  box: PixelBox;
  /** width × height, 0..255; absent for a box without a mask. */
  mask?: Uint8Array;
}

/** A copy of `base` (or of a white image of its size) with every object's mask and box drawn on it. */
export function overlayMasks(base: RgbImage | { width: number; height: number }, objects: readonly OverlayObject[]): RgbImage {
  const { width, height } = base;
  const rgb = 'rgb' in base ? base.rgb.slice() : new Uint8Array(width * height * 3).fill(255);
  const line = Math.max(1, Math.round(Math.min(width, height) / 200));
  objects.forEach(({ box, mask }, i) => {
    const color = rgbOf(PALETTE[i % PALETTE.length]!);
    if (mask) {
      if (mask.length !== width * height) throw new RangeError(`overlayMasks: mask ${i} has ${mask.length} pixels, the image ${width}×${height}`);
      for (let p = 0; p < mask.length; p++) {
        const alpha = (0.5 * mask[p]!) / 255;
        if (alpha === 0) continue;
        for (let c = 0; c < 3; c++) rgb[p * 3 + c] = Math.round(rgb[p * 3 + c]! * (1 - alpha) + color[c]! * alpha);
      }
    }
    if (box.x2 <= box.x1 || box.y2 <= box.y1) return;
    const paint = (x: number, y: number) => {
      if (x < 0 || y < 0 || x >= width || y >= height) return;
      rgb.set(color, (y * width + x) * 3);
    };
    for (let t = 0; t < line; t++) {
      for (let x = box.x1; x < box.x2; x++) (paint(x, box.y1 + t), paint(x, box.y2 - 1 - t));
      for (let y = box.y1; y < box.y2; y++) (paint(box.x1 + t, y), paint(box.x2 - 1 - t, y));
    }
  });
  return { width, height, rgb };
}
