// WGSL workgroup reductions shared by the row kernels (norms, softmax, argmax/topK). With the
// `subgroups` feature a subgroup reduces in registers and one partial per subgroup goes through
// workgroup memory; every lane then sums the partials itself at uniform addresses (cheap on
// lavapipe, where per-lane workgroup loads cost as much as ~70 FMAs, and the same order on every
// lane keeps the result identical across the workgroup). Without the feature: a classic tree.
//
// The subgroup variant stores partial `lid / sg` and so assumes subgroups are contiguous ranges of
// local_invocation_index — true for 1-D workgroups on every Vulkan/Metal/D3D12 driver we know.
// The functions must be called from workgroup-uniform control flow; `sg` is @builtin(subgroup_size)
// (pass 1u in the fallback, where it is unused).

import { wgsl } from './wgsl.js';

/** The expression to pass as `sg`. */
export function sgArg(subgroups: boolean): string {
  return subgroups ? 'sgSize' : '1u';
}

/**
 * WGSL opening `fn main` of a kernel with one workgroup per row (a `grid(rows, 1)` dispatch): `row`,
 * `lid` and, with subgroups, `sgSize` defined; workgroups past p.rows return.
 */
export function rowMainWgsl(wg: number, subgroups: boolean): string {
  return wgsl`@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32
#if ${subgroups}
  , @builtin(subgroup_size) sgSize: u32
#endif
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }`;
}

/**
 * `fn wgSum(v, lid, sg) -> f32` and `fn wgMax(v, lid, sg) -> f32` over a workgroup of `wg` lanes.
 * `oneSubgroup` (the caller knows every subgroup has at least wg lanes): the subgroup operation
 * alone, without workgroup memory or barriers — a barrier makes llvmpipe run the workgroup as
 * coroutines, and one 8-lane row kernel took 0.61–0.84× the time without its four (bench/README.md).
 */
export function reduceF32Wgsl(wg: number, subgroups: boolean, oneSubgroup = false): string {
  if (oneSubgroup) {
    return `fn wgSum(v: f32, lid: u32, sg: u32) -> f32 { return subgroupAdd(v); }
fn wgMax(v: f32, lid: u32, sg: u32) -> f32 { return subgroupMax(v); }
`;
  }
  const fn = (name: string, op: (a: string, b: string) => string, sgOp: string) => wgsl`
fn ${name}(v: f32, lid: u32, sg: u32) -> f32 {
#if ${subgroups}
  let s = ${sgOp}(v);
  if (subgroupElect()) { redF[lid / sg] = s; }
  workgroupBarrier();
  var t = redF[0];
  for (var i = 1u; i < ${wg}u / sg; i++) { t = ${op('t', 'redF[i]')}; }
  workgroupBarrier(); // redF is reused by the next reduction
  return t;
#else
  redF[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { redF[lid] = ${op('redF[lid]', 'redF[lid + s]')}; }
    workgroupBarrier();
  }
  let t = redF[0];
  workgroupBarrier();
  return t;
#endif
}`;
  return `var<workgroup> redF: array<f32, ${wg}>;
${fn('wgSum', (a, b) => `${a} + ${b}`, 'subgroupAdd')}
${fn('wgMax', (a, b) => `max(${a}, ${b})`, 'subgroupMax')}
`;
}

/**
 * `fn wgArgMax(key, idx, lid, sg) -> vec2u`: the (key, idx) pair with the largest u32 key, the
 * smallest idx among equal keys (first index on ties).
 */
export function reduceArgMaxWgsl(wg: number, subgroups: boolean): string {
  return wgsl`var<workgroup> redP: array<vec2u, ${wg}>;
fn betterPair(a: vec2u, b: vec2u) -> vec2u {
  return select(b, a, a.x > b.x || (a.x == b.x && a.y < b.y));
}
fn wgArgMax(key: u32, idx: u32, lid: u32, sg: u32) -> vec2u {
#if ${subgroups}
  let k = subgroupMax(key);
  let i = subgroupMin(select(0xffffffffu, idx, key == k));
  if (subgroupElect()) { redP[lid / sg] = vec2u(k, i); }
  workgroupBarrier();
  var t = redP[0];
  for (var j = 1u; j < ${wg}u / sg; j++) { t = betterPair(t, redP[j]); }
  workgroupBarrier();
  return t;
#else
  redP[lid] = vec2u(key, idx);
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { redP[lid] = betterPair(redP[lid], redP[lid + s]); }
    workgroupBarrier();
  }
  let t = redP[0];
  workgroupBarrier();
  return t;
#endif
}`;
}
