// The matmul decisions layer: linear / linearGeglu / linearMany check shapes, walk weight shards
// (each shard writes its column block of out) and hand each dispatch to the variant the adapter
// wants. The choice is made once per Gpu (matmulPlan), never per call.

import type { Binding, Gpu, Step } from '../device.js';
import { matrixShape, type GpuWeight } from '../weights.js';
import { loraDelta, loraMerged, loraScratch } from './lora.js';
import type { Epilogue, LoraTerm, MatmulBuffers, MatmulShape } from './matmul-common.js';
import { GEMV_MAX_ROWS, matmulGemv, matmulGemvMany, type GemvNorm } from './matmul-gemv.js';
import { LANES_MAX_ROWS, matmulLanes } from './matmul-lanes.js';
import { matmulTexture, matmulTextureMany, textureTiling, type TextureTiling } from './matmul-texture.js';
import { matmulTiled } from './matmul-tiled.js';
import { rmsNorm } from './norm.js';
import { packWeightTexture, texturable, weightTexture, type WeightTexture } from './weight-texture.js';

/**
 * Every kernel that can compute a linear layer; tests and benches force one through `variant`.
 * 'tiled' and 'gemv' read weights from buffers (the GPU variants); 'texture' reads weights packed by
 * prepareWeights (the CPU-adapter variant, any M); 'lanes' is the CPU-adapter GEMV over buffer
 * weights (the LM head), K % 8 == 0.
 */
export type MatmulVariant = 'tiled' | 'gemv' | 'texture' | 'lanes';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['tiled', 'gemv', 'texture', 'lanes'];

/**
 * Per adapter: where prepareWeights puts weights, and which buffer variant serves many rows (GEMM)
 * and M ≤ GEMV_MAX_ROWS (decode). Texture-packed weights always go to 'texture'.
 */
export interface MatmulPlan {
  layout: 'buffer' | 'texture';
  gemm: MatmulVariant;
  gemv: MatmulVariant;
}

const plans = new WeakMap<Gpu, MatmulPlan>();

/** Subgroups of exactly 8 lanes (lavapipe): matmul-texture can share x rows by subgroupBroadcast. */
export function subgroupsOf8(gpu: Gpu): boolean {
  const i = gpu.adapterInfo as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  return gpu.features.subgroups && i?.subgroupMinSize === 8 && i.subgroupMaxSize === 8;
}

export function matmulPlan(gpu: Gpu): MatmulPlan {
  let plan = plans.get(gpu);
  if (!plan) {
    // Software adapters (lavapipe, SwiftShader) scalarise per-lane buffer and shared-memory loads,
    // which the GPU variants live on; texture and uniform-address loads stay cheap there. Weight
    // textures are read-only storage textures (weight-texture.ts READ_TEXTURE), a WGSL language feature.
    plan = { layout: gpu.cpuAdapter && gpu.features.readTextures ? 'texture' : 'buffer', gemm: 'tiled', gemv: gpu.cpuAdapter ? 'lanes' : 'gemv' };
    plans.set(gpu, plan);
  }
  return plan;
}

/** Overrides the plan (benches comparing layouts, tests). */
export function setMatmulPlan(gpu: Gpu, plan: MatmulPlan): void {
  plans.set(gpu, plan);
}

/**
 * Moves weights into the layout the plan wants, one tensor at a time (each source buffer is
 * destroyed as soon as its copy exists). Weights that do not fit the texture layout (K % 4 ≠ 0,
 * past the texture limits) stay in buffers and use the buffer variants. Hand over only weights that
 * no kernel but the matmuls and `embed` reads: every other kernel reads buffers.
 */
export async function prepareWeights(gpu: Gpu, weights: GpuWeight[], layout = matmulPlan(gpu).layout): Promise<void> {
  for (const w of unprepared(gpu, weights, layout)) await packWeightTexture(gpu, w);
}

/** The weights prepareWeights would move (the kernels that read them depend on it). */
export function unprepared(gpu: Gpu, weights: GpuWeight[], layout = matmulPlan(gpu).layout): GpuWeight[] {
  return layout === 'buffer' ? [] : weights.filter((w) => !weightTexture(w) && texturable(gpu, w));
}

