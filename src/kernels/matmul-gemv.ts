// Portable GEMV for GPUs (decode, M = 1, and batched decode, M ≤ 8): one workgroup per output
// column; its threads stride over K (16-byte loads of 8 bf16 when K % 8 == 0, so neighbouring
// threads read neighbouring words — coalesced), accumulate the M rows in registers, then reduce with
// subgroupAdd and a tiny shared-memory step (a shared-memory tree where the adapter has no
// subgroups). Decode is bandwidth-bound, so each weight byte is read once for all M rows.

import type { Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { P, bf16At, epilogueBindings, epilogueKey, epilogueWgsl, unpackWgsl, type Epilogue, type MatmulBuffers, type MatmulShape } from './matmul-common.js';

const WG = 128;
export const GEMV_MAX_ROWS = 8;

interface Opts {
  rows: number;
  /** K % 8 == 0: weights read as vec4<u32>. */
  vec: boolean;
  subgroups: boolean;
}

function code(e: Epilogue, o: Opts): string {
  const up = e.geglu;
  const R = o.rows;
  const wType = o.vec ? 'array<vec4u>' : 'array<u32>';
  // One weight's partial sums over this thread's share of K.
  const loop = o.vec
    ? `for (var t = lid; t < p.K / 8u; t += ${WG}u) {
      let ww = w[n * (p.K / 8u) + t];
      ${up ? 'let uu = wu[n * (p.K / 8u) + t];' : ''}
      let wf0 = vec4f(lo16(ww.x), hi16(ww.x), lo16(ww.y), hi16(ww.y));
      let wf1 = vec4f(lo16(ww.z), hi16(ww.z), lo16(ww.w), hi16(ww.w));
      ${up ? 'let uf0 = vec4f(lo16(uu.x), hi16(uu.x), lo16(uu.y), hi16(uu.y));\n      let uf1 = vec4f(lo16(uu.z), hi16(uu.z), lo16(uu.w), hi16(uu.w));' : ''}
      for (var r = 0u; r < ${R}u; r++) {
        let xb = (r * p.K) / 4u + 2u * t;
        let x0 = x[xb];
        let x1 = x[xb + 1u];
        acc[r] += dot(x0, wf0) + dot(x1, wf1);
        ${up ? 'accu[r] += dot(x0, uf0) + dot(x1, uf1);' : ''}
      }
    }`
    : `for (var k = lid; k < p.K; k += ${WG}u) {
      let wv = bf16_w(n * p.K + k);
      ${up ? 'let uv = bf16_wu(n * p.K + k);' : ''}
      for (var r = 0u; r < ${R}u; r++) {
        let xv = x[r * p.K + k];
        acc[r] = fma(xv, wv, acc[r]);
        ${up ? 'accu[r] = fma(xv, uv, accu[r]);' : ''}
      }
    }`;
  // Sum of v over the workgroup, valid in thread 0.
  const reduce = o.subgroups
    ? `fn reduce(v: f32, lid: u32, sgid: u32, sgsize: u32) -> f32 {
  let s = subgroupAdd(v);
  if (sgid == 0u) { red[lid / sgsize] = s; }
  workgroupBarrier();
  var total = 0.0;
  if (lid == 0u) { for (var i = 0u; i < ${WG}u / sgsize; i++) { total += red[i]; } }
  workgroupBarrier();
  return total;
}`
    : `fn reduce(v: f32, lid: u32, sgid: u32, sgsize: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}`;
  return /* wgsl */ `
${o.subgroups ? 'enable subgroups;' : ''}
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: ${o.vec ? 'array<vec4f>' : 'array<f32>'};
@group(0) @binding(1) var<storage, read> w: ${wType};
${up ? `@group(0) @binding(2) var<storage, read> wu: ${wType};` : ''}
${epilogueWgsl(e, up ? 3 : 2)}
${o.vec ? unpackWgsl : bf16At('w') + (up ? bf16At('wu') : '')}
var<workgroup> red: array<f32, ${WG}>;
${reduce}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32${
    o.subgroups ? ', @builtin(subgroup_invocation_id) sgid: u32, @builtin(subgroup_size) sgsize: u32' : ''
  }) {
  let n = wg.x + wg.y * nwg.x;
  if (n >= p.N) { return; }
  var acc: array<f32, ${R}>;
  ${up ? `var accu: array<f32, ${R}>;` : ''}
  ${loop}
  for (var r = 0u; r < ${R}u; r++) {
    let g = reduce(acc[r], lid, ${o.subgroups ? 'sgid, sgsize' : '0u, 1u'});
    ${up ? `let u = reduce(accu[r], lid, ${o.subgroups ? 'sgid, sgsize' : '0u, 1u'});` : ''}
    if (lid == 0u) { store(r, n, g, ${up ? 'u' : '0.0'}); }
  }
}`;
}

export function matmulGemv(step: Step, b: MatmulBuffers, s: MatmulShape, e: Epilogue): void {
  if (s.M > GEMV_MAX_ROWS) throw new Error(`matmulGemv: M=${s.M} > ${GEMV_MAX_ROWS}`);
  const gpu = step.gpu;
  const o: Opts = { rows: s.M, vec: s.K % 8 === 0, subgroups: gpu.features.subgroups };
  const k = gpu.kernel({
    name: `matmul-gemv-${epilogueKey(e)}-r${o.rows}${o.vec ? 'v' : ''}${o.subgroups ? 's' : ''}`,
    bindings: ['read', 'read', ...(e.geglu ? (['read'] as const) : []), ...(e.bias ? (['read'] as const) : []), 'write'],
    code: () => code(e, o),
  });
  const bindings = [b.x, b.w, ...(e.geglu ? [b.up!] : []), ...epilogueBindings(b)];
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.ceil(s.N / max);
  step.dispatch(k, bindings, params({ ...s }, P), [Math.ceil(s.N / y), y]);
}
