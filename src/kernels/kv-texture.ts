// Attention heads' keys, or their values transposed, as float32 rows of a texture for the
// CPU-adapter matmul (attention-matmul.ts): K [keys, headDim] row j = k[base + j·stride …] and
// Vᵀ [headDim, keys] row d = v[base + j·stride + d] over the keys j, zero past `keys` (the scores'
// rows are padded to a multiple of 4 keys). Texel t of a row holds its elements 4t … 4t+3. Head h
// reads from base + h·headStep on and its rows follow head h − 1's. K rows a copy can take as they
// lie go in by copyBufferToTexture instead (SigLIP's and Gemma's): attention 0.93× / 0.98× the wall
// time at SigLIP 224 px / Gemma prefill, the kv-texture share ≈ halved (bench/README.md). The texture
// GEMM's x copy (matmul-texture.ts xTexture) goes in the same way: one "head" of M rows of K.

import { copySource, type Binding, type Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';
import { BLOCK_TEXELS, rowCopies, texelAtWgsl, type WeightTexture } from './weight-texture.js';
import { wgsl } from './wgsl.js';

const P = { keys: 'u32', base: 'u32', stride: 'u32', rows: 'u32', W: 'u32', H: 'u32', L: 'u32', heads: 'u32', headStep: 'u32' } as const;
const WG = 64;

// One lane per texture row, looping over its texels: llvmpipe divides lane by lane, and a lane per
// texel paid its flat index's divisions per texel (≈ 20 % of SigLIP's attention at 224 px).
export function kvTextureWgsl(transpose: boolean): string {
  return wgsl`
${paramsWgsl(P)}
#if ${transpose}
@group(0) @binding(0) var<storage, read> src: array<f32>;
#else
@group(0) @binding(0) var<storage, read> src: array<vec4f>;
#endif
@group(0) @binding(1) var tex: texture_storage_2d_array<rgba32uint, write>;
${texelAtWgsl}

#if ${transpose}
fn value(base: u32, j: u32) -> f32 {
  return select(0.0, src[base + min(j, p.keys - 1u) * p.stride], j < p.keys);
}
#endif

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = ${flatIndex(WG)}; // of all heads
  if (row >= p.heads * p.rows) { return; }
  let head = row / p.rows;
  let n = row - head * p.rows;
#if ${transpose}
  let base = p.base + head * p.headStep + n;
#else
  let base = (p.base + head * p.headStep + n * p.stride) / 4u;
#endif
  // The row's line and first layer once: per texel, texelAt's divisions by H would cost ≈ 17 ns a lane.
  let at = texelAt(0u, row, p.H, p.L);
  for (var t = 0u; t < p.W; t++) {
#if ${transpose}
    let v = vec4f(value(base, 4u * t), value(base, 4u * t + 1u), value(base, 4u * t + 2u), value(base, 4u * t + 3u));
#else
    let v = src[base + t];
#endif
    textureStore(tex, vec2u(t % ${BLOCK_TEXELS}u, at.y), at.z + t / ${BLOCK_TEXELS}u * p.L, bitcast<vec4u>(v));
  }
}`;
}

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
  if (W > a.out.W || heads * rows > a.out.H * a.out.L) throw new Error(`kvTexture: ${heads} × ${rows} rows of ${W} texels do not fit the texture`);
  // K rows are read as vec4s.
  if (!a.transpose && (a.base % 4 !== 0 || a.stride % 4 !== 0 || (a.headStep ?? 0) % 4 !== 0)) throw new Error('kvTexture: K rows must start at multiples of 4 floats');
  if (!a.transpose && copyKeys(step, a, heads, W)) return;
  const k = step.gpu.kernel({ name: `kv-texture${a.transpose ? '-vt' : ''}`, bindings: ['read', 'storage-texture'], code: () => kvTextureWgsl(a.transpose) });
  const u = params({ keys: a.keys, base: a.base, stride: a.stride, rows, W, H: a.out.H, L: a.out.L, heads, headStep: a.headStep ?? 0 }, P);
  step.dispatch(k, [a.src, a.out.view], u, grid(heads * rows, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}

/**
 * K rows whose bytes a copy can take as they lie (a buffer that may be copied, rows a multiple of
 * 256 bytes apart, heads at multiples of 16 bytes) go into the texture by copyBufferToTexture, one
 * copy per head, texture layer and column block: no lane loads or stores a texel.
 */
function copyKeys(step: Step, a: KvTextureArgs, heads: number, W: number): boolean {
  const src = copySource(a.src);
  if (!src || (4 * a.stride) % 256 !== 0 || (src.offset + 4 * a.base) % 16 !== 0) return false;
  for (let h = 0; h < heads; h++) {
    const from = src.offset + 4 * (a.base + h * (a.headStep ?? 0));
    for (const c of rowCopies(a.out, h * a.keys, a.keys, from, 4 * a.stride, W)) step.copyToTexture(src.buffer, c.offset, 4 * a.stride, a.out.texture, c.width, c.height, c.y, c.layer);
  }
  return true;
}
