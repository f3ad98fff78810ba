// Token embedding lookup from a weight texture (kernels/weight-texture.ts): the layout the tied
// embedding takes on CPU adapters, where the LM head's GEMV reads it as a texture. One workgroup
// per row, one texel (8 bf16, 16 int8 or 32 int4 codes, dequantized) per lane and step.
// Out-of-range ids (≥ vocab) give a row of zeros.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import type { WeightFormat } from '../weights.js';
import { grid } from './grid.js';
import { decodeSlice, elementsPerTexel, formatWgsl, rowWgsl, scaleKind, slicesPerTexel } from './weight-format.js';
import { READ_TEXTURE, texelAtWgsl, texelLoadWgsl, type WeightTexture } from './weight-texture.js';
import { wgsl } from './wgsl.js';

// L: the table's layers per column block (weight-texture.ts).
const P = { rows: 'u32', dim: 'u32', vocab: 'u32', scale: 'f32', L: 'u32' } as const;
const WG = 64;

export function embedTextureWgsl(f: WeightFormat): string {
  const E = elementsPerTexel(f);
  const kind = scaleKind(f);
  const at = (x: string) => `tableTexel(${x}, id)`;
  const slices = [...Array(slicesPerTexel(f)).keys()].flatMap((sub) => decodeSlice(f, 'v', sub));
  return wgsl`
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var table: ${READ_TEXTURE};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${formatWgsl}
${rowWgsl(f)}
${texelAtWgsl}
${texelLoadWgsl('table', 'p.L')}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let id = ids[row];
  let dst = row * p.dim;
#if ${kind === 'none'}
  let ct = (p.dim + 7u) / 8u;
#else
  let ct = codeTexels(p.dim);
#endif
  for (var t = lid; t < ct; t += ${WG}u) {
    var e: array<vec4f, ${E / 4}>;
    if (id < p.vocab) {
      let v = ${at('t')};
#if ${kind === 'none'}
      let s = 1.0;
#elif ${kind === 'row'}
      let s = bitcast<f32>(${at('ct')}.x);
#else
      let s = bitcast<f32>(${at('ct + t / 4u')}[t % 4u]);
#endif
      e = array<vec4f, ${E / 4}>(${slices.map((x) => `${x} * s`).join(', ')});
    }
    for (var i = 0u; i < ${E}u && ${E}u * t + i < p.dim; i++) { out[dst + ${E}u * t + i] = e[i / 4u][i % 4u] * p.scale; }
  }
}`;
}

/** out[r] = table[ids[r]]·scale for r < rows, the table [vocab, dim] in a weight texture. */
export function embedTexture(step: Step, a: { ids: Binding; table: WeightTexture; vocab: number; out: Binding; rows: number; dim: number; scale: number }): void {
  const gpu = step.gpu;
  const f = a.table.format;
  const k = gpu.kernel({ name: `embed-texture-${f}`, bindings: ['read', 'texture', 'write'], code: () => embedTextureWgsl(f) });
  const p = params({ rows: a.rows, dim: a.dim, vocab: a.vocab, scale: a.scale, L: a.table.L }, P);
  step.dispatch(k, [a.ids, a.table.view, a.out], p, grid(a.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension));
}
