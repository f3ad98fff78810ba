// What every matmul variant shares: the option flags, the params struct, and the WGSL of the bf16
// unpack and the epilogue (bias, accumulate, GEGLU), so that each variant's file holds only its loop.

import type { Binding, Gpu, Step, Storage } from '../device.js';
import { softcapWgsl } from './softcap.js';
import { wgsl } from './wgsl.js';

/** out[m, colOff + n] (+)= epilogue(x[m]·w[n]), n < N: one dispatch covers one shard's columns. */
export interface MatmulShape {
  M: number;
  K: number;
  /** Columns this dispatch computes (a shard's rows). */
  N: number;
  /** Row stride of out (the full N when w is sharded). */
  ldo: number;
  /** First output column (the shard's rowStart). */
  colOff: number;
}

export interface Epilogue {
  bias: boolean;
  accumulate: boolean;
  /** Two weights (gate, up); out = gelu_tanh(x·gateᵀ) ⊙ (x·upᵀ). */
  geglu: boolean;
  /** v → c·tanh(v/c) after the bias (Gemma 2's final logits); 0 or absent = none. */
  softcap?: number;
  /** A LoRA term added to x·wᵀ (x·gateᵀ with GEGLU) before anything else (lora.ts). */
  lora?: LoraTerm;
  /** GEGLU: the LoRA term added to x·upᵀ. */
  loraUp?: LoraTerm;
}

/**
 * The low-rank half of y = x·Wᵀ + (x·Aᵀ)·B'ᵀ in a matmul's epilogue: t = x·Aᵀ in three parts (A's
 * bf16 thirds, kernels/lora.ts), rows of `stride` = 3·rank floats from element `offset`, the parts
 * side by side; B'ᵀ [rank, ldo] f32 (the adapters' scales folded in). Passed as params, so one
 * pipeline serves every adapted weight (they compile for a minute each on llvmpipe).
 */
export interface LoraTerm {
  rank: number;
  offset: number;
  stride: number;
}

/** The buffers of one dispatch; `up` only with GEGLU, `bias` only with a bias, the LoRA ones with its terms. */
export interface MatmulBuffers {
  x: Binding;
  w: Binding;
  up?: Binding;
  bias?: Binding;
  /** t = x·Aᵀ of every LoRA term, and B'ᵀ of Epilogue.lora / loraUp. */
  loraT?: Binding;
  loraB?: Binding;
  loraBUp?: Binding;
  out: Binding;
}

export const P = { M: 'u32', K: 'u32', N: 'u32', ldo: 'u32', colOff: 'u32', loraRank: 'u32', loraOff: 'u32', loraStride: 'u32', loraRankUp: 'u32', loraOffUp: 'u32', loraStrideUp: 'u32' } as const;

/** The P values of a dispatch: its shape and its LoRA terms (zeros without). */
export function shapeParams(s: MatmulShape, e: Epilogue): Record<keyof typeof P, number> {
  const { lora: l, loraUp: u } = e;
  return { ...s, loraRank: l?.rank ?? 0, loraOff: l?.offset ?? 0, loraStride: l?.stride ?? 0, loraRankUp: u?.rank ?? 0, loraOffUp: u?.offset ?? 0, loraStrideUp: u?.stride ?? 0 };
}

export function epilogueKey(e: Epilogue): string {
  return `${e.bias ? 'b' : ''}${e.accumulate ? 'a' : ''}${e.geglu ? 'g' : ''}${e.softcap ? `c${e.softcap}` : ''}${e.lora ? 'l' : ''}${e.loraUp ? 'u' : ''}`;
}

/** WGSL: bf16 element e of a packed u32 array (element e lives in word e >> 1, low half when even). */
export function bf16At(array: string): string {
  return `fn bf16_${array}(e: u32) -> f32 {
  let w = ${array}[e >> 1u];
  return bitcast<f32>(select(w & 0xffff0000u, w << 16u, (e & 1u) == 0u));
}`;
}

/** WGSL: both bf16 halves of a word as (low, high) = (element 2i, element 2i+1). */
export const unpackWgsl = /* wgsl */ `
fn lo16(w: u32) -> f32 { return bitcast<f32>(w << 16u); }
fn hi16(w: u32) -> f32 { return bitcast<f32>(w & 0xffff0000u); }`;

/**
 * WGSL: `fn store(m, n, g, u)` writing out[m, colOff + n]; g is x·wᵀ (x·gateᵀ with GEGLU), u is x·upᵀ
 * (ignored without GEGLU). Declares the `bias` / `out` bindings after the kernel's own ones.
 */
