// Bench inputs: random activations and bf16 weights, made by tiling one random block so that a
// 1 GB LM head is filled in a moment. Values stay in a normal range (no denormals, NaN or Inf,
// which would change CPU timings).

import type { Gpu } from '../src/device.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { quantizeRows } from '../src/loader/quantize.js';
import { rowsPerShard } from '../src/loader/upload.js';
import { matrixShape, rowBytes, type GpuWeight, type WeightFormat } from '../src/weights.js';

const BLOCK = 1 << 20; // random 16-bit words per block (2 MiB)

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

let bf16Block: Uint16Array | undefined;
/** bf16 words with random sign and mantissa and magnitudes in [2^-7, 2^-3). */
function bf16Words(): Uint16Array {
  if (!bf16Block) {
    const r = lcg(1);
    bf16Block = new Uint16Array(BLOCK);
    for (let i = 0; i < BLOCK; i++) {
      const v = r();
      bf16Block[i] = ((v >>> 31) << 15) | ((120 + ((v >>> 8) & 3)) << 7) | (v & 0x7f);
    }
  }
  return bf16Block;
}

/** Random f32 in [-scale, scale). */
export function randomF32(n: number, seed = 2, scale = 1): Float32Array {
  const r = lcg(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() / 2 ** 31 - 1) * scale;
  return out;
}

/** An f32 activation buffer of n random values. */
export function activation(gpu: Gpu, n: number, label: string, seed = 2): GPUBuffer {
  const buf = gpu.buffer(n * 4, label);
  const chunk = randomF32(Math.min(n, BLOCK), seed);
  for (let o = 0; o < n; o += chunk.length) gpu.write(buf, chunk.subarray(0, Math.min(chunk.length, n - o)), o * 4);
  return buf;
}

/**
 * The bytes of a block of whole rows of K elements in format f, repeated to fill any weight: the
 * random bf16 block (widened for f32), or as many of its rows as fit quantized as the loader quantizes them.
 */
function rowBlock(f: WeightFormat, K: number): Uint8Array {
  const words = bf16Words();
  const rows = Math.max(1, Math.floor(BLOCK / K));
  if (f === 'bf16') return new Uint8Array(words.buffer, 0, rows * K * 2);
  if (f === 'f32') return new Uint8Array(Uint32Array.from(words.subarray(0, rows * K), (h) => h << 16).buffer);
  const out = new Uint8Array(rows * rowBytes(f, K));
  quantizeRows(f, words, rows, K, out, rowBytes(f, K));
  return out;
}

/** A weight of the given shape and format, sharded along dim 0 exactly as the loader would shard it. */
export function weight(gpu: Gpu, name: string, shape: number[], format: WeightFormat = 'bf16'): GpuWeight {
  const maxBinding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const per = rowsPerShard({ name, file: 'bench', shape, format }, maxBinding);
  const K = matrixShape(shape)[1];
  const block = rowBlock(format, K);
  const bytesPerRow = rowBytes(format, K);
  const shards: GpuWeight['shards'] = [];
  for (let rowStart = 0; rowStart < shape[0]!; rowStart += per) {
    const rows = Math.min(per, shape[0]! - rowStart);
    const n = rows * bytesPerRow;
    const buffer = gpu.buffer(Math.ceil(n / 4) * 4, `${name}#${shards.length}`);
    for (let o = 0; o < n; o += block.length) gpu.write(buffer, block.subarray(0, Math.min(block.length, n - o)), o);
    shards.push({ buffer, rowStart, rows });
  }
  return { name, shape, dtype: format, shards };
}

/** Frees a weight's buffers, or its texture when prepareWeights packed it. */
export function destroyWeight(gpu: Gpu, w: GpuWeight): void {
  weightTexture(w)?.texture.destroy();
  for (const s of w.shards) {
    gpu.forgetBuffer(s.buffer);
    s.buffer.destroy();
  }
}
