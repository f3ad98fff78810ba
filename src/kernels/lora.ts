// LoRA deltas riding on weights: the adapters (graph/lora.ts) attach W's low-rank delta to the
// GpuWeight itself, and the matmul plan layer (matmul.ts) adds (x·Aᵀ)·B'ᵀ wherever W is used, so
// the graph never knows adapters exist and the base weights stay untouched and shared. A merged
// adapter (--lora-merge) rides the same way: the weight's f32 copy with the delta folded in, which
// the plan layer reads instead of the weight.

import type { Gpu } from '../device.js';
import { f32BitsToBf16 } from '../loader/bf16.js';
import type { GpuWeight } from '../weights.js';

/** What the active adapters add to a weight [N, K]: Σ scaleᵢ·Bᵢ·Aᵢ, kept as its two factors. */
export interface LoraDelta {
  /** Σ rank of the adapters on this weight. */
  rank: number;
  /**
   * bf16 [3·rank, K]: the adapters' A stacked, as three bf16 parts (splitFactor) — a weight the
   * matmul kernels read like any other (textures on CPU adapters, fused Q/K/V GEMVs).
   */
  down: GpuWeight;
  /**
   * f32 [N, 3·rank]: their scaleᵢ·Bᵢ stacked (columns in the order of A's rows), three times side
   * by side, so that t·upᵀ of t = x·Aᵀ's three parts is their sum times B' in one product.
   */
  up: GpuWeight;
}

/**
 * A float32 [rank, K] as bf16 rows [hi; mid; lo] with hi = bf16(a), mid = bf16(a − hi),
 * lo = bf16(a − hi − mid): their sum is a to 2⁻²⁶ of |a| (finer than float32), so x·Aᵀ is
 * x·hiᵀ + x·midᵀ + x·loᵀ, three products of a bf16 weight (the epilogue adds the parts).
 */
export function splitFactor(a: Float32Array, rank: number, K: number): Uint16Array {
  const out = new Uint16Array(3 * rank * K);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const part = (v: number) => {
    f[0] = v;
    const h = f32BitsToBf16(u[0]!);
    u[0] = h << 16;
    return { h, v: f[0]! };
  };
  const n = rank * K;
  for (let i = 0; i < n; i++) {
    let rest = a[i]!;
    for (let p = 0; p < 3; p++) {
      const { h, v } = part(rest);
      out[p * n + i] = h;
      rest -= v;
    }
  }
  return out;
}

/** Uploads splitFactor's rows as the bf16 weight a LoraDelta's `down` is. */
export function factorWeight(gpu: Gpu, name: string, words: Uint16Array, K: number): GpuWeight {
  const rows = words.length / K;
  return { name, shape: [rows, K], dtype: 'bf16', shards: [{ buffer: gpu.upload(words, name), rowStart: 0, rows }] };
}

/** B'ᵀ [rank, N] (scale·Bᵀ) as the f32 weight [N, 3·rank] a LoraDelta's `up` is. */
export function upWeight(gpu: Gpu, name: string, bt: Float32Array, rank: number, N: number): GpuWeight {
  const up = new Float32Array(N * 3 * rank);
  for (let n = 0; n < N; n++) for (let p = 0; p < 3; p++) for (let r = 0; r < rank; r++) up[(n * 3 + p) * rank + r] = bt[r * N + n]!;
  return { name, shape: [N, 3 * rank], dtype: 'f32', shards: [{ buffer: gpu.upload(up, name), rowStart: 0, rows: N }] };
}

/** A weight [N, K]'s delta from A (splitFactor's words, [3·rank, K]) and B'ᵀ [rank, N]. */
export function loraFactors(gpu: Gpu, name: string, words: Uint16Array, bt: Float32Array, rank: number, N: number, K: number): LoraDelta {
  return { rank, down: factorWeight(gpu, `${name} A`, words, K), up: upWeight(gpu, `${name} B'`, bt, rank, N) };
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

const merged = new WeakMap<GpuWeight, GpuWeight>();

/** The f32 copy with the adapters folded in (lora-merge.ts) that the matmuls read instead of w, if any. */
export function loraMerged(w: GpuWeight): GpuWeight | undefined {
  return merged.get(w);
}

/** Makes the matmuls read `m` wherever w is given (undefined: w again); recordings made before no longer match. */
export function setLoraMerged(w: GpuWeight, m: GpuWeight | undefined): void {
  if (m) merged.set(w, m);
  else merged.delete(w);
}

/**
 * The device's buffer for t = x·Aᵀ ('t') or for t·B'ᵀ ('d'; two, as one dispatch may not read and
 * write one buffer), at least `bytes` long (Gpu.scratch: every LoRA'd matmul of a step reuses them).
 */
export function loraScratch(gpu: Gpu, kind: 't' | 'd', bytes: number): GPUBuffer {
  return gpu.scratch(`lora ${kind}`, Math.max(bytes, 64 * 1024));
}
