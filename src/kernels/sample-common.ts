// What the sampling kernels share (sample.ts runs them): the chunking of a logits row, the state
// the passes hand on to each other in GPU memory, fixed-point masses, and the rule that says
// which tokens a setting keeps.
//
// A row of `cols` scores is cut into chunks of 4096 (one workgroup of 256 lanes × 16); each chunk
// owns four words of `chunks`: [max score, kept mass, ties at the cut, ties in later chunks].
//
// Masses e = exp(z − max) ∈ [0, 1] are summed as 64-bit fixed point (2^−39 units, two u32 words:
// hi, lo) where workgroups add them with atomics: integer sums are exact and do not depend on the
// order, so a pass gives the same answer on every run. 2^23 tokens of mass 1 still fit. Within a
// chunk a mass is added as two 20-bit halves to two counters (4096 · 2^20 fits a u32), so neither
// atomic waits for the other's result: on lavapipe a carry chain through the returned old value
// made the first histogram pass 5× slower.
//
// z is padded to whole chunks, so kernels that do not care about index order within a chunk load
// four scores at a time (on lavapipe a 16-byte load per lane costs what a 4-byte one does).

import { orderedKeyWgsl } from './argmax.js';

export const WG = 256;
export const PER = 16;
export const CHUNK = WG * PER;
export const MAX_COLS = 2 ** 23;

/** How far the filters ran: 0 none, 1 top-k only (every tie with the k-th kept), 2 top-p. */
export type CutMode = 0 | 1 | 2;

/** Chunks of a row and the size of `chunks`. */
export function chunkCount(cols: number): number {
  return Math.ceil(cols / CHUNK);
}

/** The state words (sample.ts allocates them; radix-pick writes them, the draw reads them). */
export const STATE_WORDS = 16;

export const sampleStateWgsl = /* wgsl */ `
struct SampleState {
  floorKey: u32,  // top-k: the key of the k-th largest score; smaller keys are dropped
  prefix: u32,    // radix search: the key bits fixed so far
  rank: u32,      // top-k search: the rank (1 = largest) of the wanted key under the prefix
  belowHi: u32,   // top-p search: the kept mass below the prefix's keys (fixed point)
  belowLo: u32,
  goal: f32,      // top-p: (1 − p)·Σ kept mass, the mass that may be removed
  cutKey: u32,    // top-p: the key at the boundary
  tiesKept: u32,  // how many tokens with the boundary key stay: those with the highest indices
  total: f32,     // the mass of every kept token (the draw writes it)
  pad0: u32, pad1: u32, pad2: u32, pad3: u32, pad4: u32, pad5: u32, pad6: u32,
}
${orderedKeyWgsl}
`;

/**
 * WGSL: `add64`, `fixedOf(e)` (round(e·2^39)), `halvesOf` / `fromHalves` (the 20-bit halves a chunk
 * sums, and their sums back to 64 bits), `f32Of` (back to floats in units of 1).
 */
export const fixedWgsl = /* wgsl */ `
fn add64(a: vec2u, b: vec2u) -> vec2u {
  let lo = a.y + b.y;
  return vec2u(a.x + b.x + select(0u, 1u, lo < a.y), lo);
}

fn fixedOf(e: f32) -> vec2u {
  let b = bitcast<u32>(e);
  let ex = i32((b >> 23u) & 0xffu);
  if (ex == 0) { return vec2u(0u); }
  let m = (b & 0x7fffffu) | 0x800000u;
  let s = ex - 111; // e·2^39 = m·2^(ex − 127 − 23 + 39); e ≤ 1 gives s ≤ 16
  if (s >= 0) {
    let su = u32(s);
    return vec2u(select(0u, m >> (32u - su), su > 0u), m << su);
  }
  if (s < -24) { return vec2u(0u); }
  let r = u32(-s);
  return vec2u(0u, (m + (1u << (r - 1u))) >> r);
}

// e ≤ 2^39: (e >> 20, e & 0xfffff), each < 2^20.
fn halvesOf(e: vec2u) -> vec2u {
  return vec2u((e.x << 12u) | (e.y >> 20u), e.y & 0xfffffu);
}

fn fromHalves(hi: u32, lo: u32) -> vec2u {
  return add64(vec2u(hi >> 12u, hi << 20u), vec2u(0u, lo));
}

fn f32Of(a: vec2u) -> f32 {
  return (f32(a.x) * 4294967296.0 + f32(a.y)) * 1.8189894035458565e-12;
}
`;

