// Prefill attention on CPU adapters as two texture GEMMs around a masked softmax: per sequence and
// KV head, K and Vᵀ go into float32 textures (kv-texture.ts), the scores S = Q·Kᵀ of a block of
// query slots are one matmul-texture GEMM, attention-softmax.ts turns them into weights in place,
// and O = P·V is a second GEMM writing the heads' columns of out. On lavapipe a texel fetch and
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
  return gpu.cpuAdapter && subgroupsOf8(gpu) && !a.config && [a.headDim, l.qStride, l.kvStride, l.outStride].every((x) => x % 4 === 0) && l.slots > 8;
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

export function attentionMatmul(step: Step, a: AttentionArgs): void {
  const { seqQ, seqK, kvHeads, headDim: hd } = a;
  const gpu = step.gpu;
  const kvBatchRows = a.kvBatchRows ?? seqK;
  const { group, qStride, kvStride, outStride, merged, slots } = layout(a);
  const ld = Math.ceil(seqK / 4) * 4;
  // Score blocks of a multiple of 16 rows (the GEMM's row block) within one binding.
  const maxRows = Math.floor(Math.min(gpu.limits.maxStorageBufferBindingSize, 128 << 20) / (ld * 4) / 16) * 16;
  if (maxRows === 0) throw new Error(`attention: ${seqK} keys do not fit one score row in a binding`);
  const block = Math.min(slots, maxRows);
  const scores = gpu.scratch('attention scores', block * ld * 4);
  const keysTex = scratchTexture(gpu, 'attention keys', seqK, hd);
  const valuesTex = scratchTexture(gpu, 'attention values (transposed)', hd, ld);
  for (let b = 0; b < (a.batch ?? 1); b++) {
    for (let h = 0; h < kvHeads; h++) {
      const base = b * kvBatchRows * kvStride + h * hd;
      kvTexture(step, { src: a.k, base, stride: kvStride, keys: seqK, headDim: hd, transpose: false, out: keysTex });
      kvTexture(step, { src: a.v, base, stride: kvStride, keys: seqK, headDim: hd, transpose: true, out: valuesTex });
      for (let g = 0; g < (merged ? 1 : group); g++) {
        const head = h * group + g;
        const ldx = merged ? hd : qStride;
        const ldo = merged ? hd : outStride;
        for (let m0 = 0; m0 < slots; m0 += block) {
          const rows = Math.min(block, slots - m0);
          const xOff = b * seqQ * qStride + head * hd + m0 * ldx;
          matmulTexture(step, { x: a.q, out: scores }, keysTex, undefined, { M: rows, K: hd, N: seqK, ldo: ld, colOff: 0, ldx, xOff }, PLAIN, textureTiling(rows, hd, false, true, 'f32'));
          attentionSoftmax(step, {
            scores, rows, keys: seqK, ld, m0, perQuery: merged ? group : 1, qStart: a.qStart, prefixLen: a.prefixLen,
            window: a.window ?? 0, keyStart: a.keyStart ?? 0, keyStarts: a.keyStarts, seq: b, scale: a.scale, softcap: a.softcap ?? 0,
          });
          const colOff = b * seqQ * outStride + head * hd + m0 * ldo;
          matmulTexture(step, { x: scores, out: a.out }, valuesTex, undefined, { M: rows, K: ld, N: hd, ldo, colOff }, PLAIN, outputTiling(rows, ld, hd));
        }
      }
    }
  }
}
