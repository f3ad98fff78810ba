// Portable GEMM for GPUs: the classic shared-memory, register-tiled kernel. A 16×16 workgroup
// computes a 64×64 output tile, each thread a 4×4 micro-tile (rows ty+16i, cols tx+16j, so the
// shared-memory reads of neighbouring threads hit different banks), staging 64×16 slices of x and of
// the weight (bf16 or dequantized codes, to f32 once, in shared memory) per K step. Weights are read
// element-wise (weight-format.ts elementAt) so any K works, odd K included; edges are bounds-checked. With GEGLU a second weight
// tile (up) shares the x tile. On lavapipe this design loses to matmul-texture.ts (per-lane
// shared-memory loads are scalarised there), so it is the GPU variant.

import type { Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import type { WeightFormat } from '../weights.js';
import { P, epilogueBindings, epilogueKey, epilogueKinds, epilogueWgsl, shapeParams, type Epilogue, type MatmulBuffers, type MatmulShape } from './matmul-common.js';
import { elementAt, rowWgsl } from './weight-format.js';
import { wgsl } from './wgsl.js';

const T = 64; // output tile edge
const BK = 16; // K slice per step

export function tiledWgsl(e: Epilogue, f: WeightFormat): string {
  const up = e.geglu;
  return wgsl`
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
#if ${up}
@group(0) @binding(2) var<storage, read> wu: array<u32>;
#endif
${epilogueWgsl(e, up ? 3 : 2)}
${rowWgsl(f)}
${elementAt(f, 'w')}
#if ${up}
${elementAt(f, 'wu')}
#endif

var<workgroup> xs: array<array<f32, ${T}>, ${BK}>; // [k][m]
var<workgroup> ws: array<array<f32, ${T}>, ${BK}>; // [k][n]
#if ${up}
var<workgroup> us: array<array<f32, ${T}>, ${BK}>;
#endif

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * ${T}u;
  let n0 = wg.x * ${T}u;
  var acc: array<array<f32, 4>, 4>;
#if ${up}
  var accu: array<array<f32, 4>, 4>;
#endif
  for (var k0 = 0u; k0 < p.K; k0 += ${BK}u) {
    for (var i = 0u; i < ${(T * BK) / 256}u; i++) {
      let idx = li + i * 256u;
      let r = idx / ${BK}u;
      let kk = idx % ${BK}u;
      let k = k0 + kk;
      var xv = 0.0;
      if (m0 + r < p.M && k < p.K) { xv = x[(m0 + r) * p.K + k]; }
      xs[kk][r] = xv;
      var wv = 0.0;
#if ${up}
      var uv = 0.0;
      if (n0 + r < p.N && k < p.K) {
        wv = wAt(n0 + r, k);
        uv = wuAt(n0 + r, k);
      }
      ws[kk][r] = wv;
      us[kk][r] = uv;
#else
      if (n0 + r < p.N && k < p.K) { wv = wAt(n0 + r, k); }
      ws[kk][r] = wv;
#endif
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
#if ${up}
      var c: array<f32, 4>;
#endif
      for (var i = 0u; i < 4u; i++) {
        a[i] = xs[kk][lid.y + 16u * i];
        b[i] = ws[kk][lid.x + 16u * i];
#if ${up}
        c[i] = us[kk][lid.x + 16u * i];
#endif
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(a[i], b[j], acc[i][j]);
#if ${up}
          accu[i][j] = fma(a[i], c[j], accu[i][j]);
#endif
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + 16u * j;
#if ${up}
      if (m < p.M && n < p.N) { store(m, n, acc[i][j], accu[i][j]); }
#else
      if (m < p.M && n < p.N) { store(m, n, acc[i][j], 0.0); }
#endif
    }
  }
}`;
}

export function matmulTiled(step: Step, b: MatmulBuffers, s: MatmulShape, e: Epilogue, f: WeightFormat): void {
  const k = step.gpu.kernel({
    name: `matmul-tiled-${f}-${epilogueKey(e)}`,
    bindings: ['read', 'read', ...(e.geglu ? (['read'] as const) : []), ...epilogueKinds(e)],
    code: () => tiledWgsl(e, f),
  });
  const bindings = [b.x, b.w, ...(e.geglu ? [b.up!] : []), ...epilogueBindings(step.gpu, b)];
  step.dispatch(k, bindings, params(shapeParams(s, e), P), [Math.ceil(s.N / T), Math.ceil(s.M / T)]);
}
