// Token embedding lookup from a weight texture (kernels/weight-texture.ts): the layout the tied
// embedding takes on CPU adapters, where the LM head's GEMV reads it as a texture. One workgroup
// per row, one texel (8 bf16) per lane and step. Out-of-range ids (≥ vocab) give a row of zeros.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { unpackWgsl } from './matmul-common.js';
import { grid } from './grid.js';
import type { WeightTexture } from './weight-texture.js';

const P = { rows: 'u32', dim: 'u32', vocab: 'u32', scale: 'f32' } as const;
const WG = 64;

const code = /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var table: texture_2d_array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${unpackWgsl}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let id = ids[row];
  let dst = row * p.dim;
  let H = textureDimensions(table).y;
  for (var t = lid; 8u * t < p.dim; t += ${WG}u) {
    var e = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    if (id < p.vocab) {
      let v = textureLoad(table, vec2u(t, id % H), id / H, 0);
      e = array<f32, 8>(lo16(v.x), hi16(v.x), lo16(v.y), hi16(v.y), lo16(v.z), hi16(v.z), lo16(v.w), hi16(v.w));
    }
    for (var i = 0u; i < 8u && 8u * t + i < p.dim; i++) { out[dst + 8u * t + i] = e[i] * p.scale; }
  }
}`;

/** out[r] = table[ids[r]]·scale for r < rows, the table [vocab, dim] in a weight texture. */
export function embedTexture(step: Step, a: { ids: Binding; table: WeightTexture; vocab: number; out: Binding; rows: number; dim: number; scale: number }): void {
  const gpu = step.gpu;
  const k = gpu.kernel({ name: 'embed-texture', bindings: ['read', 'texture', 'write'], code });
  const p = params({ rows: a.rows, dim: a.dim, vocab: a.vocab, scale: a.scale }, P);
  step.dispatch(k, [a.ids, a.table.view, a.out], p, grid(a.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension));
}
