// Gemma decoder (PaliGemma 1): per layer RMSNorm(1+w) → q/k/v → RoPE (rotate-half) → multi-/grouped-
// query attention with the prefix-LM mask → o_proj → residual; RMSNorm → GeGLU MLP → residual.
// Final RMSNorm, then logits against the tied embedding (sharded over the vocabulary).

import type { Binding, Gpu, Step } from '../device.js';
import { attention } from '../kernels/attention.js';
import { decodeAttention } from '../kernels/attention-decode.js';
import { embed } from '../kernels/embed.js';
import { linear, linearGeglu, linearMany } from '../kernels/matmul.js';
import { rmsNorm } from '../kernels/norm.js';
import { rope } from '../kernels/rope.js';
import type { TextConfig } from '../loader/config.js';
import { EMBED, LM_HEAD, TEXT } from '../loader/names.js';
import type { GpuWeight } from '../weights.js';
import { weightGetter, type WeightMap } from './weights.js';

interface GemmaLayer {
  inputNorm: GpuWeight;
  q: GpuWeight;
  k: GpuWeight;
  v: GpuWeight;
  o: GpuWeight;
  postAttentionNorm: GpuWeight; // Gemma 1: this is the pre-MLP norm
  gate: GpuWeight;
  up: GpuWeight;
  down: GpuWeight;
}

/** Where each sequence of a (left-padded) batch sits in the KV cache. */
export interface Batch {
  size: number;
  /** Padded length of every sequence in the prefill. */
  length: number;
  /** Leading pad positions per sequence (keys before it are never attended). */
  pads: number[];
  /** Positions < prefixLen attend to each other bidirectionally. */
  prefixLen: number;
}

export class Gemma {
  readonly embedTable: GpuWeight;
  readonly lmHead: GpuWeight;
  /** sqrt(hidden) in float32: text embeddings are scaled by it, image features are not. */
  readonly embedScale: number;
  private readonly layers: GemmaLayer[];
  private readonly finalNorm: GpuWeight;
  private readonly kCache: GPUBuffer[];
  private readonly vCache: GPUBuffer[];
  // Activations, allocated once for up to maxRows rows.
  private readonly normed: GPUBuffer;
  private readonly q: GPUBuffer;
  private readonly kNew: GPUBuffer;
  private readonly vNew: GPUBuffer;
  private readonly attn: GPUBuffer;
  private readonly mlp: GPUBuffer;
  private readonly mlpRows: number;

