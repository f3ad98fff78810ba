// Image decoding for PNG and JPEG, pure JavaScript so that the same code runs
// in Node and in the browser bundle:
//  - PNG: fast-png (inflate through fflate; no Node zlib/Buffer/streams, which
//    rules out pngjs for the browser build),
//  - JPEG: our own decoder, bit-exact with libjpeg-turbo's defaults as PIL
//    uses them (islow IDCT, fancy upsampling; see jpeg.ts).
// Every decoded image is converted to 8-bit RGB the way PIL's convert('RGB')
// does for the common modes (alpha dropped, not composited).
import { decode as decodePngFile } from 'fast-png';
import type { DecodedPng } from 'fast-png';
import { ImageError } from './errors.js';
import { decodeJpeg as decodeJpegFile } from './jpeg.js';

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, row-major, length width * height * 3. */
  rgb: Uint8Array;
}

/** Refuse sides above this before allocating anything (same order as WebGPU texture limits). */
export const MAX_IMAGE_SIDE = 16384;
/** Refuse images above this many pixels (PIL's decompression-bomb error threshold is ~179 MP). */
export const MAX_IMAGE_PIXELS = 100_000_000;

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'tiff';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

/** Identify the container by its magic bytes (the file name is not trusted). */
export function detectImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x47, 0x49, 0x46, 0x38])) return 'gif';
  if (startsWith(bytes, [0x52, 0x49, 0x46, 0x46]) && startsWith(bytes, [0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  if (startsWith(bytes, [0x42, 0x4d])) return 'bmp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  return null;
}

function checkDimensions(name: string, width: number, height: number): void {
  if (width === 0 || height === 0) throw new ImageError(name, `image has zero size (${width}x${height})`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new ImageError(name, `image is too large (${width}x${height}; at most ${MAX_IMAGE_SIDE} pixels per side)`);
  }
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageError(name, `image is too large (${width}x${height} = ${width * height} pixels; at most ${MAX_IMAGE_PIXELS})`);
  }
}

/** Width/height from the PNG IHDR chunk, read before any decompression. */
function pngHeaderSize(name: string, bytes: Uint8Array): { width: number; height: number } {
  // signature(8) + length(4) + "IHDR"(4) + width(4) + height(4)
  if (bytes.length < 24 || !startsWith(bytes, [0x49, 0x48, 0x44, 0x52], 12)) {
    throw new ImageError(name, 'broken PNG: missing IHDR header');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * Read a sample of the given bit depth as 0..255. 16-bit samples keep their high
 * byte, as PIL's RGB;16B/LA;16B unpackers do. (PIL opens 16-bit gray as mode
 * I;16 whose convert('RGB') clips at 255, turning most images white; we take the
 * high byte instead, which is what a user expects.)
 */
function sampleReader(data: Uint8Array | Uint8ClampedArray | Uint16Array, depth: number, width: number, samplesPerPixel: number): (row: number, index: number) => number {
  if (depth === 8) return (row, index) => data[row * width * samplesPerPixel + index];
  if (depth === 16) return (row, index) => data[row * width * samplesPerPixel + index] >> 8;
  // Sub-byte depths stay packed by fast-png, each row padded to whole bytes.
  const rowBytes = Math.ceil((depth * samplesPerPixel * width) / 8);
  const mask = (1 << depth) - 1;
  return (row, index) => {
    const bit = index * depth;
    const byte = data[row * rowBytes + (bit >> 3)];
    return (byte >> (8 - depth - (bit & 7))) & mask;
  };
}

function pngToRgb(name: string, png: DecodedPng): Uint8Array {
  const { width, height, depth, channels } = png;
  const out = new Uint8Array(width * height * 3);
  const read = sampleReader(png.data, depth, width, channels);
  if (png.palette) {
    const palette = png.palette;
    let o = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const color = palette[read(y, x)];
        if (color === undefined) throw new ImageError(name, 'broken PNG: palette index out of range');
        out[o++] = color[0];
        out[o++] = color[1];
        out[o++] = color[2];
      }
    }
    return out;
  }
  // Gray of depth 1/2/4 is scaled to the full 0..255 range (PIL: "1" and "L;2"/"L;4" modes).
  const scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const base = x * channels;
      if (channels <= 2) {
        const v = read(y, base) * scale;
        out[o++] = v;
        out[o++] = v;
        out[o++] = v;
      } else {
        out[o++] = read(y, base);
        out[o++] = read(y, base + 1);
        out[o++] = read(y, base + 2);
      }
    }
  }
  return out;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function decodePng(name: string, bytes: Uint8Array): RgbImage {
  const { width, height } = pngHeaderSize(name, bytes);
  checkDimensions(name, width, height);
  let png: DecodedPng;
  try {
    // CRC checking makes corrupted chunks fail like PIL does instead of decoding garbage.
    png = decodePngFile(bytes, { checkCrc: true });
  } catch (err) {
    throw new ImageError(name, `broken or truncated PNG (${describe(err)})`);
  }
  const expected = png.palette || png.depth < 8 ? undefined : width * height * png.channels;
  if (expected !== undefined && png.data.length !== expected) {
    throw new ImageError(name, 'broken or truncated PNG (pixel data has the wrong size)');
  }
  return { width, height, rgb: pngToRgb(name, png) };
}

function decodeJpeg(name: string, bytes: Uint8Array): RgbImage {
  return decodeJpegFile(name, bytes, (width, height) => checkDimensions(name, width, height));
}

/**
 * Decode PNG or JPEG bytes to 8-bit RGB. `name` is only used in error messages.
 * EXIF orientation is ignored, as in HF's processor (PIL does not rotate on open).
 */
export function decodeImage(bytes: Uint8Array, name: string): RgbImage {
  if (bytes.length === 0) throw new ImageError(name, 'file is empty');
  const format = detectImageFormat(bytes);
  switch (format) {
    case 'png':
      return decodePng(name, bytes);
    case 'jpeg':
      return decodeJpeg(name, bytes);
    case null:
      throw new ImageError(name, 'unknown image format (expected PNG or JPEG)');
    default:
      throw new ImageError(name, `unsupported image format ${format.toUpperCase()} (expected PNG or JPEG)`);
  }
}