/** The largest M a variant takes (GEMV kernels keep all rows' accumulators in registers). */
export function variantMaxRows(v: MatmulVariant): number {
  // 'texture' serves any M (8 rows per lane when M > 8).
  return v === 'gemv' ? GEMV_MAX_ROWS : v === 'lanes' ? LANES_MAX_ROWS : Infinity;
}

/** The variant linear() runs for weight w with M rows and depth K unless one is forced (benches label their results with it). */
export function linearVariant(gpu: Gpu, w: GpuWeight, M: number, K: number): MatmulVariant {
  if (weightTexture(w)) return 'texture';
  const plan = matmulPlan(gpu);
  const planned = M <= variantMaxRows(plan.gemv) ? plan.gemv : plan.gemm;
  // 'lanes' reads 16-byte words of whole bf16 rows: odd-sized K and quantized rows go to the portable GEMV.
  return planned === 'lanes' && (K % 8 !== 0 || w.dtype !== 'bf16') ? 'gemv' : planned;
}

export interface LinearArgs {
  x: Binding;
  /** bf16 [N, K] (PyTorch Linear layout), possibly sharded along N. */
  w: GpuWeight;
  /** bf16 [N]. */
  bias?: GpuWeight;
  out: Binding;
  M: number;
  K: number;
  N: number;
  /** out += result instead of out = result (fuses the residual add). */
  accumulate?: boolean;
  /** result → c·tanh(result/c) (Gemma 2's final logits); 0 or absent = none. */
  softcap?: number;
  /** Force a variant (tests, benches); default: matmulPlan(gpu). */
  variant?: MatmulVariant;
  /** Force the texture variant's tiling (benches). */
  tiling?: TextureTiling;
}

/**
 * out[M, N] (+)= softcap(x[M, K] · wᵀ (+ bias)). A weight with LoRA adapters attached (lora.ts)
 * computes x·wᵀ + (x·Aᵀ)·B'ᵀ: t = x·Aᵀ first, its product with B'ᵀ in the matmul's epilogue.
 */
export function linear(step: Step, given: LinearArgs): void {
  const a = { ...given, w: live(given.w) };
  checkWeight(a.w, a.N, a.K);
  if (a.bias) checkWeight(a.bias, a.N);
  if (a.softcap !== undefined && !(a.softcap >= 0 && Number.isFinite(a.softcap))) throw new Error(`linear: softcap ${a.softcap} must be a finite number ≥ 0`);
  const lora = loraOf(step, a.x, [a.w], a.M, a.K);
  if (lora && a.softcap) throw new Error(`linear: LoRA on the soft-capped ${a.w.name} is not supported`);
  run(step, a, [a.w], { bias: !!a.bias, accumulate: !!a.accumulate, geglu: false, softcap: a.softcap || undefined }, undefined, lora);
}

/** The weight the matmuls read for w: its copy with merged LoRA adapters (lora.ts), or w. */
function live(w: GpuWeight): GpuWeight {
  return loraMerged(w) ?? w;
}

/** The LoRA terms of weights that read one x: their (x·Aᵀ)·B'ᵀ side by side in one buffer, and each weight's region of it. */
interface LoraParts {
  d: GPUBuffer;
  terms: (LoraTerm | undefined)[];
}

/** Regions of one scratch buffer, each at a 256-byte aligned offset (a binding of its own). */
function regionsOf(bytes: (number | undefined)[]): { regions: ({ offset: number; bytes: number } | undefined)[]; end: number } {
  let end = 0;
  const regions = bytes.map((b) => {
    if (b === undefined) return undefined;
    const r = { offset: end, bytes: b };
    end += Math.ceil(b / 256) * 256;
    return r;
  });
  return { regions, end };
}

