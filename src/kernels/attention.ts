// Flash-style attention (prefill, and the split half of decode): K/V streamed in tiles of TK keys,
// running max m and denominator l per query, accumulator rescaled by exp(m_old − m_new), so the
// [seqQ, seqK] score matrix never exists (SigLIP at 896 px would need 4096²·16 floats per layer).
//
// Work unit: a "slot" = (query row i, query head g of the KV head's group). Slots are numbered
// row-major (i·group + g), so with MQA (Gemma: 8 query heads on one KV head) the 8 lanes of a
// subgroup are the 8 heads of one query row, and every slot of a workgroup reads the same K/V rows.
// Each workgroup owns SL·R slots of one KV head (SL slot-lanes × R slots per lane) and streams the
// keys its last row can see, so the K/V addresses are uniform across the workgroup.
//
// Two variants, chosen per adapter by `attentionConfig`:
// - CPU (lavapipe/llvmpipe): one lane owns R whole query rows (L = 1). lavapipe turns a per-lane
//   storage load into a scalar loop over lanes (~70 FMAs each) but a load at a uniform address costs
//   ~8 FMAs, so K/V are read at uniform addresses and each element loaded feeds R·8 lanes of FMAs.
//   Prefill there mostly runs as the GEMMs of attention-matmul.ts instead (4–8× faster): this
//   serves decode and prefills of a few query slots.
// - GPU: L lanes split the head dim (a thread holding a 256-float query row and accumulator would
//   spill registers); the L partial dot products are summed through workgroup memory (portable:
//   no assumption on subgroup size or lane numbering). K/V rows are read coalesced by the L lanes
//   and shared through the cache by all slots of the workgroup.
//
// Split mode (decode, flash-decoding): grid y splits the keys into chunks of `splitLen`; each
// workgroup writes its unnormalised accumulator and (m, l) for the reduce in attention-decode.ts.
//
// Batch: grid z = batch·kvHeads. Sequence b reads q/out rows b·seqQ + i and K/V rows
// b·kvBatchRows + j (kvBatchRows = seqK for packed prefill K/V, the cache length for a KV cache).
// Sequences are left-padded to one length, so prefixLen and qStart are shared and only the first
// real key differs: `keyStarts` (u32 per sequence) replaces `keyStart` when given.
//
// Gemma 2 options: `softcap` maps each scaled score s to c·tanh(s/c) before the mask, and `window`
// hides key j from the query at position i when |i − j| ≥ window (big_vision's symmetric rule: a
// prefix query does not see prefix keys that far ahead either; docs/paligemma2.md). Each workgroup
// skips the key tiles no query of its rows can see, so a windowed decode step reads `window` keys.

