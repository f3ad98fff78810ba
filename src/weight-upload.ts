// Putting a caller's own weights on the GPU in the layout the kernels read (src/weights.ts): a
// runtime that uses the kernels on its own device needs no checkpoint or loader for that.

import type { Gpu } from './device.js';
import { f32BitsToBf16 } from './loader/bf16.js';
import type { GpuWeight } from './weights.js';

/** float32 values rounded to bf16 (nearest, ties to even; NaN stays NaN): the 16-bit words. */
export function toBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32BitsToBf16(bits[i]!);
  return out;
}

/**
 * Uploads bf16 words (row-major, PyTorch's shape: a Linear weight is [out, in]) as a GpuWeight,
 * split into shards of at most `shardRows` rows along dim 0 as the loader splits tensors larger
 * than one storage binding.
 */
export function uploadWeight(gpu: Gpu, words: Uint16Array, shape: number[], shardRows = shape[0]!, name = 'w'): GpuWeight {
  const row = shape.slice(1).reduce((a, b) => a * b, 1);
  const count = shape.reduce((a, b) => a * b, 1);
  if (words.length !== count) throw new RangeError(`uploadWeight ${name}: ${words.length} values for shape [${shape.join(', ')}] (${count})`);
  const shards: GpuWeight['shards'] = [];
  for (let rowStart = 0; rowStart < shape[0]!; rowStart += shardRows) {
    const rows = Math.min(shardRows, shape[0]! - rowStart);
    const part = words.slice(rowStart * row, (rowStart + rows) * row);
    shards.push({ buffer: gpu.upload(part, `${name}[${rowStart}]`), rowStart, rows });
  }
  return { name, shape, dtype: 'bf16', shards };
}