/**
 * Runs the low-rank products of every adapted weight in ws (x is what they all read; a GEMV folds
 * `norm` in) by the plan's own matmuls: the down projection t = x·Aᵀ, A's three bf16 parts
 * (kernels/lora.ts) being a bf16 weight [3·rank, K] like any other (fused for Q/K/V as theirs),
 * then t·B'ᵀ, B' an f32 weight [N, 3·rank], into [M, N] that the weight's epilogue adds.
 * Undefined when none is adapted.
 */
function loraOf(step: Step, x: Binding, ws: GpuWeight[], M: number, K: number, norm?: GemvNorm): LoraParts | undefined {
  const ds = ws.map(loraDelta);
  if (!ds.some((d) => d)) return undefined;
  const tr = regionsOf(ds.map((d) => d && M * 3 * d.rank * 4));
  const dr = regionsOf(ds.map((d, i) => d && M * ws[i]!.shape[0]! * 4));
  const t = loraScratch(step.gpu, 't', tr.end);
  const out = loraScratch(step.gpu, 'd', dr.end);
  const on = ds.flatMap((d, i) => (d ? [{ d, i }] : []));
  const downs = on.map(({ d }) => d.down);
  if (norm && downs.some((w) => weightTexture(w))) throw new Error('matmul: a folded pre-norm with LoRA factors in textures');
  const region = (b: GPUBuffer, r: { offset: number; bytes: number }) => ({ buffer: b, offset: r.offset, size: r.bytes });
  many(step, x, downs, on.map(({ i }) => region(t, tr.regions[i]!)), M, K, norm, norm ? 'gemv' : undefined);
  for (const { d, i } of on) linear(step, { x: region(t, tr.regions[i]!), w: d.up, out: region(out, dr.regions[i]!), M, K: 3 * d.rank, N: ws[i]!.shape[0]! });
  return { d: out, terms: ds.map((d, i) => d && { offset: dr.regions[i]!.offset / 4 }) };
}

/**
 * Gemma's RMSNorm (1 + w) applied to x first: folded into the GEMV where the plan runs 'gemv' (one
 * dispatch fewer per use; decode is dispatch-bound on fast GPUs), else computed into `scratch`.
 */
export interface PreNorm {
  w: GpuWeight;
  eps: number;
  /** [M, K] f32, where the normalised x goes when the norm is not folded. */
  scratch: Binding;
}

export interface LinearGegluArgs {
  x: Binding;
  gate: GpuWeight;
  up: GpuWeight;
  out: Binding;
  M: number;
  K: number;
  N: number;
  norm?: PreNorm;
  variant?: MatmulVariant;
  tiling?: TextureTiling;
}

/** out = gelu_tanh(x·gateᵀ) ⊙ (x·upᵀ): the Gemma MLP's first half in one pass over x. */
export function linearGeglu(step: Step, given: LinearGegluArgs): void {
  const a = { ...given, gate: live(given.gate), up: live(given.up) };
  checkWeight(a.gate, a.N, a.K);
  checkWeight(a.up, a.N, a.K);
  const same = a.gate.shards.length === a.up.shards.length && a.gate.shards.every((s, i) => s.rows === a.up.shards[i]!.rows);
  if (!same) throw new Error(`linearGeglu: ${a.gate.name} and ${a.up.name} are sharded differently`);
  if (a.gate.dtype !== a.up.dtype) throw new Error(`linearGeglu: ${a.gate.name} is ${a.gate.dtype} but ${a.up.name} is ${a.up.dtype}`);
  const args = { x: a.x, out: a.out, M: a.M, K: a.K, N: a.N, variant: a.variant, tiling: a.tiling };
  const fold = !weightTexture(a.gate) && (a.variant ?? linearVariant(step.gpu, a.gate, a.M, a.K)) === 'gemv';
  const norm = a.norm && preNorm(step, a.norm, fold, args);
  run(step, args, [a.gate, a.up], { bias: false, accumulate: false, geglu: true }, norm, loraOf(step, args.x, [a.gate, a.up], a.M, a.K, norm));
}

