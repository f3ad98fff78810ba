// Prefill attention on CPU adapters as two texture GEMMs around a masked softmax: per sequence, K
// and Vᵀ of the KV heads go into float32 textures (kv-texture.ts), the scores S = Q·Kᵀ of a block
// of query slots are one matmul-texture GEMM per head, attention-softmax.ts turns them into
// weights in place, and O = P·V is a second GEMM writing the heads' columns of out; the heads are
// the batch of each dispatch (matmulTexture's `batch`). On lavapipe a texel fetch and
// subgroupBroadcast are what is cheap (matmul-texture.ts), and the flash kernel (attention.ts)
// reads K and V at uniform addresses, ~8 FMAs each: this ran the PaliGemma shapes 4–8× faster
// (bench/README.md). The score matrix exists here, one block of slots at a time within a binding.
//
// Slots are (query row, query head of the KV head's group). Where a query row's group heads are
// consecutive rows of one matrix (MQA with packed rows: Gemma) one GEMM covers all of them and
// every K texel feeds group× the rows; otherwise each query head is its own GEMM over strided rows.

import type { Gpu, Step } from '../device.js';
import type { AttentionArgs } from './attention.js';
import { attentionSoftmax } from './attention-softmax.js';
import { kvTexture } from './kv-texture.js';
import { subgroupsOf8 } from './matmul.js';
import { matmulTexture, textureTiling } from './matmul-texture.js';
import { scratchTexture } from './weight-texture.js';

const PLAIN = { bias: false, accumulate: false, geglu: false };

/** The row strides (defaults filled in), and the query slots per GEMM: group rows per query when merged, else one. */
function layout(a: AttentionArgs) {
  const group = a.heads / a.kvHeads;
  const qStride = a.qStride ?? a.heads * a.headDim;
  const kvStride = a.kvStride ?? a.kvHeads * a.headDim;
  const outStride = a.outStride ?? a.heads * a.headDim;
  const merged = group > 1 && qStride === group * a.headDim && outStride === group * a.headDim;
  return { group, qStride, kvStride, outStride, merged, slots: a.seqQ * (merged ? group : 1) };
}

/**
 * Whether attentionMatmul serves these args on this adapter: a CPU adapter with subgroups of 8
 * (matmul-texture's x sharing), rows of whole vec4s, and more than 8 slots per GEMM (fewer fill
 * no 16-row block: the flash kernel's decode-sized case).
 */
export function usesAttentionMatmul(gpu: Gpu, a: AttentionArgs): boolean {
  const l = layout(a);
  return gpu.cpuAdapter && gpu.features.readTextures && subgroupsOf8(gpu) && !a.config && [a.headDim, l.qStride, l.kvStride, l.outStride].every((x) => x % 4 === 0) && l.slots > 8;
}

/**
 * The output GEMM's tiling: N is the head size, so where it is below one workgroup's columns
 * (SigLIP's 72 of 16 lanes × 8) 8 lanes take ceil(N / 8) columns each instead (72 = 8 × 9: no
 * idle columns; SigLIP 16×72 over 256 keys took 0.74× / 0.93× the time in two processes).
 */
function outputTiling(rows: number, K: number, N: number) {
  const t = textureTiling(rows, K, false, true, 'f32');
  return N < t.lanes * t.cols && N <= 8 * 16 ? { ...t, lanes: 8, cols: Math.ceil(N / 8) } : t;
}

/**
 * KV heads per dispatch and query slots per score block: all heads where each block keeps at
 * least min(slots, 256) rows within one binding, otherwise fewer heads. SigLIP's 16 heads of
 * small GEMMs ran as 80 dispatches a layer, each ≈ 0.1–0.3 ms of lavapipe overhead; batched, its
 * attention took 0.59–0.77× the time at 224 px, 0.89–0.91× at 448 (bench/README.md).
 */
function batching(gpu: Gpu, kvHeads: number, slots: number, ld: number): { heads: number; block: number } {
  const floats = Math.min(gpu.limits.maxStorageBufferBindingSize, 128 << 20) / 4;
  const heads = Math.max(1, Math.min(kvHeads, Math.floor(floats / (ld * Math.min(slots, 256)))));
  // Score blocks of a multiple of 16 rows (the GEMM's row block).
  const block = Math.min(slots, Math.floor(floats / (heads * ld) / 16) * 16);
  if (block === 0) throw new Error(`attention: ${ld} keys do not fit 16 score rows in a binding`);
  return { heads, block };
}

export function attentionMatmul(step: Step, a: AttentionArgs): void {
  const { seqQ, seqK, kvHeads, headDim: hd } = a;
  const gpu = step.gpu;
  const kvBatchRows = a.kvBatchRows ?? seqK;
  const { group, qStride, kvStride, outStride, merged, slots } = layout(a);
  const ld = Math.ceil(seqK / 4) * 4;
  const { heads: Z, block } = batching(gpu, kvHeads, slots, ld);
  const scores = gpu.scratch('attention scores', Z * block * ld * 4);
  const keysTex = scratchTexture(gpu, 'attention keys', Z * seqK, hd);
  const valuesTex = scratchTexture(gpu, 'attention values (transposed)', Z * hd, ld);
  for (let b = 0; b < (a.batch ?? 1); b++) {
    for (let h0 = 0; h0 < kvHeads; h0 += Z) {
      const heads = Math.min(Z, kvHeads - h0);
      const base = b * kvBatchRows * kvStride + h0 * hd;
      kvTexture(step, { src: a.k, base, stride: kvStride, keys: seqK, headDim: hd, transpose: false, out: keysTex, heads, headStep: hd });
      kvTexture(step, { src: a.v, base, stride: kvStride, keys: seqK, headDim: hd, transpose: true, out: valuesTex, heads, headStep: hd });
      for (let g = 0; g < (merged ? 1 : group); g++) {
        const head = h0 * group + g;
        const ldx = merged ? hd : qStride;
        const ldo = merged ? hd : outStride;
        for (let m0 = 0; m0 < slots; m0 += block) {
          const rows = Math.min(block, slots - m0);
          const xOff = b * seqQ * qStride + head * hd + m0 * ldx;
          matmulTexture(step, { x: a.q, out: scores }, keysTex, undefined, {
            M: rows, K: hd, N: seqK, ldo: ld, colOff: 0, ldx, xOff,
            batch: { count: heads, x: group * hd, w: seqK, outRows: rows, outCols: 0 },
          }, PLAIN, textureTiling(rows, hd, false, true, 'f32'));
          attentionSoftmax(step, {
            scores, rows: heads * rows, headRows: rows, keys: seqK, ld, m0, perQuery: merged ? group : 1, qStart: a.qStart, prefixLen: a.prefixLen,
            window: a.window ?? 0, keyStart: a.keyStart ?? 0, keyStarts: a.keyStarts, seq: b, scale: a.scale, softcap: a.softcap ?? 0,
          });
          const colOff = b * seqQ * outStride + head * hd + m0 * ldo;
          matmulTexture(step, { x: scores, out: a.out }, valuesTex, undefined, {
            M: rows, K: ld, N: hd, ldo, colOff,
            batch: { count: heads, x: rows * ld, w: hd, outRows: 0, outCols: group * hd },
          }, PLAIN, outputTiling(rows, ld, hd));
        }
      }
    }
  }
}
