// Images in the page: decoded with the same pure-JS decoders as Node (src/image/decode.ts), so the
// model sees the very pixels the CLI would; formats those decoders lack fall back to the browser's.

import { decodeImage, type RgbImage } from '../src/image/decode.js';

export interface PageImage {
  image: RgbImage;
  name: string;
  /** Set when the browser decoded it (its colour handling may differ slightly from the CLI's). */
  note?: string;
}

export async function readImage(blob: Blob, name: string): Promise<PageImage> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  try {
    return { image: decodeImage(bytes, name), name };
  } catch (e) {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(blob);
    } catch {
      throw e; // neither decoder can read it: the first error says why
    }
    return { image: drawnImage(bitmap, bitmap.width, bitmap.height), name, note: 'decoded by the browser (not the CLI decoder)' };
  }
}

/** The RGB pixels of anything a canvas can draw (a bitmap, a video's current frame), alpha dropped. */
export function drawnImage(source: CanvasImageSource, width: number, height: number): RgbImage {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(source, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) rgb.set(rgba.subarray(i, i + 3), j);
  return { width, height, rgb };
}

/** Draws the RGB pixels at their own size; the canvases of the stage are sized to match. */
export function drawImage(canvases: HTMLCanvasElement[], img: RgbImage): void {
  for (const c of canvases) {
    c.width = img.width;
    c.height = img.height;
  }
  const data = new ImageData(img.width, img.height);
  for (let i = 0, j = 0; j < img.rgb.length; i += 4, j += 3) {
    data.data[i] = img.rgb[j]!;
    data.data[i + 1] = img.rgb[j + 1]!;
    data.data[i + 2] = img.rgb[j + 2]!;
    data.data[i + 3] = 255;
  }
  canvases[0]!.getContext('2d')!.putImageData(data, 0, 0);
}