  constructor(
    private readonly gpu: Gpu,
    readonly cfg: TextConfig,
    weights: WeightMap,
    /** Rows of the largest prefill (batch × padded length); also the KV-cache rows. */
    readonly maxRows: number,
    /** Longest sequence (prefill + generated) per batch entry. */
    readonly maxLen: number,
    readonly maxBatch: number,
  ) {
    const w = weightGetter(weights, TEXT);
    this.embedTable = weights.get(EMBED)!;
    this.lmHead = weights.get(LM_HEAD) ?? this.embedTable;
    this.embedScale = Math.fround(Math.sqrt(cfg.hiddenSize));
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => {
      const l = `layers.${i}.`;
      return {
        inputNorm: w(l + 'input_layernorm.weight'),
        q: w(l + 'self_attn.q_proj.weight'),
        k: w(l + 'self_attn.k_proj.weight'),
        v: w(l + 'self_attn.v_proj.weight'),
        o: w(l + 'self_attn.o_proj.weight'),
        postAttentionNorm: w(l + 'post_attention_layernorm.weight'),
        gate: w(l + 'mlp.gate_proj.weight'),
        up: w(l + 'mlp.up_proj.weight'),
        down: w(l + 'mlp.down_proj.weight'),
      };
    });
    this.finalNorm = w('norm.weight');
    const { hiddenSize: d, numHeads, numKvHeads, headDim, intermediateSize: inter } = cfg;
    const kvBytes = maxBatch * maxLen * numKvHeads * headDim * 4;
    this.kCache = this.layers.map((_, i) => gpu.buffer(kvBytes, `gemma.k_cache.${i}`));
    this.vCache = this.layers.map((_, i) => gpu.buffer(kvBytes, `gemma.v_cache.${i}`));
    this.normed = gpu.buffer(maxRows * d * 4, 'gemma.normed');
    this.q = gpu.buffer(maxRows * numHeads * headDim * 4, 'gemma.q');
    this.kNew = gpu.buffer(maxRows * numKvHeads * headDim * 4, 'gemma.k');
    this.vNew = gpu.buffer(maxRows * numKvHeads * headDim * 4, 'gemma.v');
    this.attn = gpu.buffer(maxRows * numHeads * headDim * 4, 'gemma.attn');
    // The MLP's intermediate activations can exceed one binding (4k rows × 16384): run it in row chunks.
    const maxBinding = gpu.limits.maxStorageBufferBindingSize;
    this.mlpRows = Math.max(1, Math.min(maxRows, Math.floor(maxBinding / (inter * 4 * 64)) * 64 || Math.floor(maxBinding / (inter * 4))));
    this.mlp = gpu.buffer(this.mlpRows * inter * 4, 'gemma.mlp');
  }

  /** out[r] = E[ids[r]] · sqrt(hidden). */
  embedTokens(step: Step, ids: Binding, out: Binding, rows: number): void {
    embed(step, { ids, table: this.embedTable, out, rows, dim: this.cfg.hiddenSize, scale: this.embedScale });
  }

  /**
   * Runs every layer over the whole prefill: x [batch·length, hidden] (the residual stream, updated in
   * place) with `positions` (u32 per row), and fills the KV cache rows 0..length-1 of each sequence.
   */
  prefill(step: Step, x: GPUBuffer, positions: Binding, batch: Batch): void {
    const rows = batch.size * batch.length;
    const { hiddenSize: d, numHeads, numKvHeads, headDim, rmsNormEps: eps, ropeTheta: theta } = this.cfg;
    const qDim = numHeads * headDim;
    const kvDim = numKvHeads * headDim;
    this.layers.forEach((l, i) => {
      rmsNorm(step, { x, w: l.inputNorm, out: this.normed, rows, dim: d, eps });
      linear(step, { x: this.normed, w: l.q, out: this.q, M: rows, K: d, N: qDim });
      linear(step, { x: this.normed, w: l.k, out: this.kNew, M: rows, K: d, N: kvDim });
      linear(step, { x: this.normed, w: l.v, out: this.vNew, M: rows, K: d, N: kvDim });
      rope(step, { x: this.q, positions, rows, heads: numHeads, headDim, theta });
      for (let b = 0; b < batch.size; b++) {
        const cacheRow = b * this.maxLen;
        rope(step, {
          x: this.kNew, out: this.kCache[i]!, positions, rows: batch.length, heads: numKvHeads, headDim, theta,
          rowOffset: b * batch.length, outRowOffset: cacheRow,
        });
        step.copy(this.vNew, b * batch.length * kvDim * 4, this.vCache[i]!, cacheRow * kvDim * 4, batch.length * kvDim * 4);
        attention(step, {
          q: this.q, k: this.kCache[i]!, v: this.vCache[i]!, out: this.attn,
          seqQ: batch.length, seqK: batch.length, heads: numHeads, kvHeads: numKvHeads, headDim,
          scale: 1 / Math.sqrt(headDim), prefixLen: batch.prefixLen, qStart: 0, keyStart: batch.pads[b]!,
          qRowOffset: b * batch.length, kvRowOffset: cacheRow,
        });
      }
      linear(step, { x: this.attn, w: l.o, out: x, M: rows, K: qDim, N: d, accumulate: true });
      this.mlpBlock(step, l, x, rows);
    });
  }

  /**
   * One generated token per sequence: x [batch, hidden] at cache row `row` (= tokens so far), with
   * positions (u32 per sequence). Each new token sees every cached key of its sequence and itself.
   */
  decode(step: Step, x: GPUBuffer, positions: Binding, batch: Batch, row: number): void {
    const rows = batch.size;
    const { hiddenSize: d, numHeads, numKvHeads, headDim, rmsNormEps: eps, ropeTheta: theta } = this.cfg;
    const qDim = numHeads * headDim;
    const kvDim = numKvHeads * headDim;
    this.layers.forEach((l, i) => {
      rmsNorm(step, { x, w: l.inputNorm, out: this.normed, rows, dim: d, eps });
      linearMany(step, { x: this.normed, ws: [l.q, l.k, l.v], outs: [this.q, this.kNew, this.vNew], M: rows, K: d });
      rope(step, { x: this.q, positions, rows, heads: numHeads, headDim, theta });
      for (let b = 0; b < rows; b++) {
        const cacheRow = b * this.maxLen + row;
        rope(step, { x: this.kNew, out: this.kCache[i]!, positions, rows: 1, heads: numKvHeads, headDim, theta, rowOffset: b, outRowOffset: cacheRow });
        step.copy(this.vNew, b * kvDim * 4, this.vCache[i]!, cacheRow * kvDim * 4, kvDim * 4);
        decodeAttention(step, {
          q: this.q, k: this.kCache[i]!, v: this.vCache[i]!, out: this.attn,
          heads: numHeads, kvHeads: numKvHeads, headDim, scale: 1 / Math.sqrt(headDim),
          seqK: row + 1, keyStart: batch.pads[b]!, qRowOffset: b, kvRowOffset: b * this.maxLen,
        });
      }
      linear(step, { x: this.attn, w: l.o, out: x, M: rows, K: qDim, N: d, accumulate: true });
      this.mlpBlock(step, l, x, rows);
    });
  }

  private mlpBlock(step: Step, l: GemmaLayer, x: GPUBuffer, rows: number): void {
    const { hiddenSize: d, intermediateSize: inter, rmsNormEps: eps } = this.cfg;
    rmsNorm(step, { x, w: l.postAttentionNorm, out: this.normed, rows, dim: d, eps });
    for (let r0 = 0; r0 < rows; r0 += this.mlpRows) {
      const m = Math.min(this.mlpRows, rows - r0);
      const xs = { buffer: this.normed, offset: r0 * d * 4, size: m * d * 4 };
      const res = { buffer: x, offset: r0 * d * 4, size: m * d * 4 };
      linearGeglu(step, { x: xs, gate: l.gate, up: l.up, out: this.mlp, M: m, K: d, N: inter });
      linear(step, { x: this.mlp, w: l.down, out: res, M: m, K: inter, N: d, accumulate: true });
    }
  }

  /** The final RMSNorm: out [rows, hidden]. */
  finalNormalize(step: Step, x: Binding, out: Binding, rows: number): void {
    rmsNorm(step, { x, w: this.finalNorm, out, rows, dim: this.cfg.hiddenSize, eps: this.cfg.rmsNormEps });
  }

  /** logits [rows, vocab] = normed [rows, hidden] · Eᵀ over the vocabulary shards. */
  logits(step: Step, normed: Binding, out: Binding, rows: number): void {
    linear(step, { x: normed, w: this.lmHead, out, M: rows, K: this.cfg.hiddenSize, N: this.cfg.vocabSize });
  }

  destroy(): void {
    for (const b of [...this.kCache, ...this.vCache, this.normed, this.q, this.kNew, this.vNew, this.attn, this.mlp]) b.destroy();
  }
}