/** The norm for a GEMV to fold in (`fold`: the GEMV kernel will run), or undefined after computing it into scratch and pointing args.x there. */
function preNorm(step: Step, n: PreNorm, fold: boolean, args: { x: Binding; M: number; K: number }): GemvNorm | undefined {
  checkWeight(n.w, args.K);
  if (fold && n.w.shards.length === 1) return { w: n.w.shards[0]!.buffer, eps: n.eps };
  rmsNorm(step, { x: args.x, w: n.w, out: n.scratch, rows: args.M, dim: args.K, eps: n.eps });
  args.x = n.scratch;
  return undefined;
}

export interface LinearManyArgs {
  x: Binding;
  ws: GpuWeight[];
  outs: Binding[];
  M: number;
  K: number;
  norm?: PreNorm;
  variant?: MatmulVariant;
}

/**
 * outs[i][M, ws[i].shape[0]] = x · ws[i]ᵀ for weights sharing x (Q, K, V): one fused dispatch where
 * the plan runs 'gemv' on whole buffer weights (the norm folded in), or for decode-sized M on weight
 * textures (matmulTextureMany), else one linear() each.
 */
export function linearMany(step: Step, given: LinearManyArgs): void {
  const a = { ...given, ws: given.ws.map(live) };
  if (a.ws.length !== a.outs.length) throw new Error(`linearMany: ${a.ws.length} weights, ${a.outs.length} outputs`);
  for (const w of a.ws) checkWeight(w, w.shape[0]!, a.K);
  const args = { x: a.x, M: a.M, K: a.K };
  // GEMVs fold the norm, fused or one per weight.
  const norm = a.norm && preNorm(step, a.norm, gemvs(step, a.ws, a.M, a.K, a.variant), args);
  many(step, args.x, a.ws, a.outs, a.M, a.K, norm, a.variant);
}

/** Whether the GEMV kernel serves every one of ws (whole buffer weights; the plan's choice for M rows). */
function gemvs(step: Step, ws: GpuWeight[], M: number, K: number, variant?: MatmulVariant): boolean {
  return ws.every((w) => w.shards.length === 1 && !weightTexture(w)) && (variant ?? linearVariant(step.gpu, ws[0]!, M, K)) === 'gemv';
}

/** linearMany once x is what the weights read (`norm`: folded into GEMVs, which then run). */
function many(step: Step, x: Binding, ws: GpuWeight[], outs: Binding[], M: number, K: number, norm: GemvNorm | undefined, variant?: MatmulVariant): void {
  // Adapted weights run one linear each, their LoRA terms in the epilogue.
  const few = ws.length <= 3 && ws.every((w) => w.dtype === ws[0]!.dtype && !loraDelta(w));
  const fused = few && gemvs(step, ws, M, K, variant);
  const textures = ws.map((w) => weightTexture(w));
  const texturesFused = few && M <= TEXTURE_MANY_MAX_ROWS && (variant ?? 'texture') === 'texture' && textures.every((t) => t !== undefined);
  const Ns = ws.map((w) => w.shape[0]!);
  if (fused) {
    matmulGemvMany(step, x, ws.map((w) => w.shards[0]!.buffer), outs, Ns, M, K, ws[0]!.dtype, norm);
  } else if (texturesFused) {
    matmulTextureMany(step, x, textures as WeightTexture[], outs, Ns, M, K, textureTiling(M, K, false, subgroupsOf8(step.gpu), ws[0]!.dtype));
  } else {
    const lora = loraOf(step, x, ws, M, K, norm);
    ws.forEach((w, i) => {
      const one = lora?.terms[i] && { d: lora.d, terms: [lora.terms[i]] };
      run(step, { x, out: outs[i]!, M, K, N: Ns[i]!, variant: norm ? 'gemv' : variant }, [w], { bias: false, accumulate: false, geglu: false }, norm, one);
    });
  }
}

/** The most rows the fused texture dispatch takes: the decode tilings (a GEMM tiling × 3 weights compiles for minutes on llvmpipe). */
const TEXTURE_MANY_MAX_ROWS = 4;