export function epilogueWgsl(e: Epilogue, firstBinding: number): string {
  // The bindings present are numbered in this order from firstBinding.
  const tBinding = firstBinding + Number(e.bias);
  const bBinding = tBinding + Number(!!(e.lora || e.loraUp));
  const buBinding = bBinding + Number(!!e.lora);
  const outBinding = buBinding + Number(!!e.loraUp);
  // Interpolations are evaluated in every variant: the literal only exists with a soft-cap.
  const cap = e.softcap ? wgslFloat(e.softcap) : '';
  return wgsl`
#if ${e.bias}
@group(0) @binding(${firstBinding}) var<storage, read> bias: array<u32>;
#endif
#if ${e.lora || e.loraUp}
@group(0) @binding(${tBinding}) var<storage, read> lora_t: array<f32>;
#endif
#if ${e.lora}
@group(0) @binding(${bBinding}) var<storage, read> lora_b: array<f32>;
#endif
#if ${e.loraUp}
@group(0) @binding(${buBinding}) var<storage, read> lora_bu: array<f32>;
#endif
@group(0) @binding(${outBinding}) var<storage, read_write> out: array<f32>;
#if ${e.bias}
${bf16At('bias')}
#endif
#if ${e.softcap}
${softcapWgsl}
#endif
#if ${e.lora}
${loraWgsl('lora_b', 'p.loraRank', 'p.loraOff', 'p.loraStride')}
#endif
#if ${e.loraUp}
${loraWgsl('lora_bu', 'p.loraRankUp', 'p.loraOffUp', 'p.loraStrideUp')}
#endif
fn store(m: u32, n: u32, g0: f32, u0: f32) {
  let c = p.colOff + n;
#if ${e.lora}
  let g = g0 + lora_lora_b(m, c);
#else
  let g = g0;
#endif
#if ${e.loraUp}
  let u = u0 + lora_lora_bu(m, c);
#else
  let u = u0;
#endif
#if ${e.geglu}
  // tanh form of GELU, as Gemma's gelu_pytorch_tanh; tanh saturates, so large |g| stays finite.
  let gelu = 0.5 * g * (1.0 + tanh(0.7978845608028654 * (g + 0.044715 * g * g * g)));
  var v = gelu * u;
#else
  var v = g;
#endif
#if ${e.bias}
  v += bf16_bias(c);
#endif
#if ${e.softcap}
  v = softcap(v, ${cap});
#endif
  let o = m * p.ldo + c;
#if ${e.accumulate}
  out[o] += v;
#else
  out[o] = v;
#endif
}`;
}

/** A WGSL f32 literal for a finite number (1 → "1.0", 1e-7 → "1e-7"). */
function wgslFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`not a finite number: ${x}`);
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** WGSL `fn lora_${'${b}'}(m, c)`: row m of t times column c of B'ᵀ over the term's rank. */
function loraWgsl(b: string, rank: string, offset: string, stride: string): string {
  return `fn lora_${b}(m: u32, c: u32) -> f32 {
  var s = 0.0;
  let t0 = ${offset} + m * ${stride};
  for (var r = 0u; r < ${rank}; r++) {
    let t = lora_t[t0 + r] + lora_t[t0 + ${rank} + r] + lora_t[t0 + 2u * ${rank} + r];
    s = fma(t, ${b}[r * p.ldo + c], s);
  }
  return s;
}`;
}

/** The bindings in the order the WGSL above declares them, after the kernel's leading ones. */
export function epilogueBindings(b: Pick<MatmulBuffers, 'bias' | 'loraT' | 'loraB' | 'loraBUp' | 'out'>): Binding[] {
  return [b.bias, b.loraT, b.loraB, b.loraBUp, b.out].filter((x): x is Binding => x !== undefined);
}

/** Their kinds, for the kernel definition. */
export function epilogueKinds(e: Epilogue): Storage[] {
  const read = (on: unknown): Storage[] => (on ? ['read'] : []);
  return [...read(e.bias), ...read(e.lora || e.loraUp), ...read(e.lora), ...read(e.loraUp), 'write'];
}

/** The most f32 of x a uniform binding holds: 64 KiB, WebGPU's default maxUniformBufferBindingSize. */
export const UNIFORM_X_FLOATS = 16384;
const uniformScratch = new WeakMap<Gpu, GPUBuffer>();

/**
 * Copies `floats` f32 of x into the device's 64 KiB uniform scratch and returns it, for GEMVs
 * that read x at lane-uniform addresses: on lavapipe a uniform-buffer load costs about half a
 * uniform-address storage load (docs spec: 9 vs 16 ns). Copies are ordered with the dispatches
 * around them, so every GEMV of a step can reuse the one scratch.
 */
export function uniformX(step: Step, x: Binding, floats: number): GPUBuffer {
  if (floats > UNIFORM_X_FLOATS) throw new Error(`uniformX: ${floats} floats exceed the ${UNIFORM_X_FLOATS} a uniform binding holds`);
  const gpu = step.gpu;
  let u = uniformScratch.get(gpu);
  if (!u) {
    u = gpu.buffer(UNIFORM_X_FLOATS * 4, 'matmul x (uniform)', GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    uniformScratch.set(gpu, u);
  }
  const src = 'buffer' in x ? x : { buffer: x as GPUBuffer, offset: 0 };
  step.copy(src.buffer, src.offset ?? 0, u, 0, floats * 4);
  return u;
}
