// LoRA deltas riding on weights: the adapters (graph/lora.ts) attach W's low-rank delta to the
// GpuWeight itself, and the matmul plan layer (matmul.ts) adds (x·Aᵀ)·B'ᵀ wherever W is used, so
// the graph never knows adapters exist and the base weights stay untouched and shared.

import type { Gpu } from '../device.js';
import type { GpuWeight } from '../weights.js';

/** What the active adapters add to a weight [N, K]: Σ scaleᵢ·Bᵢ·Aᵢ, kept as its two factors. */
export interface LoraDelta {
  /** Σ rank of the adapters on this weight. */
  rank: number;
  /** [rank, K] f32: the adapters' A stacked. */
  a: GPUBuffer;
  /** [rank, N] f32: their scaleᵢ·Bᵢᵀ stacked (rows in the order of a's). */
  bt: GPUBuffer;
}

const deltas = new WeakMap<GpuWeight, LoraDelta>();

export function loraDelta(w: GpuWeight): LoraDelta | undefined {
  return deltas.get(w);
}

/** Attaches (or with undefined, removes) a weight's delta; recordings made before no longer match. */
export function setLoraDelta(w: GpuWeight, d: LoraDelta | undefined): void {
  if (d) deltas.set(w, d);
  else deltas.delete(w);
}

const scratches = new WeakMap<Gpu, GPUBuffer>();

/**
 * The device's buffer for t = x·Aᵀ, at least `bytes` long. Every LoRA'd matmul of a step reuses it
 * (dispatches are ordered). It grows with the largest M·rank seen; the old one is dropped, not
 * destroyed: dispatches not yet submitted and recordings may still bind it (it is freed with them).
 */
export function loraScratch(gpu: Gpu, bytes: number): GPUBuffer {
  const old = scratches.get(gpu);
  if (old && old.size >= bytes) return old;
  if (old) gpu.forgetBuffer(old);
  const b = gpu.buffer(Math.max(bytes, 64 * 1024), 'lora t');
  scratches.set(gpu, b);
  return b;
}
