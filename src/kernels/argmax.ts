// argmax per row and top-k of one row, for greedy decoding and sampling over the 257216 logits.
//
// Values become u32 keys whose unsigned order is the float order (sign-flip trick) with −0 folded
// onto +0 and every NaN mapped to the top key: integer compares cannot be "optimised" by a
// compiler that assumes no NaNs (WGSL allows that), and NaN wins like in torch.argmax. Ties go to
// the smallest index (torch.argmax returns the first maximal index).
//
// Selection is a tree: a pass splits each row into chunks of 4096 (256 lanes × 16 registers), and
// each workgroup extracts its chunk's k best (key, index) pairs in k rounds (workgroup argmax, the
// winning lane drops that element and rescans its 16 registers); the pairs feed the next pass until
// one chunk remains, whose workgroup writes the result in descending order. 257216 logits take two
// passes (63 workgroups, then one). argmax is the k = 1 case.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { reduceArgMaxWgsl, sgArg } from './reduce.js';
import { wgsl } from './wgsl.js';

const P = { count: 'u32', k: 'u32', nChunks: 'u32' } as const;
const WG = 256;
const PER = 16;
const CHUNK = WG * PER;
const MAX_K = 64;

/** `keyOf(f32) -> u32`, whose unsigned order is the float order, and its inverse `valueOf` (also used by sampling). */
export const orderedKeyWgsl = /* wgsl */ `
fn keyOf(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; } // NaN: above everything
  if (b == 0x80000000u) { return 0x80000000u; }               // −0 = +0
  return select(b ^ 0x80000000u, ~b, (b >> 31u) == 1u);
}

fn valueOf(key: u32) -> f32 {
  return bitcast<f32>(select(~key, key ^ 0x80000000u, key >= 0x80000000u));
}
`;

export function selectWgsl(first: boolean, last: boolean, vals: boolean, sg: boolean): string {
  return wgsl`
#if ${sg}
enable subgroups;
#endif
${paramsWgsl(P)}
#if ${first}
@group(0) @binding(0) var<storage, read> x: array<f32>;
#else
@group(0) @binding(0) var<storage, read> pairsIn: array<vec2u>;
#endif
#if ${last}
@group(0) @binding(1) var<storage, read_write> outIdx: array<u32>;
#if ${vals}
@group(0) @binding(2) var<storage, read_write> outVal: array<f32>;
#endif
#else
@group(0) @binding(1) var<storage, read_write> pairsOut: array<vec2u>;
#endif
${reduceArgMaxWgsl(WG, sg)}

${orderedKeyWgsl}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32
#if ${sg}
  , @builtin(subgroup_size) sgSize: u32
#endif
) {
  let chunk = wid.x;
  let row = wid.y;
  let base = row * p.count;
  var keys: array<u32, ${PER}>;
  var ids: array<u32, ${PER}>;
  var best = vec2u(0u, 0xffffffffu); // the empty slot: below every real key
  for (var j = 0u; j < ${PER}u; j++) {
    let c = chunk * ${CHUNK}u + j * ${WG}u + lid;
    keys[j] = 0u;
    ids[j] = 0xffffffffu;
    if (c < p.count) {
#if ${first}
      keys[j] = keyOf(x[base + c]); ids[j] = c;
#else
      let q = pairsIn[base + c]; keys[j] = q.x; ids[j] = q.y;
#endif
    }
    best = betterPair(vec2u(keys[j], ids[j]), best);
  }
  for (var t = 0u; t < p.k; t++) {
    let w = wgArgMax(best.x, best.y, lid, ${sgArg(sg)});
    if (lid == 0u) {
#if ${last}
      outIdx[row * p.k + t] = w.y;
#if ${vals}
      outVal[row * p.k + t] = valueOf(w.x);
#endif
#else
      pairsOut[(row * p.nChunks + chunk) * p.k + t] = w;
#endif
    }
    if (all(best == w)) {
      best = vec2u(0u, 0xffffffffu);
      for (var j = 0u; j < ${PER}u; j++) {
        if (ids[j] == w.y) { keys[j] = 0u; ids[j] = 0xffffffffu; }
        best = betterPair(vec2u(keys[j], ids[j]), best);
      }
    }
  }
}`;
}

const scratch = new WeakMap<object, GPUBuffer[]>();
/** Two ping-pong buffers of at least `bytes` each, kept per device (grown, never shrunk). */
function scratchBuffers(step: Step, bytes: number): GPUBuffer[] {
  let s = scratch.get(step.gpu);
  if (!s || s[0]!.size < bytes) {
    // The old pair may still be referenced by recorded work, so it is dropped, not destroyed.
    for (const b of s ?? []) step.gpu.forgetBuffer(b);
    s = [step.gpu.buffer(bytes, 'select scratch 0'), step.gpu.buffer(bytes, 'select scratch 1')];
    scratch.set(step.gpu, s);
  }
  return s;
}

function select(step: Step, x: Binding, rows: number, cols: number, k: number, outIdx: Binding, outVal?: Binding): void {
  const gpu = step.gpu;
  if (!(k >= 1 && k <= MAX_K && k <= cols)) throw new Error(`top-k: need 1 ≤ k ≤ min(${MAX_K}, cols), got k=${k}, cols=${cols}`);
  if (rows > gpu.limits.maxComputeWorkgroupsPerDimension) throw new Error(`argmax: ${rows} rows exceed one dispatch dimension`);
  const sg = gpu.features.subgroups;
  const bufs = Math.ceil(cols / CHUNK) > 1 ? scratchBuffers(step, rows * Math.ceil(cols / CHUNK) * k * 8) : [];
  let input = x;
  let count = cols;
  for (let pass = 0; ; pass++) {
    const nChunks = Math.ceil(count / CHUNK);
    const first = pass === 0, last = nChunks === 1, vals = last && outVal !== undefined;
    const kern = gpu.kernel({
      name: `select${first ? '-first' : ''}${last ? (vals ? '-last-vals' : '-last') : ''}${sg ? '-sg' : ''}`,
      bindings: ['read', 'write', ...(vals ? (['write'] as const) : [])],
      code: () => selectWgsl(first, last, vals, sg),
    });
    const out = last ? (vals ? [outIdx, outVal!] : [outIdx]) : [bufs[pass % 2]!];
    step.dispatch(kern, [input, ...out], params({ count, k, nChunks }, P), [nChunks, rows]);
    if (last) return;
    input = bufs[pass % 2]!;
    count = nChunks * k;
  }
}

/** out[r] = index of the largest x[r, ·] (u32; first index on ties; NaN counts as largest). */
export function argmax(step: Step, a: { x: Binding; rows: number; cols: number; out: Binding }): void {
  select(step, a.x, a.rows, a.cols, 1, a.out);
}

/** The k ≤ 64 largest of one row of `cols` floats, in descending order (ties: smaller index first). */
export function topK(step: Step, a: { x: Binding; cols: number; k: number; outIdx: Binding; outVal: Binding }): void {
  select(step, a.x, 1, a.cols, a.k, a.outIdx, a.outVal);
}
