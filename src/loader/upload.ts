import { toBf16InPlace } from './bf16.js';
import { CheckpointError } from './errors.js';
import type { PlannedTensor } from './layout.js';
import { quantizeRows } from './quantize.js';
import { readIntoTarget, type FileSource } from './source.js';
import { quietly } from '../quiet-wait.js';
import { matrixShape, rowBytes, type GpuWeight, type LoadFormat, type WeightFormat, type WeightShard } from '../weights.js';
import { copyWeightRows, createWeightTexture, textureRowStride, texelsPerRow, weightTexture, type WeightTexture } from '../kernels/weight-texture.js';

// Weights are stored as raw bf16 words, or as rows of int8 / int4 codes and scales quantized while
// they stream (quantize.ts), split along dim 0 into shards that each fit one storage binding; the
// type is shared with the kernels (src/weights.ts).
export type { GpuWeight, WeightShard } from '../weights.js';

/** A tensor to load and the format it takes on the GPU. */
export interface LoadTensor extends PlannedTensor {
  format: LoadFormat;
}

export interface LoadProgress {
  bytesDone: number;
  bytesTotal: number;
  mbPerSec: number;
  tensor: string;
}

// GPUBufferUsage STORAGE | COPY_DST | COPY_SRC, MAP_WRITE | COPY_SRC and GPUMapMode.WRITE. The
// numbers are fixed by the WebGPU spec; using them directly keeps this module importable before
// Node's WebGPU globals exist.
export const GPU_USAGE = 0x80 | 0x08 | 0x04;
const STAGING_USAGE = 0x02 | 0x04;
const MAP_WRITE = 0x02;

/** Rows per shard for a tensor (all rows when it fits one binding). Throws before allocating. */
export function rowsPerShard(t: { name: string; file: string; shape: number[]; format?: WeightFormat }, maxBindingBytes: number): number {
  const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
  const bytes = rowBytes(t.format ?? 'bf16', matrixShape(t.shape)[1]);
  if (rows * bytes <= maxBindingBytes) return Math.max(rows, 1);
  const perShard = Math.floor(maxBindingBytes / bytes);
  if (perShard === 0) {
    throw new CheckpointError(t.file, `tensor ${t.name}: one row of ${bytes} bytes exceeds the storage binding limit of ${maxBindingBytes} bytes`);
  }
  return perShard;
}

/**
 * Bytes one row of a tensor takes in a staging buffer: its file bytes, or more its GPU row (at its
 * copy stride into a texture).
 */
function stagingRowBytes(t: LoadTensor, texture: boolean): number {
  const K = matrixShape(t.shape)[1];
  return Math.max(K * (t.dtype === 'F32' ? 4 : 2), texture ? textureRowStride(texelsPerRow(t.format, K)) : rowBytes(t.format, K));
}

/**
 * Most rows a texture layer of `t` may have for one staging buffer to fill the layer in one copy
 * (WebGPU clears a texture layer before a copy that fills only part of it, on the CPU in Dawn).
 */
export function textureLayerRows(t: LoadTensor, stagingBytes: number): number {
  return Math.floor(stagingBytes / stagingRowBytes(t, true));
}

/**
 * Allocate the shard buffers of one tensor in its format (sizes padded to 4 bytes), or with
 * `textureRows` its rgba32uint weight texture with at most that many rows per layer
 * (kernels/weight-texture.ts; no shards), for tensors that fitsTexture.
 */
export function allocateWeight(device: GPUDevice, t: LoadTensor, maxBindingBytes: number, textureRows?: number): GpuWeight {
  if (textureRows !== undefined) {
    const w: GpuWeight = { name: t.name, shape: t.shape, dtype: t.format, shards: [] };
    createWeightTexture(device, w, textureRows);
    return w;
  }
  const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
  const bytes = rowBytes(t.format, matrixShape(t.shape)[1]);
  const per = rowsPerShard(t, maxBindingBytes);
  const shards: WeightShard[] = [];
  for (let rowStart = 0; rowStart < rows || shards.length === 0; rowStart += per) {
    const n = Math.min(per, rows - rowStart);
    const size = Math.max(4, Math.ceil((n * bytes) / 4) * 4);
    const buffer = device.createBuffer({ label: shards.length ? `${t.name}#${shards.length}` : t.name, size, usage: GPU_USAGE });
    shards.push({ buffer, rows: n, rowStart });
  }
  return { name: t.name, shape: t.shape, dtype: t.format, shards };
}

