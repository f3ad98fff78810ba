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
  /** GEGLU's second half: out holds x·gateᵀ from an earlier dispatch, out = gelu_tanh(out) ⊙ (x·wᵀ). */
  gatedByOut?: boolean;
  /** v → c·tanh(v/c) after the bias (Gemma 2's final logits); 0 or absent = none. */
  softcap?: number;
  /** A LoRA term added to x·wᵀ (x·gateᵀ with GEGLU) before anything else (lora.ts). */
  lora?: LoraTerm;
  /** GEGLU: the LoRA term added to x·upᵀ. */
  loraUp?: LoraTerm;
}

/**
 * The low-rank half of y = x·Wᵀ + (x·Aᵀ)·B'ᵀ in a matmul's epilogue: (x·Aᵀ)·B'ᵀ already computed
 * (matmul.ts loraOf), rows of ldo floats from element `offset` of the lora_d binding, one value
 * read per output. The offset is a param, so one pipeline serves every adapted weight (they
 * compile for a minute each on llvmpipe). A loop over the rank here (the first design) cost a
 * per-lane load of B'ᵀ per output and rank: +21 % on a decode step's MLP on llvmpipe at r = 16.
 */
export interface LoraTerm {
  offset: number;
}

/** The buffers of one dispatch; `up` only with GEGLU, `bias` only with a bias, the LoRA ones with its terms. */
export interface MatmulBuffers {
  x: Binding;
  w: Binding;
  up?: Binding;
  bias?: Binding;
  /** (x·Aᵀ)·B'ᵀ of Epilogue.lora and loraUp. */
  loraD?: Binding;
  out: Binding;
}

export const P = { M: 'u32', K: 'u32', N: 'u32', ldo: 'u32', colOff: 'u32', loraOff: 'u32', loraOffUp: 'u32', flags: 'u32' } as const;

/** P.flags: add the bias; add to out instead of writing it. */
const BIAS = 1;
const ACCUMULATE = 2;

/** The P values of a dispatch: its shape, its LoRA terms (zeros without), bias and accumulate. */
export function shapeParams(s: MatmulShape, e: Epilogue): Record<keyof typeof P, number> {
  return { ...s, loraOff: e.lora?.offset ?? 0, loraOffUp: e.loraUp?.offset ?? 0, flags: (e.bias ? BIAS : 0) | (e.accumulate ? ACCUMULATE : 0) };
}

/**
 * What the epilogue's WGSL depends on. Bias and accumulate are params, not part of it: one pipeline
 * serves a layer's four uses of a GEMM (each compiled for seconds on llvmpipe, bench/README.md).
 */
export function epilogueKey(e: Epilogue): string {
  return `${e.geglu ? 'g' : ''}${e.gatedByOut ? 'o' : ''}${e.softcap ? `c${e.softcap}` : ''}${e.lora ? 'l' : ''}${e.loraUp ? 'u' : ''}`;
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
  // The bindings present are numbered in this order from firstBinding: bias, lora_d (with LoRA terms), out.
  const dBinding = firstBinding + 1;
  const outBinding = dBinding + Number(!!(e.lora || e.loraUp));
  // Interpolations are evaluated in every variant: the literal only exists with a soft-cap.
  const cap = e.softcap ? wgslFloat(e.softcap) : '';
  return wgsl`
@group(0) @binding(${firstBinding}) var<storage, read> bias: array<u32>;
#if ${e.lora || e.loraUp}
@group(0) @binding(${dBinding}) var<storage, read> lora_d: array<f32>;
#endif
@group(0) @binding(${outBinding}) var<storage, read_write> out: array<f32>;
${bf16At('bias')}
#if ${e.softcap}
${softcapWgsl}
#endif
#if ${e.geglu || e.gatedByOut}
// tanh form of GELU, as Gemma's gelu_pytorch_tanh; tanh saturates, so large |g| stays finite.
fn gelu(g: f32) -> f32 { return 0.5 * g * (1.0 + tanh(0.7978845608028654 * (g + 0.044715 * g * g * g))); }
#endif
fn store(m: u32, n: u32, g0: f32, u0: f32) {
  let c = p.colOff + n;
#if ${e.lora}
  let g = g0 + lora_d[p.loraOff + m * p.ldo + c];
#else
  let g = g0;
#endif
#if ${e.loraUp}
  let u = u0 + lora_d[p.loraOffUp + m * p.ldo + c];
#else
  let u = u0;
#endif
  let o = m * p.ldo + c;
#if ${e.geglu}
  var v = gelu(g) * u;
#elif ${e.gatedByOut}
  var v = gelu(out[o]) * g;
#else
  var v = g;
#endif
  if ((p.flags & ${BIAS}u) != 0u) { v += bf16_bias(c); }
#if ${e.softcap}
  v = softcap(v, ${cap});
#endif
  if ((p.flags & ${ACCUMULATE}u) != 0u) { v += out[o]; }
  out[o] = v;
}`;
}

