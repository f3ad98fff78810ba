// LoRA adapters on the GPU: each adapter's factors uploaded once (A as three bf16 parts [3·r, K]
// and scale·B as an f32 weight [N, 3·r], packed like the model's own weights), then attached to the
// model's weights as their deltas (kernels/lora.ts). Attaching, switching or removing adapters
// touches no base weight: several active adapters are stacked along the rank
// (Σ scaleᵢ·Bᵢ·Aᵢ = [B'₁ B'₂]·[A₁; A₂]) from their host copies. Merged (--lora-merge), the same
// stacked delta is folded into float32 copies of the weights it touches (kernels/lora-merge.ts),
// which the matmuls read instead; the base weights are still untouched.

import type { Gpu } from '../device.js';
import { loraDelta, loraFactors, loraMerged, setLoraDelta, setLoraMerged, splitFactor, type LoraDelta } from '../kernels/lora.js';
import { mergeLora } from '../kernels/lora-merge.js';
import { prepareWeights } from '../kernels/matmul.js';
import { weightTexture } from '../kernels/weight-texture.js';
import { CheckpointError } from '../loader/errors.js';
import { rankAndScale, readLoraAdapter, type LoraAdapterData, type LoraConfig } from '../loader/lora.js';
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
  /** adapter_config.json as read (r, lora_alpha, use_rslora, the patterns). */
  readonly config: LoraConfig;
  /** Canonical weight name → this adapter's factors for it. */
  readonly deltas: ReadonlyMap<string, LoraDelta>;
  /** @internal */
  readonly host = new Map<string, HostFactors>();
  private destroyed = false;

  /** Uploads the factors into buffers; loadLoraAdapter then packs them as the matmul plan wants. */
  constructor(readonly gpu: Gpu, data: LoraAdapterData) {
    this.name = data.name;
    this.warnings = data.warnings;
    this.config = data.config;
    const deltas = new Map<string, LoraDelta>();
    for (const m of data.modules) {
      // B'ᵀ = scale·Bᵀ, rounded once from float64.
      const bt = new Float32Array(m.rank * m.N);
      for (let n = 0; n < m.N; n++) for (let r = 0; r < m.rank; r++) bt[r * m.N + n] = m.scale * m.b[n * m.rank + r]!;
      const words = splitFactor(m.a, m.rank, m.K);
      this.host.set(m.weight, { rank: m.rank, K: m.K, words, bt });
      deltas.set(m.weight, loraFactors(gpu, `lora ${m.module}`, words, bt, m.rank, m.N, m.K));
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

/** What --json reports of an active adapter: its folder, r, lora_alpha, scale, rsLoRA, how many weights it adapts, merged or not. */
export interface AdapterSummary {
  path: string;
  r: number;
  alpha: number;
  /** lora_alpha / r (or / √r with rsLoRA); rank_pattern / alpha_pattern may give some modules their own. */
  scale: number;
  rslora: boolean;
  modules: number;
  merged: boolean;
}

export function adapterSummary(a: LoraAdapter, merged: boolean): AdapterSummary {
  const c = a.config;
  return { path: a.name, r: c.r, alpha: c.alpha, scale: rankAndScale({ ...c, rankPattern: [], alphaPattern: [] }, '').scale, rslora: c.rslora, modules: a.deltas.size, merged };
}

function freeDelta(gpu: Gpu, d: LoraDelta): void {
  destroyWeight(gpu, d.down);
  destroyWeight(gpu, d.up);
}

/** Reads an adapter folder, checks it against the model's weights and uploads it (nothing is attached yet). */
export async function loadLoraAdapter(gpu: Gpu, weights: WeightMap, source: FileSource): Promise<LoraAdapter> {
  const adapter = new LoraAdapter(gpu, await readLoraAdapter(source, weights));
  await prepareWeights(gpu, [...adapter.deltas.values()].flatMap((d) => [d.down, d.up]));
  return adapter;
}

/**
 * Makes `adapters` the active ones on `weights` (replacing any before) and returns what undoes it.
 * Weights touched by one adapter use its factors as they are; by several, a stacked copy (in
 * buffers: the matmul plan's buffer kernels read it). With `merge`, their sum is folded into f32
 * copies of the weights instead (mergeAdapters).
 */
export function attachAdapters(gpu: Gpu, weights: WeightMap, adapters: readonly LoraAdapter[], merge = false): () => void {
  if (merge) return mergeAdapters(gpu, weights, adapters);
  const touched: GpuWeight[] = [];
  const stacked: LoraDelta[] = [];
  for (const [name, ds] of activeDeltas(gpu, weights, adapters)) {
    const w = weights.get(name)!;
    let d = ds[0]!.d;
    if (ds.length > 1) {
      const h = stackHost(ds.map((x) => x.h));
      d = loraFactors(gpu, `lora ${name} (stacked)`, h.words, h.bt, h.rank, h.bt.length / h.rank, h.K);
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

/** Each weight the adapters touch → their factors on it, in the adapters' order (checked against the model and the device). */
function activeDeltas(gpu: Gpu, weights: WeightMap, adapters: readonly LoraAdapter[]): Map<string, { d: LoraDelta; h: HostFactors }[]> {
  const byWeight = new Map<string, { d: LoraDelta; h: HostFactors }[]>();
  for (const ad of adapters) {
    if (ad.gpu !== gpu) throw new Error(`LoRA adapter ${ad.name} was loaded on another device`);
    if (ad.isDestroyed) throw new Error(`LoRA adapter ${ad.name} was destroyed`);
    for (const [name, d] of ad.deltas) {
      if (!weights.has(name)) throw new CheckpointError(ad.name, `adapts ${name}, which this model does not have`);
      byWeight.set(name, [...(byWeight.get(name) ?? []), { d, h: ad.host.get(name)! }]);
    }
  }
  for (const name of byWeight.keys()) {
    const w = weights.get(name)!;
    if (loraDelta(w) || loraMerged(w)) throw new Error(`matmul weight ${name} already has LoRA adapters attached (by another model sharing it?)`);
  }
  return byWeight;
}

/** Several adapters' factors on one weight as one of rank Σ rᵢ: [A₁; A₂] (each part's rows together: [hi₁; hi₂; mid₁; …]) and [B'₁ B'₂]. */
function stackHost(hs: HostFactors[]): HostFactors {
  const K = hs[0]!.K;
  const rank = hs.reduce((s, h) => s + h.rank, 0);
  const words = new Uint16Array(3 * rank * K);
  let at = 0;
  for (let p = 0; p < 3; p++) {
    for (const h of hs) {
      words.set(h.words.subarray(p * h.rank * K, (p + 1) * h.rank * K), at);
      at += h.rank * K;
    }
  }
  const bt = new Float32Array(hs.reduce((s, h) => s + h.bt.length, 0));
  at = 0;
  for (const h of hs) {
    bt.set(h.bt, at);
    at += h.bt.length;
  }
  return { rank, K, words, bt };
}

/** A [rank, K] in float32 again from splitFactor's parts (their sum, exact in float64, rounds back to A). */
function joinFactor(h: HostFactors): Float32Array {
  const n = h.rank * h.K;
  const a = new Float32Array(n);
  const word = new Uint32Array(1);
  const f = new Float32Array(word.buffer);
  const widen = (x: number) => {
    word[0] = x << 16;
    return f[0]!;
  };
  for (let i = 0; i < n; i++) a[i] = widen(h.words[i]!) + widen(h.words[n + i]!) + widen(h.words[2 * n + i]!);
  return a;
}

/**
 * Read together by one fused kernel (linearGeglu), so in one format: when either is merged, the
 * other gets an f32 copy too (with nothing added).
 */
const PARTNERS: [RegExp, string, string][] = [[/\.mlp\.(gate|up)_proj\.weight$/, 'gate', 'up']];

function partnerOf(name: string): string | undefined {
  for (const [re, a, b] of PARTNERS) {
    const m = re.exec(name);
    if (m) return name.slice(0, m.index) + `.mlp.${m[1] === a ? b : a}_proj.weight`;
  }
  return undefined;
}

/**
 * --lora-merge: W' = W + Σᵢ scaleᵢ·Bᵢ·Aᵢ into a float32 copy of every weight the adapters touch
 * (several adapters add up, as unmerged), which the matmuls read instead of W; undoing it drops the
 * copies. Costs 4 bytes per element of each touched weight (and of a GEGLU partner) for a matmul
 * without the low-rank products.
 */
function mergeAdapters(gpu: Gpu, weights: WeightMap, adapters: readonly LoraAdapter[]): () => void {
  const byWeight = activeDeltas(gpu, weights, adapters);
  const copies = [...byWeight.keys()].flatMap((name) => {
    const partner = partnerOf(name);
    return partner && weights.has(partner) && !byWeight.has(partner) ? [partner] : [];
  });
  const touched: GpuWeight[] = [];
  const temporary: GPUBuffer[] = [];
  const none = gpu.buffer(4, 'lora merge (rank 0)');
  temporary.push(none);
  for (const name of [...byWeight.keys(), ...new Set(copies)]) {
    const w = weights.get(name)!;
    const ds = byWeight.get(name);
    let m: GpuWeight;
    if (ds) {
      const h = ds.length > 1 ? stackHost(ds.map((x) => x.h)) : ds[0]!.h;
      const a = gpu.upload(joinFactor(h), `lora ${name} A (merge)`);
      const bt = gpu.upload(h.bt, `lora ${name} B'ᵀ (merge)`);
      temporary.push(a, bt);
      m = mergeLora(gpu, w, a, bt, h.rank, `${name} (LoRA merged)`);
    } else {
      m = mergeLora(gpu, w, none, none, 0, `${name} (f32 beside a merged partner)`);
    }
    setLoraMerged(w, m);
    touched.push(w);
  }
  // Submitted: WebGPU frees them once the merge has run.
  for (const b of temporary) b.destroy();
  return () => {
    for (const w of touched) {
      const m = loraMerged(w)!;
      setLoraMerged(w, undefined);
      destroyWeight(gpu, m);
    }
  };
}

/** Frees a weight's buffers and texture. */
function destroyWeight(gpu: Gpu, w: GpuWeight): void {
  for (const s of w.shards) {
    gpu.forgetBuffer(s.buffer);
    s.buffer.destroy();
  }
  const tex = weightTexture(w);
  if (tex) {
    gpu.forgetBuffer(tex.view);
    tex.texture.destroy();
  }
}