/**
 * WGSL over `chunks: array<u32>` and param `nChunks`: `scoreMax(lid)`, the row's largest score. One
 * lane reads the chunk maxima and shares the result (per-lane loops over them cost every lane
 * nChunks loads on lavapipe); call it from workgroup-uniform control flow.
 */
export const scoreMaxWgsl = /* wgsl */ `
var<workgroup> rowMax: f32;
fn scoreMax(lid: u32) -> f32 {
  if (lid == 0u) {
    var m = bitcast<f32>(chunks[0]);
    for (var c = 1u; c < p.nChunks; c++) { m = max(m, bitcast<f32>(chunks[4u * c])); }
    rowMax = m;
  }
  return workgroupUniformLoad(&rowMax);
}
`;

/**
 * WGSL over `st` and param `mode` (CutMode): `cut()` → (cutKey, tiesKept). A token is kept when its
 * key is above cutKey, or equal to it and fewer than tiesKept tokens with that key have higher indices.
 */
export const cutWgsl = /* wgsl */ `
fn cut() -> vec2u {
  if (p.mode == 0u) { return vec2u(0u, 0xffffffffu); }
  if (p.mode == 1u) { return vec2u(st.floorKey, 0xffffffffu); }
  return vec2u(st.cutKey, st.tiesKept);
}
`;

/**
 * WGSL for the kernels that walk one chunk in index order (lane l holds indices 16l … 16l + 15):
 * `keptMasses(chunk, m, cutAt, tiesAfter)` fills `kept` with each token's mass exp(z − m), 0 where
 * the setting drops it, and returns the lane's sum; `scanF32`/`scanU32` are exclusive prefix sums
 * over the workgroup's lanes (`suffix` counts the lanes above instead).
 */
export const chunkWalkWgsl = /* wgsl */ `
var<private> kept: array<f32, ${PER}>;
var<workgroup> scanF: array<f32, ${WG}>;
var<workgroup> scanU: array<u32, ${WG}>;

fn scanF32(v: f32, lid: u32) -> f32 {
  scanF[lid] = v;
  workgroupBarrier();
  for (var s = 1u; s < ${WG}u; s <<= 1u) {
    let a = select(0.0, scanF[lid - min(s, lid)], lid >= s);
    workgroupBarrier();
    scanF[lid] += a;
    workgroupBarrier();
  }
  let r = scanF[lid] - v;
  workgroupBarrier();
  return r;
}

fn scanU32(v: u32, lid: u32, suffix: bool) -> u32 {
  let at = select(lid, ${WG - 1}u - lid, suffix);
  scanU[at] = v;
  workgroupBarrier();
  for (var s = 1u; s < ${WG}u; s <<= 1u) {
    let a = select(0u, scanU[at - min(s, at)], at >= s);
    workgroupBarrier();
    scanU[at] += a;
    workgroupBarrier();
  }
  let r = scanU[at] - v;
  workgroupBarrier();
  return r;
}

fn keptMasses(chunk: u32, m: f32, cutAt: vec2u, tiesAfter: u32, lid: u32) -> f32 {
  let base = chunk * ${CHUNK}u + lid * ${PER}u;
  var ties = 0u;
  for (var j = 0u; j < ${PER}u; j++) {
    if (base + j < p.cols && keyOf(z[base + j]) == cutAt.x) { ties++; }
  }
  // Ties with higher indices: those in later lanes and chunks, then this lane's from the top.
  var above = tiesAfter + scanU32(ties, lid, true);
  var sum = 0.0;
  for (var jj = 0u; jj < ${PER}u; jj++) {
    let j = ${PER - 1}u - jj;
    kept[j] = 0.0;
    if (base + j >= p.cols) { continue; }
    let key = keyOf(z[base + j]);
    var keep = key > cutAt.x;
    if (key == cutAt.x) {
      keep = above < cutAt.y;
      above++;
    }
    if (keep) { kept[j] = exp(z[base + j] - m); }
    sum += kept[j];
  }
  return sum;
}
`;