/** A bias is [N]; a weight is [N, K] or, read as [N, K], a conv kernel [N, …] (matrixShape). */
function checkWeight(w: GpuWeight, N: number, K?: number): void {
  const [n, k] = matrixShape(w.shape);
  const ok = K === undefined ? w.shape.length === 1 && n === N : w.shape.length >= 2 && n === N && k === K;
  if (!ok) throw new Error(`matmul: weight ${w.name} has shape [${w.shape.join(', ')}], expected [${K === undefined ? N : `${N}, ${K}`}]`);
  if (w.shards.length === 0 && !weightTexture(w)) throw new Error(`matmul: weight ${w.name} has no data`);
}

interface RunArgs {
  x: Binding;
  out: Binding;
  bias?: GpuWeight;
  M: number;
  K: number;
  N: number;
  variant?: MatmulVariant;
  tiling?: TextureTiling;
}

function run(step: Step, a: RunArgs, ws: GpuWeight[], base: Epilogue, norm?: GemvNorm, lora?: LoraParts): void {
  if (a.M === 0 || a.N === 0) return;
  if (a.bias && a.bias.shards.length !== 1) throw new Error(`matmul: sharded bias ${a.bias.name} is not supported`);
  const [w, up] = ws as [GpuWeight, GpuWeight?];
  const bias = a.bias?.shards[0]!.buffer;
  const [lw, lu] = lora?.terms ?? [];
  const e: Epilogue = { ...base, lora: lw, loraUp: lu };
  const loraB = { loraD: lora?.d };
  const tex = weightTexture(w);
  if (tex) {
    const upTex = up && weightTexture(up);
    if (up && !upTex) throw new Error(`matmul: ${w.name} is a texture but ${up.name} is not`);
    if (a.variant && a.variant !== 'texture') throw new Error(`matmul: ${w.name} is packed into a texture, variant ${a.variant} reads buffers`);
    const s: MatmulShape = { M: a.M, K: a.K, N: a.N, ldo: a.N, colOff: 0 };
    const b = { x: a.x, bias, out: a.out, ...loraB };
    if (upTex && a.M <= TEXTURE_MANY_MAX_ROWS) {
      // Decode GEGLU as x·gateᵀ into out, then x·upᵀ gated by it in its epilogue: one kernel
      // holding both products' accumulators spills on lavapipe (bench/ab.ts, 10 interleaved rounds:
      // the pair of dispatches takes 0.96× its time at one row, 0.88× at four).
      const t = a.tiling ?? textureTiling(a.M, a.K, false, subgroupsOf8(step.gpu), w.dtype);
      matmulTexture(step, b, tex, undefined, s, { ...e, geglu: false, loraUp: undefined }, t);
      matmulTexture(step, b, upTex, undefined, s, { ...e, geglu: false, gatedByOut: true, lora: lu, loraUp: undefined }, t);
      return;
    }
    matmulTexture(step, b, tex, upTex, s, e, a.tiling ?? textureTiling(a.M, a.K, e.geglu, subgroupsOf8(step.gpu), w.dtype));
    return;
  }
  const variant = a.variant ?? linearVariant(step.gpu, w, a.M, a.K);
  if (variant === 'texture') throw new Error(`matmul: ${w.name} was not packed by prepareWeights`);
  if (variant === 'lanes' && w.dtype !== 'bf16') throw new Error(`matmul: variant lanes reads bf16 rows, ${w.name} is ${w.dtype}`);
  if (a.M > variantMaxRows(variant)) throw new Error(`matmul: variant ${variant} takes at most ${variantMaxRows(variant)} rows, got M=${a.M}`);
  w.shards.forEach((shard, i) => {
    const b: MatmulBuffers = { x: a.x, w: shard.buffer, up: up?.shards[i]!.buffer, bias, out: a.out, ...loraB };
    const s: MatmulShape = { M: a.M, K: a.K, N: shard.rows, ldo: a.N, colOff: shard.rowStart };
    if (variant === 'gemv') matmulGemv(step, b, s, e, w.dtype, norm);
    else if (variant === 'lanes') matmulLanes(step, b, s, e);
    else matmulTiled(step, b, s, e, w.dtype);
  });
}
