// Row norms: Gemma RMSNorm x·rsqrt(mean(x²)+eps)·(1+w), SigLIP LayerNorm (x−mean)/sqrt(var+eps)·w+b
// (biased variance, two-pass so large means do not cancel), and a fused residual add + RMSNorm for
// decode. One workgroup per row; each lane keeps its ceil(dim/256) elements in registers, so x is
// read from storage once (per-lane storage loads are the expensive thing on lavapipe).

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import type { GpuWeight } from '../weights.js';
import { bf16At, singleShard } from './bf16.js';
import { grid } from './grid.js';
import { reduceF32Wgsl, rowMainWgsl, sgArg } from './reduce.js';
import { wgsl } from './wgsl.js';

const P = { rows: 'u32', dim: 'u32', eps: 'f32' } as const;
const WG = 256;

// rmsAcc: out += rmsNorm(x), Gemma 2's norm of a block's output before the residual add.
export type NormMode = 'rms' | 'rmsAcc' | 'layer' | 'addRms';

export function normWgsl(mode: NormMode, per: number, sg: boolean): string {
  const rms = mode === 'rms' || mode === 'rmsAcc';
  return wgsl`
#if ${sg}
enable subgroups;
#endif
${paramsWgsl(P)}
#if ${rms}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
#elif ${mode === 'layer'}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> delta: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif
${bf16At('w')}
#if ${mode === 'layer'}
${bf16At('b')}
#endif
${reduceF32Wgsl(WG, sg)}

${rowMainWgsl(WG, sg)}
  let base = row * p.dim;
  var v: array<f32, ${per}>;
  var s = 0.0;
  for (var j = 0u; j < ${per}u; j++) {
    let i = lid + j * ${WG}u;
    var a = 0.0;
#if ${mode === 'addRms'}
    if (i < p.dim) { a = x[base + i] + delta[base + i]; x[base + i] = a; }
#else
    if (i < p.dim) { a = x[base + i]; }
#endif
    v[j] = a;
#if ${mode === 'layer'}
    s += a;
#else
    s += a * a;
#endif
  }
#if ${mode === 'layer'}
  let mean = wgSum(s, lid, ${sgArg(sg)}) / f32(p.dim);
  var s2 = 0.0;
  for (var j = 0u; j < ${per}u; j++) {
    let d = select(0.0, v[j] - mean, lid + j * ${WG}u < p.dim);
    s2 += d * d;
  }
  let r = inverseSqrt(wgSum(s2, lid, ${sgArg(sg)}) / f32(p.dim) + p.eps);
  for (var j = 0u; j < ${per}u; j++) {
    let i = lid + j * ${WG}u;
    if (i < p.dim) { out[base + i] = (v[j] - mean) * r * wAt(i) + bAt(i); }
  }
#else
  let r = inverseSqrt(wgSum(s, lid, ${sgArg(sg)}) / f32(p.dim) + p.eps);
  for (var j = 0u; j < ${per}u; j++) {
    let i = lid + j * ${WG}u;
#if ${mode === 'rmsAcc'}
    if (i < p.dim) { out[base + i] += v[j] * r * (1.0 + wAt(i)); }
#else
    if (i < p.dim) { out[base + i] = v[j] * r * (1.0 + wAt(i)); }
#endif
  }
#endif
}`;
}

function run(step: Step, mode: NormMode, bindings: Binding[], rows: number, dim: number, eps: number): void {
  const gpu = step.gpu;
  // Registers per lane, rounded up to a power of two so that few pipelines get compiled.
  const per = 2 ** Math.ceil(Math.log2(Math.ceil(dim / WG)));
  const sg = gpu.features.subgroups;
  const k = gpu.kernel({
    name: `norm-${mode}-${per}${sg ? '-sg' : ''}`,
    bindings: mode === 'rms' || mode === 'rmsAcc' ? ['read', 'read', 'write'] : mode === 'layer' ? ['read', 'read', 'read', 'write'] : ['write', 'read', 'read', 'write'],
    code: () => normWgsl(mode, per, sg),
  });
  step.dispatch(k, bindings, params({ rows, dim, eps }, P), grid(rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension));
}

/**
 * out = x·rsqrt(mean(x²)+eps)·(1+w) per row (Gemma; w is the stored zero-centred weight); with
 * `accumulate`, out += that (Gemma 2's post-attention / post-feedforward norm into the residual).
 */
export function rmsNorm(step: Step, a: { x: Binding; w: GpuWeight; out: Binding; rows: number; dim: number; eps: number; accumulate?: boolean }): void {
  run(step, a.accumulate ? 'rmsAcc' : 'rms', [a.x, singleShard(a.w), a.out], a.rows, a.dim, a.eps);
}

/** out = (x−mean)/sqrt(var+eps)·w + b per row (biased variance; SigLIP). */
export function layerNorm(step: Step, a: { x: Binding; w: GpuWeight; b: GpuWeight; out: Binding; rows: number; dim: number; eps: number }): void {
  run(step, 'layer', [a.x, singleShard(a.w), singleShard(a.b), a.out], a.rows, a.dim, a.eps);
}

/** x += delta (x is the residual stream, updated in place), then out = rmsNorm(x). */
export function addRmsNorm(step: Step, a: { x: Binding; delta: Binding; w: GpuWeight; out: Binding; rows: number; dim: number; eps: number }): void {
  run(step, 'addRms', [a.x, a.delta, singleShard(a.w), a.out], a.rows, a.dim, a.eps);
}