export interface StreamOptions {
  /** Bytes per staging buffer: the largest chunk of file bytes read at once. */
  stagingBytes: number;
  onProgress?: (p: LoadProgress) => void;
}

interface Chunk {
  tensor: LoadTensor;
  /** The buffer shard it goes to, or else the weight texture (then dstOffset is the first row). */
  shard: WeightShard | undefined;
  texture: WeightTexture | undefined;
  /** Element range within the tensor and byte offset of the first element in the shard. */
  elemStart: number;
  count: number;
  dstOffset: number;
}

/** Cut every tensor into chunks that fit a staging buffer and never cross a shard. */
function* chunks(tensors: LoadTensor[], weights: Map<string, GpuWeight>, stagingBytes: number): Generator<Chunk> {
  for (const t of tensors) {
    const w = weights.get(t.name)!;
    const itemSize = t.dtype === 'F32' ? 4 : 2;
    // An even element count keeps every chunk's bf16 byte size a multiple of 4 (copy rule).
    const maxElems = Math.max(2, Math.floor(stagingBytes / itemSize / 2) * 2);
    const rowElems = matrixShape(t.shape)[1];
    const wt = weightTexture(w);
    if (wt) {
      // Whole layers (allocateWeight made one fit a staging buffer), each row at its copy stride.
      const rows = wt.H * Math.max(1, Math.floor(stagingBytes / (wt.H * stagingRowBytes(t, true))));
      for (let r = 0; r < t.shape[0]!; r += rows) {
        yield { tensor: t, shard: undefined, texture: wt, elemStart: r * rowElems, count: Math.min(rows, t.shape[0]! - r) * rowElems, dstOffset: r };
      }
      continue;
    }
    if (t.format !== 'bf16') {
      // Whole rows: a quantized row is one unit (its scales come from all of it).
      const rows = Math.floor(stagingBytes / stagingRowBytes(t, false));
      const bytes = rowBytes(t.format, rowElems);
      for (const shard of w.shards) {
        for (let r = 0; r < shard.rows; r += rows) {
          yield { tensor: t, shard, texture: undefined, elemStart: (shard.rowStart + r) * rowElems, count: Math.min(rows, shard.rows - r) * rowElems, dstOffset: r * bytes };
        }
      }
      continue;
    }
    for (const shard of w.shards) {
      const first = shard.rowStart * rowElems;
      const total = t.shape.length === 0 ? 1 : shard.rows * rowElems;
      for (let done = 0; done < total; done += maxElems) {
        const count = Math.min(maxElems, total - done);
        yield { tensor: t, shard, texture: undefined, elemStart: first + done, count, dstOffset: done * 2 };
      }
    }
  }
}

/**
 * Stream tensor bytes from the files into their GPU buffers and textures through a ring of
 * mapped staging buffers: the file is read straight into a staging buffer's mapping, converted to
 * bf16 there, and copied on the GPU timeline while the next chunk is read. The staging memory is
 * the same few buffers throughout: nothing is allocated per chunk (on a CPU adapter, writing into
 * freshly allocated memory costs a page fault per 4 KiB, and writeBuffer's own staging is fresh
 * memory for every large write). Returns the number of bytes read.
 */
