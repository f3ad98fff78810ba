// Helpers for the loader tests: build safetensors files in memory and read fixture folders.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from '../src/device.js';
import { BLOCK_TEXELS, textureRowStride, weightTexture } from '../src/kernels/weight-texture.js';
import { MemoryFileSource } from '../src/loader/memory-source.js';
import { matrixShape, type GpuWeight } from '../src/weights.js';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const fixtureDir = (name: string) => join(FIXTURES, name, 'checkpoint');

export interface RawTensor { dtype: string; shape: number[]; data: Uint8Array }

/** A safetensors file laid out like the HF writer (sorted, contiguous, header padded to 8). */
export function buildSafetensors(tensors: Record<string, RawTensor>, metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const n of names) {
    const t = tensors[n]!;
    header[n] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  return assemble(JSON.stringify(header), names.map((n) => tensors[n]!.data));
}

/** prefix + header text (padded to 8) + data parts, for hand-written (possibly broken) headers. */
export function assemble(headerText: string, parts: Uint8Array[] = [], pad = true): Uint8Array {
  let h = new TextEncoder().encode(headerText);
  if (pad && h.length % 8) h = new TextEncoder().encode(headerText + ' '.repeat(8 - (h.length % 8)));
  const dataLen = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(8 + h.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let o = 8 + h.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Every file of a fixture checkpoint folder, in memory. */
export function readFolder(dir: string): Map<string, Uint8Array | string> {
  const files = new Map<string, Uint8Array | string>();
  for (const f of readdirSync(dir)) {
    const bytes = readFileSync(join(dir, f));
    files.set(f, f.endsWith('.json') ? bytes.toString('utf8') : new Uint8Array(bytes));
  }
  return files;
}

export function memorySource(files: Map<string, Uint8Array | string>, name = 'mem'): MemoryFileSource {
  return new MemoryFileSource(name, files);
}

/** Seeded bytes. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

/** All tensors of a fixture checkpoint (any layout), by their on-disk names. */
export function fixtureTensors(dir: string): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.safetensors'))) {
    const bytes = new Uint8Array(readFileSync(join(dir, f)));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    for (const [name, e] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      out[name] = { dtype: e.dtype, shape: e.shape, data: bytes.slice(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]) };
    }
  }
  return out;
}

/** A single-file checkpoint folder (in memory) from a config text and tensors. */
export function singleFileCheckpoint(configText: string, tensors: Record<string, RawTensor>): Map<string, Uint8Array | string> {
  return new Map<string, Uint8Array | string>([
    ['config.json', configText],
    ['model.safetensors', buildSafetensors(tensors)],
  ]);
}

/** Every row of a weight texture as stored: N rows of W·16 bytes (texels), gathered from its column blocks. */
async function textureRows(gpu: Gpu, w: GpuWeight): Promise<Uint8Array[]> {
  const wt = weightTexture(w)!;
  const { width, depthOrArrayLayers: layers } = wt.texture;
  const stride = textureRowStride(width);
  const dst = gpu.buffer(layers * wt.H * stride, 'texture readback');
  const enc = gpu.device.createCommandEncoder();
  enc.copyTextureToBuffer({ texture: wt.texture }, { buffer: dst, bytesPerRow: stride, rowsPerImage: wt.H }, [width, wt.H, layers]);
  gpu.device.queue.submit([enc.finish()]);
  const all = new Uint8Array(await gpu.read(dst));
  dst.destroy();
  return Array.from({ length: w.shape[0]! }, (_, n) => {
    const row = new Uint8Array(wt.W * 16);
    for (let t = 0; t < wt.W; t += BLOCK_TEXELS) {
      const layer = (t / BLOCK_TEXELS) * wt.L + Math.floor(n / wt.H);
      const at = (layer * wt.H + (n % wt.H)) * stride;
      row.set(all.subarray(at, at + Math.min(BLOCK_TEXELS, wt.W - t) * 16), t * 16);
    }
    return row;
  });
}

/**
 * A loaded weight's bf16 bytes in row-major order, from its buffer shards (padding dropped) or,
 * for a weight texture, from each row's texels.
 */
export async function gpuWeightBytes(gpu: Gpu, w: GpuWeight): Promise<Uint8Array> {
  const rowBytes = matrixShape(w.shape)[1] * 2;
  const N = w.shape.length === 0 ? 1 : w.shape[0]!;
  const out = new Uint8Array(Math.max(N * rowBytes, 2));
  if (!weightTexture(w)) {
    for (const s of w.shards) out.set(new Uint8Array(await gpu.read(s.buffer, 0, Math.max(2, s.rows * rowBytes))), s.rowStart * rowBytes);
    return out;
  }
  (await textureRows(gpu, w)).forEach((row, n) => out.set(row.subarray(0, rowBytes), n * rowBytes));
  return out;
}

/** The bytes of a weight texture past each row's K elements (the padding of its last texel), all rows together. */
export async function textureRowPads(gpu: Gpu, w: GpuWeight): Promise<Uint8Array> {
  const rowBytes = matrixShape(w.shape)[1] * 2;
  const rows = await textureRows(gpu, w);
  const out = new Uint8Array(rows.length * (rows[0]!.length - rowBytes));
  rows.forEach((row, n) => out.set(row.subarray(rowBytes), n * (row.length - rowBytes)));
  return out;
}
