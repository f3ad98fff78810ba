// Decode attention (flash-decoding): one query row per head over a KV cache. The keys are split into
// chunks spread over workgroups (the split mode of the attention kernel in attention.ts writes each
// chunk's unnormalised accumulator and its running (max, sum)); this file's kernel merges the chunks:
// out = Σ_s e^(m_s−M)·acc_s / Σ_s e^(m_s−M)·l_s with M = max_s m_s. Without the split a 4096-token
// cache would run on one workgroup per KV head.

import type { Binding, Gpu, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { recordAttention, type AttentionConfig } from './attention.js';

const P = { heads: 'u32', headDim: 'u32', nSplit: 'u32', outStride: 'u32' } as const;
const WG = 64;

export const decodeReduceWgsl = /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> acc: array<f32>;
@group(0) @binding(1) var<storage, read> ml: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// One workgroup per (row, head): the (max, sum) loads are at uniform addresses, the lanes run over the head dim.
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let h = wg.x;
  let row = wg.y;
  let base = (row * p.heads + h) * p.nSplit;
  var mx = -3.0e38;
  for (var s = 0u; s < p.nSplit; s++) { mx = max(mx, ml[base + s].x); }
  var l = 0.0;
  for (var s = 0u; s < p.nSplit; s++) { l += exp(ml[base + s].x - mx) * ml[base + s].y; }
  let inv = select(0.0, 1.0 / l, l > 0.0); // no visible key: zeros, as in prefill
  for (var e = tid; e < p.headDim; e += ${WG}u) {
    var a = 0.0;
    for (var s = 0u; s < p.nSplit; s++) { a += exp(ml[base + s].x - mx) * acc[(base + s) * p.headDim + e]; }
    out[row * p.outStride + h * p.headDim + e] = a * inv;
  }
}`;

export interface DecodeAttentionArgs {
  /** This step's query row per sequence, [batch, heads·headDim]. */
  q: Binding;
  /** KV cache [batch·maxLen, kvHeads·headDim]. */
  k: Binding;
  v: Binding;
  /** [batch, heads·headDim]. */
  out: Binding;
  heads: number;
  kvHeads: number;
  headDim: number;
  scale: number;
  /**
   * u32 [1], read on the GPU: cache rows 0..count−1 of each sequence hold keys (the newest is this
   * step's token), so one recorded decode step serves every position.
   */
  keyCount: Binding;
  /** Cache rows per sequence: the most keys there can be. The key chunks are laid out for this many. */
  maxLen: number;
  /** Keys below keyStart are masked (left padding). */
  keyStart?: number;
  /** u32 per sequence, overrides keyStart. */
  keyStarts?: Binding;
  /** As in attention(): scores soft-capped, keys at distance ≥ window from the newest hidden (Gemma 2). */
  softcap?: number;
  window?: number;
  batch?: number;
  qStride?: number;
  kvStride?: number;
  outStride?: number;
  /** Keys per chunk (default: by adapter, see `decodeSplitLen`). */
  splitLen?: number;
  config?: AttentionConfig;
  /** Partial-result buffers from `decodeScratch` (default: shared per device, grown on demand). */
  scratch?: DecodeScratch;
}

export interface DecodeScratch {
  acc: GPUBuffer;
  ml: GPUBuffer;
}

/**
 * Keys per chunk: enough chunks to fill the device (a CPU has 2 worker threads here, a GPU ~100
 * multiprocessors), but no chunk so short that the reduce outweighs it: 64 keys on a CPU, 16 on a
 * GPU (64 left an H200 at 68 µs per layer over 300 keys: 6 workgroups, each a long serial walk).
 */
export function decodeSplitLen(gpu: Gpu, maxLen: number, kvHeads: number, batch: number): number {
  const [target, least] = gpu.cpuAdapter ? [8, 64] : [128, 16];
  const splits = Math.max(1, Math.floor(target / (kvHeads * batch)));
  return Math.max(least, Math.ceil(maxLen / splits / 16) * 16);
}

function layout(gpu: Gpu, a: { maxLen: number; kvHeads: number; batch?: number; splitLen?: number }): { splitLen: number; nSplit: number } {
  const splitLen = a.splitLen ?? decodeSplitLen(gpu, a.maxLen, a.kvHeads, a.batch ?? 1);
  return { splitLen, nSplit: Math.max(1, Math.ceil(a.maxLen / splitLen)) };
}

/**
 * Partial-result buffers for decodeAttention calls with these sizes and up to `batch` sequences
 * (the chunk layout depends on the batch), owned by the caller (e.g. a model whose decode step is recorded).
 */
export function decodeScratch(gpu: Gpu, a: { heads: number; kvHeads: number; headDim: number; maxLen: number; batch?: number; splitLen?: number }): DecodeScratch {
  let records = 0;
  for (let b = 1; b <= (a.batch ?? 1); b++) records = Math.max(records, b * a.heads * layout(gpu, { ...a, batch: b }).nSplit);
  return { acc: gpu.buffer(records * a.headDim * 4, 'decode attention partials'), ml: gpu.buffer(records * 8, 'decode attention max/sum') };
}

/** The device's shared scratch, grown on demand (dispatches run in order, so reuse is safe). */
function sharedScratch(gpu: Gpu, records: number, headDim: number): DecodeScratch {
  return { acc: gpu.scratch('decode attention partials', records * headDim * 4), ml: gpu.scratch('decode attention max/sum', records * 8) };
}

/**
 * out[h] = softmax_j(cap(scale·q[h]·k[j])) v[j] over keys max(keyStart, keyCount − window) ≤ j < keyCount
 * of the cache (KV head floor(h/(heads/kvHeads))).
 */
export function decodeAttention(step: Step, a: DecodeAttentionArgs): void {
  const batch = a.batch ?? 1;
  const { splitLen, nSplit } = layout(step.gpu, a);
  const records = batch * a.heads * nSplit;
  const { acc, ml } = a.scratch ?? sharedScratch(step.gpu, records, a.headDim);
  if (acc.size < records * a.headDim * 4 || ml.size < records * 8) throw new Error(`decodeAttention: scratch too small for ${records} partial results`);
  recordAttention(
    step,
    {
      q: a.q,
      k: a.k,
      v: a.v,
      out: a.out,
      seqQ: 1,
      seqK: a.maxLen,
      heads: a.heads,
      kvHeads: a.kvHeads,
      headDim: a.headDim,
      scale: a.scale,
      prefixLen: a.maxLen,
      qStart: a.maxLen - 1,
      keyStart: a.keyStart,
      keyStarts: a.keyStarts,
      softcap: a.softcap,
      window: a.window,
      qStride: a.qStride,
      kvStride: a.kvStride,
      outStride: a.outStride,
      batch,
      kvBatchRows: a.maxLen,
      config: a.config,
    },
    { acc, ml, splitLen, nSplit, keyCount: a.keyCount },
  );
  const k = step.gpu.kernel({ name: 'attention_decode_reduce', bindings: ['read', 'read', 'write'], code: decodeReduceWgsl });
  const outStride = a.outStride ?? a.heads * a.headDim;
  step.dispatch(k, [acc, ml, a.out], params({ heads: a.heads, headDim: a.headDim, nSplit, outStride }, P), [a.heads, batch]);
}