export async function streamTensors(
  source: FileSource,
  device: GPUDevice,
  tensors: LoadTensor[],
  weights: Map<string, GpuWeight>,
  opts: StreamOptions,
): Promise<number> {
  const size = Math.ceil(opts.stagingBytes / 4) * 4;
  const ring = Array.from({ length: 4 }, (_, i) =>
    device.createBuffer({ label: `load staging ${i}`, size, usage: STAGING_USAGE }),
  );
  const bytesTotal = tensors.reduce((a, t) => a + t.byteLength, 0);
  const started = performance.now();
  let bytesDone = 0;
  // Quantized rows are made here, then copied over the bf16 they came from (at most a staging buffer).
  let quantized: Uint8Array | undefined;

  /** Map a staging buffer, read the chunk into it and lay it out for its copy; returns the bytes to copy. */
  const fill = async (c: Chunk, staging: GPUBuffer): Promise<number> => {
    await quietly(staging.mapAsync(MAP_WRITE));
    const mapped = new Uint8Array(staging.getMappedRange());
    const itemSize = c.tensor.dtype === 'F32' ? 4 : 2;
    await readIntoTarget(source, c.tensor.file, c.tensor.offset + c.elemStart * itemSize, mapped.subarray(0, c.count * itemSize));
    const outBytes = toBf16InPlace(mapped, c.tensor.dtype, c.count);
    const wt = c.texture;
    const f = c.tensor.format;
    let copyBytes: number;
    if (f !== 'bf16') {
      const K = matrixShape(c.tensor.shape)[1];
      const rows = c.count / K;
      const stride = wt ? textureRowStride(wt.W) : rowBytes(f, K);
      quantized ??= new Uint8Array(size);
      quantizeRows(f, new Uint16Array(mapped.buffer, mapped.byteOffset, c.count), rows, K, quantized, stride);
      copyBytes = rows * stride;
      mapped.set(quantized.subarray(0, copyBytes));
    } else if (wt) {
      const rowBytes = 2 * matrixShape(c.tensor.shape)[1];
      const texelBytes = wt.W * 16;
      const stride = textureRowStride(wt.W);
      const rows = outBytes / rowBytes;
      // Spread the rows to their stride, last row first so none is overwritten before it moves;
      // a row that ends inside a texel gets zeros for the rest of it (the pad lies past every
      // row still to move).
      for (let r = rows - 1; r >= 0; r--) {
        if (r > 0 && stride !== rowBytes) mapped.copyWithin(r * stride, r * rowBytes, (r + 1) * rowBytes);
        if (texelBytes !== rowBytes) mapped.fill(0, r * stride + rowBytes, r * stride + texelBytes);
      }
      copyBytes = rows * stride;
    } else {
      // Copies move multiples of 4 bytes: an odd element count (only ever a shard's tail) gets
      // one zero bf16 of padding, which lands in the buffer's own padding.
      copyBytes = Math.ceil(outBytes / 4) * 4;
      mapped.fill(0, outBytes, copyBytes);
    }
    staging.unmap();
    return copyBytes;
  };

  // Two fills in flight: one chunk's file read runs (in another thread) while the previous one is
  // quantized or laid out on this one. Four buffers: one more may still be under its GPU copy.
  const queue: { chunk: Chunk; staging: GPUBuffer; filled: Promise<number> }[] = [];
  const it = chunks(tensors, weights, size);
  let slot = 0;
  const refill = () => {
    while (queue.length < 2) {
      const next = it.next();
      if (next.done) return;
      const filled = fill(next.value, ring[slot]!);
      // Don't leave a prefetch unobserved if we throw before awaiting it.
      filled.catch(() => {});
      queue.push({ chunk: next.value, staging: ring[slot]!, filled });
      slot = (slot + 1) % ring.length;
    }
  };
  try {
    refill();
    while (queue.length) {
      const { chunk: c, staging, filled } = queue[0]!;
      const copyBytes = await filled;
      queue.shift();
      refill();
      const encoder = device.createCommandEncoder();
      if (c.shard) encoder.copyBufferToBuffer(staging, 0, c.shard.buffer, c.dstOffset, copyBytes);
      else copyWeightRows(encoder, staging, c.texture!, c.dstOffset, c.count / matrixShape(c.tensor.shape)[1]);
      device.queue.submit([encoder.finish()]);
      bytesDone += c.count * (c.tensor.dtype === 'F32' ? 4 : 2);
      if (opts.onProgress) {
        const seconds = (performance.now() - started) / 1000;
        opts.onProgress({ bytesDone, bytesTotal, mbPerSec: seconds > 0 ? bytesDone / 1e6 / seconds : 0, tensor: c.tensor.name });
      }
    }
    await quietly(device.queue.onSubmittedWorkDone());
  } finally {
    // A read may still be writing into a mapping: let it end before the buffers go.
    await Promise.all(queue.map((q) => q.filled.catch(() => {})));
    for (const b of ring) b.destroy();
  }
  return bytesDone;
}
