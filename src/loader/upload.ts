import { toBf16InPlace } from './bf16.js';
import { CheckpointError } from './errors.js';
import type { PlannedTensor } from './layout.js';
import { readIntoTarget, type FileSource } from './source.js';
import { quietly } from '../quiet-wait.js';
import type { GpuWeight, WeightShard } from '../weights.js';
import { createWeightTexture, weightTexture, writeWeightRows } from '../kernels/weight-texture.js';

// Weights are stored as raw bf16 words, split along dim 0 into shards that each fit one
// storage binding; the type is shared with the kernels (src/weights.ts).
export type { GpuWeight, WeightShard } from '../weights.js';

export interface LoadProgress {
  bytesDone: number;
  bytesTotal: number;
  mbPerSec: number;
  tensor: string;
}

// GPUBufferUsage STORAGE | COPY_DST | COPY_SRC. The numbers are fixed by the WebGPU spec;
// using them directly keeps this module importable before Node's WebGPU globals exist.
export const GPU_USAGE = 0x80 | 0x08 | 0x04;

/** Rows per shard for a tensor (all rows when it fits one binding). Throws before allocating. */
export function rowsPerShard(t: { name: string; file: string; shape: number[] }, maxBindingBytes: number): number {
  const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
  const rowBytes = t.shape.slice(1).reduce((a, b) => a * b, 1) * 2;
  if (rows * rowBytes <= maxBindingBytes) return Math.max(rows, 1);
  const perShard = Math.floor(maxBindingBytes / rowBytes);
  if (perShard === 0) {
    throw new CheckpointError(t.file, `tensor ${t.name}: one row of ${rowBytes} bytes exceeds the storage binding limit of ${maxBindingBytes} bytes`);
  }
  return perShard;
}

/**
 * Allocate the shard buffers of one tensor (sizes padded to 4 bytes), or with `texture` its
 * rgba32uint weight texture (kernels/weight-texture.ts; no shards), for [N, K] bf16 with K % 8 == 0.
 */
export function allocateWeight(device: GPUDevice, t: PlannedTensor, maxBindingBytes: number, texture = false): GpuWeight {
  if (texture) {
    const w: GpuWeight = { name: t.name, shape: t.shape, dtype: 'bf16', shards: [] };
    createWeightTexture(device, w);
    return w;
  }
  const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
  const rowBytes = t.shape.slice(1).reduce((a, b) => a * b, 1) * 2;
  const per = rowsPerShard(t, maxBindingBytes);
  const shards: WeightShard[] = [];
  for (let rowStart = 0; rowStart < rows || shards.length === 0; rowStart += per) {
    const n = Math.min(per, rows - rowStart);
    const size = Math.max(4, Math.ceil((n * rowBytes) / 4) * 4);
    const buffer = device.createBuffer({ label: shards.length ? `${t.name}#${shards.length}` : t.name, size, usage: GPU_USAGE });
    shards.push({ buffer, rows: n, rowStart });
  }
  return { name: t.name, shape: t.shape, dtype: 'bf16', shards };
}

export interface StreamOptions {
  stagingBytes: number;
  onProgress?: (p: LoadProgress) => void;
  /** Wait for the queue after this many bytes were handed to writeBuffer. */
  flushBytes?: number;
}

interface Chunk {
  tensor: PlannedTensor;
  /** The buffer shard it goes to, or for a texture weight undefined (then dstOffset is the first row). */
  shard: WeightShard | undefined;
  /** Element range within the tensor and byte offset of the first element in the shard. */
  elemStart: number;
  count: number;
  dstOffset: number;
}

