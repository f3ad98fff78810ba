// The softmax probabilities of ONE query row of one head over all keys (the playground's attention
// view: which image patches a generated token looked at). Scores are recomputed rather than kept
// by the flash kernels, which never materialise them. One workgroup: lanes stride over the keys,
// max and sum are reduced through workgroup memory.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { seesWgsl } from './attention-mask.js';
import { softcapWgsl } from './softcap.js';

const P = {
  seqK: 'u32',
  headDim: 'u32',
  qOffset: 'u32',
  kOffset: 'u32',
  kvStride: 'u32',
  prefixLen: 'u32',
  qPos: 'u32',
  keyStart: 'u32',
  window: 'u32',
  scale: 'f32',
  softcap: 'f32',
} as const;
const WG = 256;

export const attentionWeightsWgsl = /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> red: array<f32, ${WG}>;
${softcapWgsl}
${seesWgsl}
fn visible(j: u32) -> bool { return sees(j, p.qPos, p.keyStart, p.prefixLen, p.window); }

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) tid: u32) {
  var mx = -3.0e38;
  for (var j = tid; j < p.seqK; j += ${WG}u) {
    var s = 0.0;
    for (var d = 0u; d < p.headDim; d++) { s += q[p.qOffset + d] * k[p.kOffset + j * p.kvStride + d]; }
    s *= p.scale;
    if (p.softcap > 0.0) { s = softcap(s, p.softcap); }
    out[j] = s;
    if (visible(j)) { mx = max(mx, s); }
  }
  red[tid] = mx;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (tid < w) { red[tid] = max(red[tid], red[tid + w]); }
    workgroupBarrier();
  }
  mx = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = tid; j < p.seqK; j += ${WG}u) {
    let e = select(0.0, exp(out[j] - mx), visible(j));
    out[j] = e;
    sum += e;
  }
  red[tid] = sum;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (tid < w) { red[tid] += red[tid + w]; }
    workgroupBarrier();
  }
  let inv = select(0.0, 1.0 / red[0], red[0] > 0.0);
  for (var j = tid; j < p.seqK; j += ${WG}u) { out[j] *= inv; }
}`;

export interface AttentionWeightsArgs {
  /** Query rows [*, heads·headDim] (row stride qStride). */
  q: Binding;
  /** Keys [seqK, kvHeads·headDim] (row stride kvStride). */
  k: Binding;
  /** seqK floats: the probabilities (0 for masked keys). */
  out: Binding;
  heads: number;
  kvHeads: number;
  headDim: number;
  scale: number;
  seqK: number;
  /** Which head, and which row of q. */
  head: number;
  qRow?: number;
  /** Absolute position of the query (default seqK − 1, the newest token); the mask is the prefill's. */
  qPos?: number;
  prefixLen?: number;
  keyStart?: number;
  /** As in attention(): soft-capped scores, keys at distance ≥ window hidden (Gemma 2); 0 = none. */
  softcap?: number;
  window?: number;
  qStride?: number;
  kvStride?: number;
}

export function attentionWeights(step: Step, a: AttentionWeightsArgs): void {
  const qStride = a.qStride ?? a.heads * a.headDim;
  const kvStride = a.kvStride ?? a.kvHeads * a.headDim;
  const kvh = Math.floor(a.head / (a.heads / a.kvHeads));
  const k = step.gpu.kernel({ name: 'attention_weights', bindings: ['read', 'read', 'write'], code: attentionWeightsWgsl });
  const u = params(
    {
      seqK: a.seqK,
      headDim: a.headDim,
      qOffset: (a.qRow ?? 0) * qStride + a.head * a.headDim,
      kOffset: kvh * a.headDim,
      kvStride,
      prefixLen: a.prefixLen ?? 0,
      qPos: a.qPos ?? a.seqK - 1,
      keyStart: a.keyStart ?? 0,
      window: a.window || 0xffffffff,
      scale: a.scale,
      softcap: a.softcap ?? 0,
    },
    P,
  );
  step.dispatch(k, [a.q, a.k, a.out], u, [1]);
}
