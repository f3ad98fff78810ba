// The distribution a draw picks from: probs[i] = exp(z_i − max) / Σ kept, 0 for every token the
// setting drops (for `paligemma sample-probs`, tests and the playground). Runs after sampleDraw,
// which leaves the kept total and the per-chunk tie counts.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { chunkCount, chunkWalkWgsl, cutWgsl, PER, sampleStateWgsl, scoreMaxWgsl, WG, type CutMode } from './sample-common.js';

const P = { cols: 'u32', nChunks: 'u32', mode: 'u32' } as const;

export const sampleProbsWgsl = `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> st: SampleState;
@group(0) @binding(2) var<storage, read> chunks: array<u32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
${sampleStateWgsl}
${scoreMaxWgsl}
${cutWgsl}
${chunkWalkWgsl}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  keptMasses(wid.x, scoreMax(lid), cut(), chunks[4u * wid.x + 3u], lid);
  let base = wid.x * ${PER * WG}u + lid * ${PER}u;
  for (var j = 0u; j < ${PER}u; j++) {
    if (base + j < p.cols) { probs[base + j] = kept[j] / st.total; }
  }
}`;

export function sampleProbsKernel(step: Step, a: { z: Binding; state: Binding; chunks: Binding; probs: Binding; cols: number; mode: CutMode }): void {
  const k = step.gpu.kernel({ name: 'sample-probs', bindings: ['read', 'read', 'read', 'write'], code: sampleProbsWgsl });
  const nChunks = chunkCount(a.cols);
  step.dispatch(k, [a.z, a.state, a.chunks, a.probs], params({ cols: a.cols, nChunks, mode: a.mode }, P), [nChunks]);
}
