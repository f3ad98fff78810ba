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

/** Elements per row (product of all dims but the first). */
export function rowSize(w: GpuWeight): number {
  return w.shape.slice(1).reduce((a, b) => a * b, 1);
}
