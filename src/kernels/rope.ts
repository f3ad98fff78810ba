// Rotary position embedding, rotate-half (split) form as in HF Gemma: for i < headDim/2,
//   out[i] = x[i]·cos − x[i+h/2]·sin,  out[i+h/2] = x[i+h/2]·cos + x[i]·sin,
// angle = pos · inv_freq_i with inv_freq_i = 1/theta^(2i/headDim). HF computes inv_freq and the
// angle in float32; we do the same (inv_freq table built on the CPU exactly like HF's float32
// expression, angle = the f32 product), then evaluate cos/sin of that f32 angle accurately: the
// angle reaches ~8192 rad, where a GPU's sin/cos may be only absolutely accurate to 2^-11 (Vulkan's
// minimum) and the f32 angle's own rounding (up to 5e-4 rad) must be kept, not "improved" by an
// FMA contraction. So: Cody–Waite reduction by π/2 in three constants (the first two short enough
// that k·C is exact for k < 2^13, i.e. angles < ~12868 rad; beyond that accuracy degrades slowly)
// and minimax polynomials on [−π/4, π/4] (Cephes sinf/cosf), the same on every adapter.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';
import { wgsl } from './wgsl.js';

const P = { n: 'u32', half: 'u32', heads: 'u32', headDim: 'u32', rowStride: 'u32', rowOffset: 'u32', outRowOffset: 'u32', zero: 'u32' } as const;
const WG = 256;

// (sin, cos) of an f32 angle a ≥ 0, and the rotate-half pair (x[i], x[i + h/2]) turned by it: the
// WGSL both kernels of this file share.
const ROTATION = /* wgsl */ `
fn sinCos(a: f32) -> vec2f {
  let k = round(a * 0.636619772367581343);
  var r = a - k * 1.5703125;
  r = r - k * 4.837512969970703125e-4;
  r = r - k * 7.549790126404332e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch (u32(k) & 3u) {
    case 0u: { return vec2f(s, c); }
    case 1u: { return vec2f(c, -s); }
    case 2u: { return vec2f(-s, -c); }
    default: { return vec2f(-c, s); }
  }
}

fn rotate(a: f32, b: f32, sc: vec2f) -> vec2f {
  return vec2f(a * sc.y - b * sc.x, b * sc.y + a * sc.x);
}
`;

// The f32 product HF computes; the xor with a runtime zero keeps the compiler from fusing this
// multiply into the reduction (which would skip the rounding HF does).
const ANGLE = 'bitcast<f32>(bitcast<u32>(f32(positions[row]) * invFreq[i]) ^ p.zero)';

export function ropeWgsl(inPlace: boolean): string {
  return wgsl`${paramsWgsl(P)}
#if ${inPlace}
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
@group(0) @binding(2) var<storage, read> invFreq: array<f32>;
#else
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
@group(0) @binding(2) var<storage, read> invFreq: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

${ROTATION}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = ${flatIndex(WG)};
  if (idx >= p.n) { return; }
  let i = idx % p.half;
  let t = idx / p.half;
  let h = t % p.heads;
  let row = p.rowOffset + t / p.heads;
  let angle = ${ANGLE};
  let sc = sinCos(angle);
  let src = row * p.rowStride + h * p.headDim + i;
#if ${inPlace}
  let r = rotate(x[src], x[src + p.half], sc);
  x[src] = r.x;
  x[src + p.half] = r.y;
#else
  let dst = (p.outRowOffset + row - p.rowOffset) * p.heads * p.headDim + h * p.headDim + i;
  let r = rotate(x[src], x[src + p.half], sc);
  out[dst] = r.x;
  out[dst + p.half] = r.y;
#endif
}`;
}

/** HF's inv_freq in float32: 1 / theta^(f32(2i) / headDim), each step rounded to f32. */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  const f = Math.fround;
  return Float32Array.from({ length: headDim / 2 }, (_, i) => f(1 / f(f(theta) ** f((2 * i) / headDim))));
}

const tables = new WeakMap<object, Map<string, GPUBuffer>>();
function invFreqBuffer(step: Step, headDim: number, theta: number): GPUBuffer {
  let m = tables.get(step.gpu);
  if (!m) tables.set(step.gpu, (m = new Map()));
  const key = `${headDim}:${theta}`;
  let b = m.get(key);
  if (!b) m.set(key, (b = step.gpu.upload(ropeInvFreq(headDim, theta), `rope inv_freq ${key}`)));
  return b;
}

/**
 * Rotates rows rowOffset … rowOffset+rows−1 of x (`heads` heads each; row r at r·rowStride, default
 * heads·headDim) by positions[r]. In place (same rows, same stride) without `out`; with `out`, row
 * rowOffset + i goes to out row outRowOffset + i (rows of heads·headDim floats: a KV-cache append).
 */
