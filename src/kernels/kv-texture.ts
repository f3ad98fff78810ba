// Attention heads' keys, or their values transposed, as float32 rows of a texture for the
// CPU-adapter matmul (attention-matmul.ts): K [keys, headDim] row j = k[base + j·stride …] and
// Vᵀ [headDim, keys] row d = v[base + j·stride + d] over the keys j, zero past `keys` (the scores'
// rows are padded to a multiple of 4 keys). Texel t of a row holds its elements 4t … 4t+3. Head h
// reads from base + h·headStep on and its rows follow head h − 1's.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';
import type { WeightTexture } from './weight-texture.js';

const P = { keys: 'u32', headDim: 'u32', base: 'u32', stride: 'u32', rows: 'u32', W: 'u32', H: 'u32', transpose: 'u32', heads: 'u32', headStep: 'u32' } as const;
const WG = 64;

export const kvTextureWgsl = /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var tex: texture_storage_2d_array<rgba32uint, write>;

fn at(base: u32, j: u32, d: u32) -> f32 {
  if (j >= p.keys) { return 0.0; }
  return src[base + j * p.stride + d];
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex(WG)};
  if (i >= p.heads * p.rows * p.W) { return; }
  let row = i / p.W; // of all heads
  let base = p.base + row / p.rows * p.headStep;
  let n = row % p.rows;
  let t = i % p.W;
  var v: vec4f;
  for (var c = 0u; c < 4u; c++) {
    if (p.transpose != 0u) { v[c] = at(base, 4u * t + c, n); } else { v[c] = at(base, n, 4u * t + c); }
  }
  textureStore(tex, vec2u(t, row % p.H), row / p.H, bitcast<vec4u>(v));
}`;

export interface KvTextureArgs {
  /** The K or V rows: key j of the head at float base + j·stride. */
  src: Binding;
  base: number;
  stride: number;
  keys: number;
  headDim: number;
  /** Vᵀ (headDim rows of keys padded to a multiple of 4) instead of K (keys rows of headDim). */
  transpose: boolean;
  out: WeightTexture;
  /** Heads, each from headStep floats after the one before (default one). */
  heads?: number;
  headStep?: number;
}

export function kvTexture(step: Step, a: KvTextureArgs): void {
  if (a.headDim % 4 !== 0) throw new Error(`kvTexture: headDim ${a.headDim} is not a multiple of 4`);
  const rows = a.transpose ? a.headDim : a.keys;
  const heads = a.heads ?? 1;
  const W = Math.ceil((a.transpose ? a.keys : a.headDim) / 4);
  if (W > a.out.W || heads * rows > a.out.H * a.out.texture.depthOrArrayLayers) throw new Error(`kvTexture: ${heads} × ${rows} rows of ${W} texels do not fit the texture`);
  const k = step.gpu.kernel({ name: 'kv-texture', bindings: ['read', 'storage-texture'], code: () => kvTextureWgsl });
  const u = params({ keys: a.keys, headDim: a.headDim, base: a.base, stride: a.stride, rows, W, H: a.out.H, transpose: Number(a.transpose), heads, headStep: a.headStep ?? 0 }, P);
  step.dispatch(k, [a.src, a.out.view], u, grid(heads * rows * W, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}
