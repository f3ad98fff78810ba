// Sampling one token from one logits row on the GPU (no logits readback), in HF's order:
// temperature, then top-k, then top-p (nucleus), then the inverse CDF at a uniform u ∈ [0, 1)
// drawn by the caller's seeded CPU PRNG.
//
// Candidates always come from topK (argmax.ts) with k ≤ 64: topK = 0 ("all") or > 64 is capped at
// 64, so tokens ranked below 64 are never drawn. With a peaked LM distribution their mass is
// negligible, and it keeps the step at two small passes over the vocab instead of a full-vocab
// softmax, scan and sort; it is an approximation only for very flat distributions (high
// temperature without top-k). temperature ≤ 0 or topK = 1 is greedy (argmax).
//
// Filter on the sorted candidates (descending, ties by index), with probabilities q_j =
// softmax(v/T) over the k candidates: keep token j while the mass of the tokens before it is < topP
// (HF's "remove where ascending cumsum ≤ 1 − top_p"; the first token is always kept); then the
// token is the first j with u·Σkept q < q_0 + … + q_j.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { argmax, topK } from './argmax.js';

const P = { k: 'u32', invTemperature: 'f32', topP: 'f32', uniform: 'f32' } as const;
const CAP = 64;

const code = /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> idx: array<u32>;
@group(0) @binding(1) var<storage, read> val: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

// One lane: k ≤ 64 candidates, every load at a uniform address.
@compute @workgroup_size(1)
fn main() {
  var q: array<f32, ${CAP}>;
  var total = 0.0;
  for (var j = 0u; j < p.k; j++) {
    q[j] = exp((val[j] - val[0]) * p.invTemperature);
    total += q[j];
  }
  var kept = 0u;
  var mass = 0.0;
  for (var j = 0u; j < p.k; j++) {
    if (j > 0u && mass >= p.topP) { break; }
    q[j] = q[j] / total;
    mass += q[j];
    kept = j + 1u;
  }
  let goal = p.uniform * mass;
  var cum = 0.0;
  var pick = kept - 1u;
  for (var j = 0u; j < kept; j++) {
    cum += q[j];
    if (goal < cum) { pick = j; break; }
  }
  out[0] = idx[pick];
}`;

const scratch = new WeakMap<object, [GPUBuffer, GPUBuffer]>();

/** Writes one sampled token id (u32) to out[0]. */
export function sample(
  step: Step,
  a: { logits: Binding; cols: number; temperature: number; topK: number; topP: number; uniform: number; out: Binding },
): void {
  const gpu = step.gpu;
  if (a.temperature <= 0 || a.topK === 1) {
    argmax(step, { x: a.logits, rows: 1, cols: a.cols, out: a.out });
    return;
  }
  const k = Math.min(a.topK === 0 ? CAP : a.topK, CAP, a.cols);
  let bufs = scratch.get(gpu);
  if (!bufs) scratch.set(gpu, (bufs = [gpu.buffer(CAP * 4, 'sample idx'), gpu.buffer(CAP * 4, 'sample val')]));
  const [idx, val] = bufs;
  topK(step, { x: a.logits, cols: a.cols, k, outIdx: idx, outVal: val });
  const kern = gpu.kernel({ name: 'sample', bindings: ['read', 'read', 'write'], code });
  step.dispatch(kern, [idx, val, a.out], params({ k, invTemperature: 1 / a.temperature, topP: a.topP, uniform: a.uniform }, P), [1]);
}
