// Per chunk of the row, for the draw: the mass exp(z − max) of the tokens above the cut, and how
// many tokens sit exactly at the cut (sample-draw decides which of those stay).

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { reduceF32Wgsl, sgArg } from './reduce.js';
import { chunkCount, cutWgsl, PER, sampleStateWgsl, scoreMaxWgsl, WG, type CutMode } from './sample-common.js';
import { wgsl } from './wgsl.js';

const P = { cols: 'u32', nChunks: 'u32', mode: 'u32' } as const;

export function sampleChunksWgsl(sg: boolean): string {
  return wgsl`
#if ${sg}
enable subgroups;
#endif
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> z: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> st: SampleState;
@group(0) @binding(2) var<storage, read_write> chunks: array<u32>;
${sampleStateWgsl}
${scoreMaxWgsl}
${cutWgsl}
${reduceF32Wgsl(WG, sg)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32
#if ${sg}
  , @builtin(subgroup_size) sgSize: u32
#endif
) {
  let m = scoreMax(lid);
  let cutKey = cut().x;
  var mass = 0.0;
  var ties = 0u;
  for (var j = 0u; j < ${PER / 4}u; j++) {
    let v = wid.x * ${(WG * PER) / 4}u + j * ${WG}u + lid;
    let x = z[v];
    for (var i = 0u; i < 4u; i++) {
      if (4u * v + i >= p.cols) { break; }
      let key = keyOf(x[i]);
      if (key > cutKey) { mass += exp(x[i] - m); }
      if (key == cutKey) { ties++; }
    }
  }
  mass = wgSum(mass, lid, ${sgArg(sg)});
  let tied = wgSum(f32(ties), lid, ${sgArg(sg)});
  if (lid == 0u) {
    chunks[4u * wid.x + 1u] = bitcast<u32>(mass);
    chunks[4u * wid.x + 2u] = u32(tied);
  }
}`;
}

export function sampleChunks(step: Step, a: { z: Binding; state: Binding; chunks: Binding; cols: number; mode: CutMode }): void {
  const gpu = step.gpu;
  const sg = gpu.features.subgroups;
  const k = gpu.kernel({ name: `sample-chunks${sg ? '-sg' : ''}`, bindings: ['read', 'read', 'write'], code: () => sampleChunksWgsl(sg) });
  const nChunks = chunkCount(a.cols);
  step.dispatch(k, [a.z, a.state, a.chunks], params({ cols: a.cols, nChunks, mode: a.mode }, P), [nChunks]);
}