/** A WGSL f32 literal for a finite number (1 → "1.0", 1e-7 → "1e-7"). */
function wgslFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`not a finite number: ${x}`);
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** The bindings in the order the WGSL above declares them, after the kernel's leading ones (a 4-byte stand-in without a bias). */
export function epilogueBindings(gpu: Gpu, b: Pick<MatmulBuffers, 'bias' | 'loraD' | 'out'>): Binding[] {
  return [b.bias ?? gpu.scratch('matmul: no bias', 4), b.loraD, b.out].filter((x): x is Binding => x !== undefined);
}

/** Their kinds, for the kernel definition. */
export function epilogueKinds(e: Epilogue): Storage[] {
  return ['read', ...(e.lora || e.loraUp ? (['read'] as const) : []), 'write'];
}

/** The most f32 of x a uniform binding holds: 64 KiB, WebGPU's default maxUniformBufferBindingSize. */
export const UNIFORM_X_FLOATS = 16384;

/**
 * Copies `floats` f32 of x into the device's 64 KiB uniform scratch and returns it, for GEMVs
 * that read x at lane-uniform addresses: on lavapipe a uniform-buffer load costs about half a
 * uniform-address storage load (docs spec: 9 vs 16 ns). Copies are ordered with the dispatches
 * around them, so every GEMV of a step can reuse the one scratch.
 */
export function uniformX(step: Step, x: Binding, floats: number): GPUBuffer {
  if (floats > UNIFORM_X_FLOATS) throw new Error(`uniformX: ${floats} floats exceed the ${UNIFORM_X_FLOATS} a uniform binding holds`);
  const u = step.gpu.scratch('matmul x (uniform)', UNIFORM_X_FLOATS * 4, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  const src = 'buffer' in x ? x : { buffer: x as GPUBuffer, offset: 0 };
  step.copy(src.buffer, src.offset ?? 0, u, 0, floats * 4);
  return u;
}

/** How many rows uniformXRows serves. */
export const UNIFORM_X_ROWS = 4;

/**
 * Like uniformX for an x of M rows of K floats that only fits as one uniform binding per row
 * (a decode batch's down projection: 4 × 16384 floats): row r is copied to its own 64 KiB slot,
 * returned as one binding each.
 */
export function uniformXRows(step: Step, x: Binding, M: number, K: number): Binding[] {
  if (M > UNIFORM_X_ROWS || K > UNIFORM_X_FLOATS) throw new Error(`uniformXRows: ${M} rows of ${K} floats exceed ${UNIFORM_X_ROWS} of ${UNIFORM_X_FLOATS}`);
  const u = step.gpu.scratch('matmul x rows (uniform)', UNIFORM_X_ROWS * UNIFORM_X_FLOATS * 4, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  const src = 'buffer' in x ? x : { buffer: x as GPUBuffer, offset: 0 };
  return [...Array(M).keys()].map((r) => {
    step.copy(src.buffer, (src.offset ?? 0) + r * K * 4, u, r * UNIFORM_X_FLOATS * 4, K * 4);
    return { buffer: u, offset: r * UNIFORM_X_FLOATS * 4, size: UNIFORM_X_FLOATS * 4 };
  });
}
