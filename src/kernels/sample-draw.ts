// The draw: the token at `uniform` (u ∈ [0, 1), from the caller's seeded generator) of the kept
// tokens' cumulative mass in index order (inverse CDF), with the mass exp(z − max) of every
// kept token. One workgroup per draw: it totals the chunks, finds the chunk where u·total falls, then walks
// that chunk's 4096 tokens. Also leaves the total in state.total and, per chunk, the number of
// ties at the cut in later chunks (for sample-probs).

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { CHUNK, chunkCount, chunkWalkWgsl, MAX_COLS, cutWgsl, PER, sampleStateWgsl, scoreMaxWgsl, WG, type CutMode } from './sample-common.js';
import { wgsl } from './wgsl.js';

const P = { cols: 'u32', nChunks: 'u32', mode: 'u32', uniform: 'f32' } as const;

export function sampleDrawWgsl(many: boolean): string {
  return wgsl`${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> st: SampleState;
@group(0) @binding(2) var<storage, read_write> chunks: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
#if ${many}
@group(0) @binding(4) var<storage, read> uniforms: array<f32>;
#endif
${sampleStateWgsl}
${scoreMaxWgsl}
${cutWgsl}
${chunkWalkWgsl}
// Ties at the cut in the chunks after c.
fn tiesAfter(c: u32) -> u32 {
  var after = 0u;
  for (var d = c + 1u; d < p.nChunks; d++) { after += chunks[4u * d + 2u]; }
  return after;
}

var<workgroup> chunkKept: array<f32, ${MAX_COLS / CHUNK}>;
var<workgroup> pickChunk: u32;
var<workgroup> pickGoal: f32;
var<workgroup> pickTiesAfter: u32;
var<workgroup> picked: atomic<u32>;
var<workgroup> lastKept: atomic<u32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m = scoreMax(lid);
  let cutAt = cut();
  if (lid == 0u) {
    // Each chunk's kept mass; which ties at the cut stay is counted from the highest index down.
    let each = exp(valueOf(cutAt.x) - m);
    var after = 0u;
    for (var c = p.nChunks; c > 0u; c--) {
      let at = 4u * (c - 1u);
      let ties = chunks[at + 2u];
      let keptTies = min(ties, cutAt.y - min(after, cutAt.y));
      if (wid.x == 0u) { chunks[at + 3u] = after; }
      after += ties;
      chunkKept[c - 1u] = bitcast<f32>(chunks[at + 1u]) + select(0.0, f32(keptTies) * each, keptTies > 0u);
    }
    var total = 0.0;
    for (var c = 0u; c < p.nChunks; c++) { total += chunkKept[c]; }
    if (wid.x == 0u) { st.total = total; }
#if ${many}
    let goal = uniforms[wid.x] * total;
#else
    let goal = p.uniform * total;
#endif
    var cum = 0.0;
    var chunk = 0xffffffffu;
    var last = 0u;
    var lastCum = 0.0;
    for (var c = 0u; c < p.nChunks; c++) {
      let mass = chunkKept[c];
      if (mass <= 0.0) { continue; }
      if (goal < cum + mass) { chunk = c; break; }
      last = c;
      lastCum = cum;
      cum += mass;
    }
    if (chunk == 0xffffffffu) { // u·total rounded onto the end: the last token with mass
      chunk = last;
      cum = lastCum;
    }
    pickChunk = chunk;
    pickGoal = goal - cum;
    pickTiesAfter = tiesAfter(chunk);
    atomicStore(&picked, 0xffffffffu);
    atomicStore(&lastKept, 0u);
  }
  let chunk = workgroupUniformLoad(&pickChunk);
  let goal = workgroupUniformLoad(&pickGoal);
  let laneMass = keptMasses(chunk, m, cutAt, workgroupUniformLoad(&pickTiesAfter), lid);
  let start = scanF32(laneMass, lid);
  let base = chunk * ${PER * WG}u + lid * ${PER}u;
  var lastHere = 0xffffffffu;
  for (var j = 0u; j < ${PER}u; j++) {
    if (kept[j] > 0.0) { lastHere = base + j; }
  }
  if (lastHere != 0xffffffffu) { atomicMax(&lastKept, lastHere); }
  if (laneMass > 0.0 && goal >= start && goal < start + laneMass) {
    var cum = start;
    var pick = lastHere;
    for (var j = 0u; j < ${PER}u; j++) {
      cum += kept[j];
      if (kept[j] > 0.0 && goal < cum) { pick = base + j; break; }
    }
    atomicMin(&picked, pick);
  }
  workgroupBarrier();
  if (lid == 0u) {
    let id = atomicLoad(&picked);
    out[wid.x] = select(id, atomicLoad(&lastKept), id == 0xffffffffu);
  }
}`;
}

/**
 * Writes the drawn token id (u32) to out[0], or with `uniforms` (f32 buffer) one draw per uniform
 * to out[0 … count). Runs after sampleChunks with the same `mode`.
 */
export function sampleDraw(
  step: Step,
  a: { z: Binding; state: Binding; chunks: Binding; out: Binding; cols: number; mode: CutMode; uniform: number | { uniforms: Binding; count: number } },
): void {
  const many = typeof a.uniform !== 'number';
  const k = step.gpu.kernel({ name: `sample-draw${many ? '-many' : ''}`, bindings: ['read', 'write', 'write', 'write', ...(many ? (['read'] as const) : [])], code: () => sampleDrawWgsl(many) });
  const nChunks = chunkCount(a.cols);
  const u = a.uniform;
  const bindings = [a.z, a.state, a.chunks, a.out, ...(typeof u === 'number' ? [] : [u.uniforms])];
  const groups = typeof u === 'number' ? 1 : u.count;
  if (groups > step.gpu.limits.maxComputeWorkgroupsPerDimension) throw new Error(`sample: ${groups} draws exceed one dispatch dimension`);
  step.dispatch(k, bindings, params({ cols: a.cols, nChunks, mode: a.mode, uniform: typeof u === 'number' ? u : 0 }, P), [groups]);
}
