// Helpers for kernels that read bf16 GpuWeights (raw bf16, two per u32: element e is the low half
// of word e>>1 when e is even, the high half when odd).

import type { GpuWeight } from '../weights.js';

/** WGSL `fn <name>At(e: u32) -> f32`: element e of the bf16 array bound as `<name>: array<u32>`. */
export function bf16At(name: string): string {
  return `fn ${name}At(e: u32) -> f32 {
  let word = ${name}[e >> 1u];
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (e & 1u) == 1u));
}`;
}

/** The buffer of a weight that must not be split (norm weights, biases, small tables). */
export function singleShard(w: GpuWeight): GPUBuffer {
  if (w.shards.length !== 1) throw new Error(`${w.name}: expected one shard, got ${w.shards.length}`);
  return w.shards[0]!.buffer;
}