import type { Binding, Gpu, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { seesWgsl } from './attention-mask.js';
import { attentionMatmul, usesAttentionMatmul } from './attention-matmul.js';
import { softcapWgsl } from './softcap.js';
import { wgsl } from './wgsl.js';

const P = {
  seqQ: 'u32',
  seqK: 'u32',
  kvHeads: 'u32',
  group: 'u32',
  qStrideW: 'u32',
  kvStrideW: 'u32',
  outStrideW: 'u32',
  kvBatchRows: 'u32',
  prefixLen: 'u32',
  qStart: 'u32',
  keyStart: 'u32',
  splitLen: 'u32',
  nSplit: 'u32',
  zero: 'u32',
  window: 'u32',
  scale: 'f32',
  softcap: 'f32',
} as const;

/** How the work is laid out on the adapter: lanes per workgroup, lanes per query (head-dim split), query slots per lane, keys per tile. */
export interface AttentionConfig {
  wg: number;
  lanesPerSlot: number;
  slotsPerLane: number;
  tile: number;
}

/**
 * The variant for this adapter, head size and number of query slots per KV head (query rows × query
 * heads per KV head; default: a prefill's many). CPU numbers were measured on lavapipe (bench/attention-ab.ts, 2026-11-28): each
 * K/V element a workgroup loads feeds slotsPerLane·wg slots, so prefill takes 4 slots per lane
 * (Gemma 8×256 over 260 tokens 0.85×, SigLIP 16×72 over 256 0.75× the time of 2; 8 gained another
 * 10–15 % but took 7 s to compile for headDim 256), while a decode query (8 slots on Gemma's KV head)
 * takes 1 so that no lane idles (0.69–0.71× the time of 2 over 266 and 1100 keys). The GPU variant
 * follows the usual register budget (≤ 8 vec4 of query + 8 of accumulator per thread).
 */
export function attentionConfig(gpu: Pick<Gpu, 'cpuAdapter'>, headDim: number, slots = Infinity): AttentionConfig {
  if (gpu.cpuAdapter) return { wg: 8, lanesPerSlot: 1, slotsPerLane: slots > 8 ? 4 : 1, tile: 8 };
  const hdw = headDim % 4 === 0 ? headDim / 4 : headDim;
  let l = 8;
  while (hdw % l !== 0) l /= 2;
  return { wg: 64, lanesPerSlot: l, slotsPerLane: 1, tile: 16 };
}

export interface AttentionVariant extends AttentionConfig {
  headDim: number;
  vec: number;
  split: boolean;
  perSeqKeyStart: boolean;
  /** Loop bounds the compiler cannot see (CPU adapters, see kernelCode). */
  opaqueLoops: boolean;
  /** Split mode only: the key count comes from a u32 buffer (decode replays one recorded step). */
  lengthFromBuffer: boolean;
  softcap: boolean;
}

/** The variant a dispatch compiles: the config with its lanes per slot fitted to the head's vectors. */
export function attentionVariant(base: AttentionConfig, o: Omit<AttentionVariant, keyof AttentionConfig>): AttentionVariant {
  let lanesPerSlot = base.lanesPerSlot;
  while ((o.headDim / o.vec) % lanesPerSlot !== 0) lanesPerSlot /= 2;
  return { ...base, ...o, lanesPerSlot };
}

export function attentionWgsl(c: AttentionVariant): string {
  const W = c.vec;
  const HDW = c.headDim / W;
  const L = c.lanesPerSlot;
  const DW = HDW / L;
  const SL = c.wg / L;
  // Bindings after the four fixed ones are numbered in order of presence.
  const ksBinding = 4 + Number(c.split);
  const lenBinding = ksBinding + Number(c.perSeqKeyStart);
  return wgsl`
${paramsWgsl(P)}
#if ${W === 4}
alias VT = vec4f;
#else
alias VT = f32;
#endif
@group(0) @binding(0) var<storage, read> q: array<VT>;
@group(0) @binding(1) var<storage, read> k: array<VT>;
@group(0) @binding(2) var<storage, read> v: array<VT>;
@group(0) @binding(3) var<storage, read_write> out: array<VT>;
#if ${c.split}
@group(0) @binding(4) var<storage, read_write> ml: array<vec2f>;
#endif
#if ${c.perSeqKeyStart}
@group(0) @binding(${ksBinding}) var<storage, read> keyStarts: array<u32>;
#endif
#if ${c.lengthFromBuffer}
@group(0) @binding(${lenBinding}) var<storage, read> keyCount: array<u32>;
#endif
const WG = ${c.wg}u;
const L = ${L}u;
const SL = ${SL}u;
const R = ${c.slotsPerLane}u;
const TK = ${c.tile}u;
const HDW = ${HDW}u;
const DW = ${DW}u;
const NEG = -3.0e38; // masked score; exp(NEG - m) underflows to 0 for any real m
#if ${L > 1}
var<workgroup> red: array<f32, R * TK * WG>;
#endif
#if ${c.softcap}
${softcapWgsl}
#endif
${seesWgsl}

#if ${W === 4}
fn vdot(a: VT, b: VT) -> f32 { return dot(a, b); }
#else
fn vdot(a: VT, b: VT) -> f32 { return a * b; }
#endif

@compute @workgroup_size(${c.wg})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  // llvmpipe fully unrolls constant-bound loops over these private arrays, and LLVM then needs
  // from 0.1 s to many minutes per pipeline depending on the sizes (measured: hd 72 with R 1 took
  // 435 s, R 4 0.3 s). On CPU adapters the bounds go through a uniform that is always 0, so the
  // loops stay loops (arrays indexed at uniform indices: plain vector loads there), except in a
  // decode chunk (see recordAttention). GPUs get constants.
#if ${c.opaqueLoops}
  let nD = DW + p.zero; let nR = R + p.zero; let nT = TK + p.zero;
#else
  const nD = DW; const nR = R; const nT = TK;
#endif
#if ${c.lengthFromBuffer}
  // A decode query is the newest row: it sees every key so far (prefixLen = seqK, qStart = seqK − 1).
  let seqK = keyCount[0]; let prefixLen = seqK; let qStart = seqK - 1u;
#else
  let seqK = p.seqK; let prefixLen = p.prefixLen; let qStart = p.qStart;
#endif
  let b = wg.z / p.kvHeads;
  let kvh = wg.z % p.kvHeads;
  let sub = tid / L;
  let li = tid % L;
  let nSlots = p.seqQ * p.group;
  let slot0 = wg.x * SL * R;
  // Keys the block needs: up to what its last row sees, from what its first row sees (uniform over the workgroup).
  let firstPos = qStart + slot0 / p.group;
  let lastPos = qStart + (min(slot0 + SL * R, nSlots) - 1u) / p.group;
#if ${c.perSeqKeyStart}
  var kBeg = keyStarts[b];
#else
  var kBeg = p.keyStart;
#endif
  var kEnd = min(seqK, max(prefixLen, lastPos + 1u));
  if (firstPos >= p.window) { kBeg = max(kBeg, firstPos - p.window + 1u); }
  kEnd = min(kEnd, lastPos + min(p.window, seqK));
  kBeg = max(kBeg, wg.y * p.splitLen);
  kEnd = min(kEnd, (wg.y + 1u) * p.splitLen);

  var qr: array<array<VT, DW>, R>;
  var acc: array<array<VT, DW>, R>;
  var m: array<f32, R>;
  var l: array<f32, R>;
  var qpos: array<u32, R>;
  for (var r = 0u; r < nR; r++) {
    let slot = min(slot0 + r * SL + sub, nSlots - 1u);
    let i = slot / p.group;
    let h = kvh * p.group + slot % p.group;
    let qb = (b * p.seqQ + i) * p.qStrideW + h * HDW + li;
    for (var d = 0u; d < nD; d++) { qr[r][d] = q[qb + d * L] * p.scale; }
    m[r] = NEG;
    qpos[r] = qStart + i;
  }
  let kvb = b * p.kvBatchRows * p.kvStrideW + kvh * HDW + li;

  for (var t0 = kBeg; t0 < kEnd; t0 += TK) {
    // Explicit zeros: a bare 'var s;' here kept the previous tile's scores on Dawn + lavapipe.
    var s = array<array<f32, TK>, R>();
    for (var jj = 0u; jj < nT; jj++) {
      let kr = kvb + min(t0 + jj, kEnd - 1u) * p.kvStrideW;
      for (var d = 0u; d < nD; d++) {
        let kd = k[kr + d * L];
        for (var r = 0u; r < nR; r++) { s[r][jj] += vdot(qr[r][d], kd); }
      }
    }
#if ${L > 1}
    // The L lanes of a slot each hold a slice of the dot product: sum them through workgroup memory.
    workgroupBarrier();
    for (var r = 0u; r < nR; r++) { for (var jj = 0u; jj < nT; jj++) { red[(r * TK + jj) * WG + tid] = s[r][jj]; } }
    workgroupBarrier();
    for (var r = 0u; r < nR; r++) {
      for (var jj = 0u; jj < nT; jj++) {
        var t = 0.0;
        for (var x = 0u; x < L; x++) { t += red[(r * TK + jj) * WG + sub * L + x]; }
        s[r][jj] = t;
      }
    }
#endif
    for (var r = 0u; r < nR; r++) {
      var mt = m[r];
      for (var jj = 0u; jj < nT; jj++) {
        let j = t0 + jj;
        let ok = j < kEnd && sees(j, qpos[r], kBeg, prefixLen, p.window); // j ≥ kBeg ≥ keyStart: the tiles start there
#if ${c.softcap}
        s[r][jj] = select(NEG, softcap(s[r][jj], p.softcap), ok);
#else
        s[r][jj] = select(NEG, s[r][jj], ok);
#endif
        mt = max(mt, s[r][jj]);
      }
      let corr = exp(m[r] - mt);
      m[r] = mt;
      var ps = 0.0;
      for (var jj = 0u; jj < nT; jj++) {
        // Test the score, not exp(NEG - mt): while every key so far is masked mt is NEG too.
        let e = select(0.0, exp(s[r][jj] - mt), s[r][jj] > -1.0e38);
        s[r][jj] = e;
        ps += e;
      }
      l[r] = l[r] * corr + ps;
      for (var d = 0u; d < nD; d++) { acc[r][d] *= corr; }
    }
    for (var jj = 0u; jj < nT; jj++) {
      let vr = kvb + min(t0 + jj, kEnd - 1u) * p.kvStrideW;
      for (var d = 0u; d < nD; d++) {
        let vd = v[vr + d * L];
        for (var r = 0u; r < nR; r++) { acc[r][d] += s[r][jj] * vd; }
      }
    }
  }

  for (var r = 0u; r < nR; r++) {
    let slot = slot0 + r * SL + sub;
    if (slot < nSlots) {
      let i = slot / p.group;
      let h = kvh * p.group + slot % p.group;
#if ${c.split}
      let pi = ((b * p.seqQ + i) * p.kvHeads * p.group + h) * p.nSplit + wg.y;
      for (var d = 0u; d < nD; d++) { out[pi * HDW + li + d * L] = acc[r][d]; }
      if (li == 0u) { ml[pi] = vec2f(m[r], l[r]); }
#else
      let o = (b * p.seqQ + i) * p.outStrideW + h * HDW + li;
      let inv = select(0.0, 1.0 / l[r], l[r] > 0.0); // a query that sees no key gets zeros
      for (var d = 0u; d < nD; d++) { out[o + d * L] = acc[r][d] * inv; }
#endif
    }
  }
}`;
}

export interface AttentionArgs {
  /** [batch·seqQ, heads·headDim] rows (row stride `qStride` floats). */
  q: Binding;
  /** [batch·kvBatchRows, kvHeads·headDim] rows (row stride `kvStride`). */
  k: Binding;
  v: Binding;
  /** [batch·seqQ, heads·headDim] rows (row stride `outStride`). */
  out: Binding;
  seqQ: number;
  /** Keys 0..seqK−1 of each sequence are valid. */
  seqK: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  scale: number;
  /** Keys below prefixLen are seen by every query (bidirectional prefix); later keys causally. seqK = no mask. */
  prefixLen: number;
  /** Absolute position of query row 0 (queries continuing a cache). */
  qStart: number;
  /** Keys below keyStart are masked (left padding). */
  keyStart?: number;
  /** u32 per sequence: per-sequence keyStart (batched left-padded sequences); overrides keyStart. */
  keyStarts?: Binding;
  /** Scores s → softcap·tanh(s/softcap) before the mask (Gemma 2); 0 or absent = none. */
  softcap?: number;
  /** Key j is hidden from the query at position i when |i − j| ≥ window (Gemma 2's sliding layers); 0 or absent = none. */
  window?: number;
  qStride?: number;
  kvStride?: number;
  outStride?: number;
  batch?: number;
  /** Rows between two sequences' K/V (default seqK; the cache length for a KV cache). */
  kvBatchRows?: number;
  /** Override the adapter's variant (tests, benchmarks). */
  config?: AttentionConfig;
}

/** Partial results of a split-K run: `acc` [rows·heads·nSplit, headDim] unnormalised, `ml` [.., 2] = (max, sum). */
export interface SplitOutput {
  acc: Binding;
  ml: Binding;
  splitLen: number;
  nSplit: number;
  /** u32 [1]: the key count, read on the GPU (overrides seqK, prefixLen and qStart as for a decode query). */
  keyCount?: Binding;
}

function checkArgs(a: AttentionArgs): void {
  for (const [k, v] of [['softcap', a.softcap], ['window', a.window]] as const) {
    if (v !== undefined && !(v >= 0 && Number.isFinite(v))) throw new Error(`attention: ${k} ${v} must be a finite number ≥ 0`);
  }
  if (a.window && !Number.isInteger(a.window)) throw new Error(`attention: window ${a.window} is not an integer`);
  if (a.heads % a.kvHeads !== 0) throw new Error(`attention: heads ${a.heads} not a multiple of kvHeads ${a.kvHeads}`);
}

/** Shared by the prefill launcher and decode (split mode); validates shapes and records one dispatch. */
export function recordAttention(step: Step, a: AttentionArgs, split?: SplitOutput): void {
  const { seqQ, seqK, heads, kvHeads, headDim } = a;
  checkArgs(a);
  const qStride = a.qStride ?? heads * headDim;
  const kvStride = a.kvStride ?? kvHeads * headDim;
  const outStride = a.outStride ?? heads * headDim;
  const batch = a.batch ?? 1;
  const vec = [headDim, qStride, kvStride, outStride].every((x) => x % 4 === 0) ? 4 : 1;
  const base = a.config ?? attentionConfig(step.gpu, headDim, seqQ * (heads / kvHeads));
  // A Gemma decode chunk (split, head 256) compiles in a second unrolled and runs 1.6–1.9× faster
  // so on lavapipe (bench/attention-ab.ts: 8 × 256 over 266 and 1100 keys, 2026-12-02). Smaller
  // heads unrolled took minutes to compile (2026-12-02, empty shader cache: 64 143 s, 72 142 s,
  // 128 355 s): they keep opaque loops.
  const opaqueLoops = step.gpu.cpuAdapter && !(split && headDim >= 256);
  const c = attentionVariant(base, { headDim, vec, split: !!split, perSeqKeyStart: !!a.keyStarts, opaqueLoops, lengthFromBuffer: !!split?.keyCount, softcap: !!a.softcap });
  const lanesPerSlot = c.lanesPerSlot;
  const group = heads / kvHeads;
  const slotsPerGroup = (c.wg / lanesPerSlot) * c.slotsPerLane;
  const blocks = Math.ceil((seqQ * group) / slotsPerGroup);
  const nSplit = split?.nSplit ?? 1;
  const name = `attention_${headDim}_${vec}_${c.wg}_${lanesPerSlot}_${c.slotsPerLane}_${c.tile}${split ? '_split' : ''}${a.keyStarts ? '_ks' : ''}${c.lengthFromBuffer ? '_len' : ''}${c.softcap ? '_cap' : ''}${opaqueLoops ? '_opaque' : ''}`;
  const bindings: ('read' | 'write')[] = ['read', 'read', 'read', 'write'];
  if (split) bindings.push('write');
  if (a.keyStarts) bindings.push('read');
  if (split?.keyCount) bindings.push('read');
  const kernel = step.gpu.kernel({ name, bindings, code: () => attentionWgsl(c) });
  const buffers: Binding[] = [a.q, a.k, a.v, split ? split.acc : a.out];
  if (split) buffers.push(split.ml);
  if (a.keyStarts) buffers.push(a.keyStarts);
  if (split?.keyCount) buffers.push(split.keyCount);
  const u = params(
    {
      seqQ,
      seqK,
      kvHeads,
      group,
      qStrideW: qStride / vec,
      kvStrideW: kvStride / vec,
      outStrideW: outStride / vec,
      kvBatchRows: a.kvBatchRows ?? seqK,
      prefixLen: a.prefixLen,
      qStart: a.qStart,
      keyStart: a.keyStart ?? 0,
      splitLen: split?.splitLen ?? 0xffffffff,
      nSplit,
      zero: 0,
      window: a.window || 0xffffffff,
      scale: a.scale,
      softcap: a.softcap ?? 0,
    },
    P,
  );
  step.dispatch(kernel, buffers, u, [blocks, nSplit, batch * kvHeads], name);
}

/**
 * Prefill attention: out[i, h] = softmax_j(cap(scale·q[i,h]·k[j,kvh])) v[j,kvh] over the visible keys
 * (query i at absolute position qStart+i sees key j iff keyStart ≤ j and (j < prefixLen or j ≤ qStart+i)
 * and |qStart+i − j| < window),
 * kvh = floor(h / (heads/kvHeads)). A query that sees no key gets zeros. On CPU adapters as
 * GEMMs around a softmax (attention-matmul.ts) where those serve; `config` forces this kernel.
 */
export function attention(step: Step, a: AttentionArgs): void {
  if (!usesAttentionMatmul(step.gpu, a)) return recordAttention(step, a);
  checkArgs(a);
  attentionMatmul(step, a);
}