export function rope(
  step: Step,
  a: { x: Binding; out?: Binding; positions: Binding; rows: number; heads: number; headDim: number; theta: number; rowStride?: number; rowOffset?: number; outRowOffset?: number },
): void {
  if (a.headDim % 2) throw new Error(`rope: odd headDim ${a.headDim}`);
  const gpu = step.gpu;
  const half = a.headDim / 2;
  const n = a.rows * a.heads * half;
  const inPlace = a.out === undefined;
  const k = gpu.kernel({
    name: inPlace ? 'rope-inplace' : 'rope',
    bindings: inPlace ? ['write', 'read', 'read'] : ['read', 'read', 'read', 'write'],
    code: () => ropeWgsl(inPlace),
  });
  const table = invFreqBuffer(step, a.headDim, a.theta);
  const bindings = inPlace ? [a.x, a.positions, table] : [a.x, a.positions, table, a.out!];
  const p = params(
    { n, half, heads: a.heads, headDim: a.headDim, rowStride: a.rowStride ?? a.heads * a.headDim, rowOffset: a.rowOffset ?? 0, outRowOffset: a.outRowOffset ?? 0, zero: 0 },
    P,
  );
  step.dispatch(k, bindings, p, grid(n, WG, gpu.limits.maxComputeWorkgroupsPerDimension));
}

const PA = { nq: 'u32', n: 'u32', half: 'u32', qHeads: 'u32', qRowStride: 'u32', heads: 'u32', headDim: 'u32', rowStride: 'u32', maxLen: 'u32', zero: 'u32' } as const;

export const ropeAppendWgsl = /* wgsl */ `${paramsWgsl(PA)}
@group(0) @binding(0) var<storage, read> k: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> invFreq: array<f32>;
@group(0) @binding(4) var<storage, read> keyCount: array<u32>;
@group(0) @binding(5) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(6) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(7) var<storage, read_write> q: array<f32>;
${ROTATION}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let all = ${flatIndex(WG)};
  // The first nq invocations rotate the queries in place, the rest append k and v.
  if (all < p.nq) {
    let i = all % p.half;
    let t = all / p.half;
    let h = t % p.qHeads;
    let row = t / p.qHeads;
    let sc = sinCos(${ANGLE});
    let at = row * p.qRowStride + h * p.headDim + i;
    let r = rotate(q[at], q[at + p.half], sc);
    q[at] = r.x;
    q[at + p.half] = r.y;
    return;
  }
  let idx = all - p.nq;
  if (idx >= p.n) { return; }
  let i = idx % p.half;
  let t = idx / p.half;
  let h = t % p.heads;
  let row = t / p.heads;
  let angle = ${ANGLE};
  let sc = sinCos(angle);
  let src = row * p.rowStride + h * p.headDim + i;
  let dst = (row * p.maxLen + keyCount[0] - 1u) * p.heads * p.headDim + h * p.headDim + i;
  let r = rotate(k[src], k[src + p.half], sc);
  kCache[dst] = r.x;
  kCache[dst + p.half] = r.y;
  vCache[dst] = v[src];
  vCache[dst + p.half] = v[src + p.half];
}`;

export interface RopeAppendArgs {
  /** This step's queries [batch, qHeads·headDim] (row stride qRowStride), rotated in place. */
  q: Binding;
  qHeads: number;
  qRowStride?: number;
  /** This step's keys and values: row b (sequence b) at b·rowStride, heads·headDim floats used. */
  k: Binding;
  v: Binding;
  /** u32 per sequence: the new token's position. */
  positions: Binding;
  /** u32 [1], read on the GPU: the cache length after the append (the new rows go to count − 1). */
  keyCount: Binding;
  /** KV caches [batch·maxLen, heads·headDim]. */
  kCache: Binding;
  vCache: Binding;
  batch: number;
  heads: number;
  headDim: number;
  theta: number;
  maxLen: number;
  rowStride?: number;
}

/**
 * A decode step's RoPE and KV-cache append in one dispatch: the queries rotated in place, and each
 * sequence's rotated k and plain v written to row keyCount − 1 of its cache (`heads` = KV heads).
 */
export function ropeAppend(step: Step, a: RopeAppendArgs): void {
  if (a.headDim % 2) throw new Error(`ropeAppend: odd headDim ${a.headDim}`);
  const gpu = step.gpu;
  const half = a.headDim / 2;
  const nq = a.batch * a.qHeads * half;
  const n = a.batch * a.heads * half;
  const k = gpu.kernel({ name: 'rope-append', bindings: ['read', 'read', 'read', 'read', 'read', 'write', 'write', 'write'], code: ropeAppendWgsl });
  const table = invFreqBuffer(step, a.headDim, a.theta);
  const p = params(
    { nq, n, half, qHeads: a.qHeads, qRowStride: a.qRowStride ?? a.qHeads * a.headDim, heads: a.heads, headDim: a.headDim, rowStride: a.rowStride ?? a.heads * a.headDim, maxLen: a.maxLen, zero: 0 },
    PA,
  );
  step.dispatch(k, [a.k, a.v, a.positions, table, a.keyCount, a.kCache, a.vCache, a.q], p, grid(nq + n, WG, gpu.limits.maxComputeWorkgroupsPerDimension));
}
