// LoRA adapters on the GPU: each adapter's factors uploaded once (A as three bf16 parts [3·r, K],
// packed like the model's own weights, and scale·Bᵀ [r, N] in float32), then attached to the
// model's weights as their deltas (kernels/lora.ts). Attaching, switching or removing adapters
// touches no base weight: several active adapters are stacked along the rank
// (Σ scaleᵢ·Bᵢ·Aᵢ = [B'₁ B'₂]·[A₁; A₂]) from their host copies.

import type { Gpu } from '../device.js';
import { factorWeight, loraDelta, setLoraDelta, splitFactor, type LoraDelta } from '../kernels/lora.js';
import { prepareWeights } from '../kernels/matmul.js';
import { weightTexture } from '../kernels/weight-texture.js';
import { CheckpointError } from '../loader/errors.js';
import { readLoraAdapter, type LoraAdapterData } from '../loader/lora.js';
import type { FileSource } from '../loader/source.js';
import type { GpuWeight } from '../weights.js';
import type { WeightMap } from './weights.js';

let nextId = 1;

/** One weight's factors on the host, for stacking with other adapters'. */
interface HostFactors {
  rank: number;
  K: number;
  /** splitFactor's bf16 rows [hi; mid; lo]. */
  words: Uint16Array;
  bt: Float32Array;
}

export class LoraAdapter {
  /** Tells adapters apart (the request queue batches only requests with the same ones). */
  readonly id = nextId++;
  readonly name: string;
  readonly warnings: string[];
  /** Canonical weight name → this adapter's factors for it. */
  readonly deltas: ReadonlyMap<string, LoraDelta>;
  /** @internal */
  readonly host = new Map<string, HostFactors>();
  private destroyed = false;

  /** Uploads the factors into buffers; loadLoraAdapter then packs them as the matmul plan wants. */
  constructor(readonly gpu: Gpu, data: LoraAdapterData) {
    this.name = data.name;
    this.warnings = data.warnings;
    const deltas = new Map<string, LoraDelta>();
    for (const m of data.modules) {
      // B'ᵀ = scale·Bᵀ, rounded once from float64.
      const bt = new Float32Array(m.rank * m.N);
      for (let n = 0; n < m.N; n++) for (let r = 0; r < m.rank; r++) bt[r * m.N + n] = m.scale * m.b[n * m.rank + r]!;
      const words = splitFactor(m.a, m.rank, m.K);
      this.host.set(m.weight, { rank: m.rank, K: m.K, words, bt });
      deltas.set(m.weight, { rank: m.rank, down: factorWeight(gpu, `lora ${m.module} A`, words, m.K), bt: gpu.upload(bt, `lora ${m.module} B'ᵀ`) });
    }
    this.deltas = deltas;
  }

  /** Frees its GPU buffers: take it out of every model (setAdapters) first. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const d of this.deltas.values()) freeDelta(this.gpu, d);
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}

function freeDelta(gpu: Gpu, d: LoraDelta): void {
  for (const b of [...d.down.shards.map((s) => s.buffer), d.bt]) {
    gpu.forgetBuffer(b);
    b.destroy();
  }
  const tex = weightTexture(d.down);
  if (tex) {
    gpu.forgetBuffer(tex.view);
    tex.texture.destroy();
  }
}

/** Reads an adapter folder, checks it against the model's weights and uploads it (nothing is attached yet). */
export async function loadLoraAdapter(gpu: Gpu, weights: WeightMap, source: FileSource): Promise<LoraAdapter> {
  const adapter = new LoraAdapter(gpu, await readLoraAdapter(source, weights));
  await prepareWeights(gpu, [...adapter.deltas.values()].map((d) => d.down));
  return adapter;
}

/**
 * Makes `adapters` the active ones on `weights` (replacing any before) and returns what undoes it.
 * Weights touched by one adapter use its factors as they are; by several, a stacked copy (in
 * buffers: the matmul plan's buffer kernels read it).
 */
export function attachAdapters(gpu: Gpu, weights: WeightMap, adapters: readonly LoraAdapter[]): () => void {
  const byWeight = new Map<string, { d: LoraDelta; h: HostFactors }[]>();
  for (const ad of adapters) {
    if (ad.gpu !== gpu) throw new Error(`LoRA adapter ${ad.name} was loaded on another device`);
    if (ad.isDestroyed) throw new Error(`LoRA adapter ${ad.name} was destroyed`);
    for (const [name, d] of ad.deltas) {
      if (!weights.has(name)) throw new CheckpointError(ad.name, `adapts ${name}, which this model does not have`);
      byWeight.set(name, [...(byWeight.get(name) ?? []), { d, h: ad.host.get(name)! }]);
    }
  }
  const touched: GpuWeight[] = [];
  const stacked: LoraDelta[] = [];
  for (const [name, ds] of byWeight) {
    const w = weights.get(name)!;
    if (loraDelta(w)) throw new Error(`matmul weight ${name} already has LoRA adapters attached (by another model sharing it?)`);
    let d = ds[0]!.d;
    if (ds.length > 1) {
      const K = ds[0]!.h.K;
      const rank = ds.reduce((s, x) => s + x.h.rank, 0);
      // Each part's rows of every adapter together: [hi₁; hi₂; mid₁; mid₂; lo₁; lo₂].
      const words = new Uint16Array(3 * rank * K);
      let at = 0;
      for (let p = 0; p < 3; p++) {
        for (const { h } of ds) {
          words.set(h.words.subarray(p * h.rank * K, (p + 1) * h.rank * K), at);
          at += h.rank * K;
        }
      }
      const bt = new Float32Array(ds.reduce((s, x) => s + x.h.bt.length, 0));
      at = 0;
      for (const { h } of ds) {
        bt.set(h.bt, at);
        at += h.bt.length;
      }
      d = { rank, down: factorWeight(gpu, `lora ${name} A (stacked)`, words, K), bt: gpu.upload(bt, `lora ${name} B'ᵀ (stacked)`) };
      stacked.push(d);
    }
    setLoraDelta(w, d);
    touched.push(w);
  }
  return () => {
    for (const w of touched) setLoraDelta(w, undefined);
    for (const d of stacked) freeDelta(gpu, d);
  };
}
