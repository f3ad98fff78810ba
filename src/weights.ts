// A weight on the GPU as the loader leaves it: raw bf16 (two per u32, little-endian, bit for bit
// as in the checkpoint), split along dim 0 into shards that each fit one storage binding.

export interface WeightShard {
  buffer: GPUBuffer;
  /** First row (index along dim 0) held by this shard. */
  rowStart: number;
  rows: number;
}

export interface GpuWeight {
  name: string;
  shape: number[];
  dtype: 'bf16';
  shards: WeightShard[];
}

/**
 * A weight seen as the matrix the matmul kernels read, [dim 0, product of the rest]: a conv
 * kernel [out, c, kh, kw] is, byte for byte, the Linear weight [out, c·kh·kw].
 */
export function matrixShape(shape: readonly number[]): [number, number] {
  return [shape[0] ?? 1, shape.slice(1).reduce((a, b) => a * b, 1)];
}
