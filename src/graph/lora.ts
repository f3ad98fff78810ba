// LoRA adapters on the GPU: each adapter's factors uploaded once (A [r, K] and scale·Bᵀ [r, N],
// float32), then attached to the model's weights as their deltas (kernels/lora.ts). Attaching,
// switching or removing adapters touches no base weight: several active adapters are stacked along
// the rank (Σ scaleᵢ·Bᵢ·Aᵢ = [B'₁ B'₂]·[A₁; A₂]) by buffer copies.

import type { Gpu } from '../device.js';
import { loraDelta, setLoraDelta, type LoraDelta } from '../kernels/lora.js';
import { CheckpointError } from '../loader/errors.js';
import { readLoraAdapter, type LoraAdapterData } from '../loader/lora.js';
import type { FileSource } from '../loader/source.js';
import type { GpuWeight } from '../weights.js';
import type { WeightMap } from './weights.js';

let nextId = 1;

export class LoraAdapter {
  /** Tells adapters apart (the request queue batches only requests with the same ones). */
  readonly id = nextId++;
  readonly name: string;
  readonly warnings: string[];
  /** Canonical weight name → this adapter's factors for it. */
  readonly deltas: ReadonlyMap<string, LoraDelta>;
  private destroyed = false;

  constructor(readonly gpu: Gpu, data: LoraAdapterData) {
    this.name = data.name;
    this.warnings = data.warnings;
    const deltas = new Map<string, LoraDelta>();
    for (const m of data.modules) {
      // B'ᵀ = scale·Bᵀ, rounded once from float64.
      const bt = new Float32Array(m.rank * m.N);
      for (let n = 0; n < m.N; n++) for (let r = 0; r < m.rank; r++) bt[r * m.N + n] = m.scale * m.b[n * m.rank + r]!;
      deltas.set(m.weight, { rank: m.rank, a: gpu.upload(m.a, `lora ${m.module} A`), bt: gpu.upload(bt, `lora ${m.module} B'ᵀ`) });
    }
    this.deltas = deltas;
  }

  /** Frees its GPU buffers: take it out of every model (setAdapters) first. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const d of this.deltas.values()) {
      for (const b of [d.a, d.bt]) {
        this.gpu.forgetBuffer(b);
        b.destroy();
      }
    }
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}

/** Reads an adapter folder, checks it against the model's weights and uploads it (nothing is attached yet). */
export async function loadLoraAdapter(gpu: Gpu, weights: WeightMap, source: FileSource): Promise<LoraAdapter> {
  return new LoraAdapter(gpu, await readLoraAdapter(source, weights));
}

/**
 * Makes `adapters` the active ones on `weights` (replacing any before) and returns what undoes it.
 * Weights touched by one adapter use its buffers as they are; by several, a stacked copy.
 */
export function attachAdapters(gpu: Gpu, weights: WeightMap, adapters: readonly LoraAdapter[]): () => void {
  const byWeight = new Map<string, LoraDelta[]>();
  for (const ad of adapters) {
    if (ad.gpu !== gpu) throw new Error(`LoRA adapter ${ad.name} was loaded on another device`);
    if (ad.isDestroyed) throw new Error(`LoRA adapter ${ad.name} was destroyed`);
    for (const [name, d] of ad.deltas) {
      if (!weights.has(name)) throw new CheckpointError(ad.name, `adapts ${name}, which this model does not have`);
      byWeight.set(name, [...(byWeight.get(name) ?? []), d]);
    }
  }
  const touched: GpuWeight[] = [];
  const stacked: GPUBuffer[] = [];
  const encoder = gpu.device.createCommandEncoder({ label: 'lora stack' });
  for (const [name, ds] of byWeight) {
    const w = weights.get(name)!;
    if (loraDelta(w)) throw new Error(`matmul weight ${name} already has LoRA adapters attached (by another model sharing it?)`);
    let d = ds[0]!;
    if (ds.length > 1) {
      const stack = (part: (d: LoraDelta) => GPUBuffer, label: string) => {
        const out = gpu.buffer(ds.reduce((s, x) => s + part(x).size, 0), `lora ${name} ${label} (stacked)`);
        let at = 0;
        for (const x of ds) {
          encoder.copyBufferToBuffer(part(x), 0, out, at, part(x).size);
          at += part(x).size;
        }
        stacked.push(out);
        return out;
      };
      d = { rank: ds.reduce((s, x) => s + x.rank, 0), a: stack((x) => x.a, 'A'), bt: stack((x) => x.bt, "B'ᵀ") };
    }
    setLoraDelta(w, d);
    touched.push(w);
  }
  gpu.device.queue.submit([encoder.finish()]);
  return () => {
    for (const w of touched) setLoraDelta(w, undefined);
    for (const b of stacked) {
      gpu.forgetBuffer(b);
      b.destroy();
    }
  };
}