/** Cut every tensor into chunks that fit the staging buffer and never cross a shard. */
function* chunks(tensors: PlannedTensor[], weights: Map<string, GpuWeight>, stagingBytes: number): Generator<Chunk> {
  for (const t of tensors) {
    const w = weights.get(t.name)!;
    const itemSize = t.dtype === 'F32' ? 4 : 2;
    // An even element count keeps every chunk's bf16 byte size a multiple of 4 (writeBuffer rule).
    const maxElems = Math.max(2, Math.floor(stagingBytes / itemSize / 2) * 2);
    const rowElems = t.shape.slice(1).reduce((a, b) => a * b, 1);
    if (weightTexture(w)) {
      // Whole rows only (a texture line is a row); checkpoint.ts keeps a row within the staging size.
      const rows = Math.max(1, Math.floor(maxElems / rowElems));
      for (let r = 0; r < t.shape[0]!; r += rows) {
        yield { tensor: t, shard: undefined, elemStart: r * rowElems, count: Math.min(rows, t.shape[0]! - r) * rowElems, dstOffset: r };
      }
      continue;
    }
    for (const shard of w.shards) {
      const first = shard.rowStart * rowElems;
      const total = t.shape.length === 0 ? 1 : shard.rows * rowElems;
      for (let done = 0; done < total; done += maxElems) {
        const count = Math.min(maxElems, total - done);
        yield { tensor: t, shard, elemStart: first + done, count, dstOffset: done * 2 };
      }
    }
  }
}

/**
 * Stream tensor bytes from the files into their GPU buffers through two reused staging
 * arrays: while one chunk is converted and handed to writeBuffer, the next is being read.
 * Reading into our own zero-offset staging arrays means typed-array views are always
 * aligned, whatever the tensor's offset in the file. Returns the number of bytes read.
 */
export async function streamTensors(
  source: FileSource,
  device: GPUDevice,
  tensors: PlannedTensor[],
  weights: Map<string, GpuWeight>,
  opts: StreamOptions,
): Promise<number> {
  const staging = [new Uint8Array(opts.stagingBytes + 4), new Uint8Array(opts.stagingBytes + 4)];
  const flushBytes = opts.flushBytes ?? 128 * 1024 * 1024;
  const bytesTotal = tensors.reduce((a, t) => a + t.byteLength, 0);
  const started = performance.now();
  let bytesDone = 0;
  let sinceFlush = 0;
  const it = chunks(tensors, weights, opts.stagingBytes);
  const readChunk = (c: Chunk, slot: number) => {
    const itemSize = c.tensor.dtype === 'F32' ? 4 : 2;
    const target = staging[slot]!.subarray(0, c.count * itemSize);
    return readIntoTarget(source, c.tensor.file, c.tensor.offset + c.elemStart * itemSize, target);
  };
  let next = it.next();
  let slot = 0;
  let pending = next.done ? null : readChunk(next.value, slot);
  while (!next.done) {
    const c = next.value;
    await pending;
    const buf = staging[slot]!;
    next = it.next();
    slot ^= 1;
    pending = next.done ? null : readChunk(next.value, slot);
    // Don't leave the prefetch unobserved if we throw before awaiting it.
    pending?.catch(() => {});
    const outBytes = toBf16InPlace(buf, c.tensor.dtype, c.count);
    // writeBuffer needs a multiple of 4 bytes: an odd element count (only ever a shard's
    // tail) gets one zero bf16 of padding, which lands in the buffer's own padding.
    const padded = Math.ceil(outBytes / 4) * 4;
    buf.fill(0, outBytes, padded);
    if (c.shard) device.queue.writeBuffer(c.shard.buffer, c.dstOffset, buf, 0, padded);
    else writeWeightRows(device, weightTexture(weights.get(c.tensor.name)!)!, c.dstOffset, c.count / c.tensor.shape[1]!, buf);
    const inBytes = c.count * (c.tensor.dtype === 'F32' ? 4 : 2);
    bytesDone += inBytes;
    sinceFlush += padded;
    if (sinceFlush >= flushBytes) {
      // Bound Dawn's internal staging copies (on lavapipe they live in host memory).
      sinceFlush = 0;
      await quietly(device.queue.onSubmittedWorkDone());
    }
    if (opts.onProgress) {
      const seconds = (performance.now() - started) / 1000;
      opts.onProgress({ bytesDone, bytesTotal, mbPerSec: seconds > 0 ? bytesDone / 1e6 / seconds : 0, tensor: c.tensor.name });
    }
  }
  await quietly(device.queue.onSubmittedWorkDone());
  return bytesDone;
}
