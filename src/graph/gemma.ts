// Gemma decoder: per layer RMSNorm(1+w) → q/k/v → RoPE (rotate-half) → multi-/grouped-query
// attention with the prefix-LM mask → o_proj → residual; RMSNorm → GeGLU MLP → residual. Final
// RMSNorm, then logits against the tied embedding (sharded over the vocabulary).
// Gemma 2 (PaliGemma 2), all read from the config: the attention output and the MLP output are
// RMS-normed before their residual adds, scores are scaled by query_pre_attn_scalar^-0.5 and
// soft-capped, sliding-window layers hide far keys, and the logits are soft-capped.

import type { Binding, Gpu, Step } from '../device.js';
import { attention } from '../kernels/attention.js';
import { decodeAttention, decodeScratch, type DecodeScratch } from '../kernels/attention-decode.js';
import { embed } from '../kernels/embed.js';
import { linear, linearGeglu, linearMany } from '../kernels/matmul.js';
import { rmsNorm } from '../kernels/norm.js';
import { rope, ropeAppend } from '../kernels/rope.js';
import { softcapRef } from '../kernels/softcap.js';
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
  /** Gemma 2: the norm of the attention output before the residual add. */
  attnOutNorm?: GpuWeight;
  /** The MLP's pre-norm: Gemma 1 calls it post_attention_layernorm, Gemma 2 pre_feedforward_layernorm. */
  mlpNorm: GpuWeight;
  /** Gemma 2: the norm of the MLP output before the residual add. */
  mlpOutNorm?: GpuWeight;
  gate: GpuWeight;
  up: GpuWeight;
  down: GpuWeight;
  /** Keys at distance ≥ window from the query are hidden (Gemma 2's sliding layers); 0 = none. */
  window: number;
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
  /** Attention scores are q·k times this: query_pre_attn_scalar^-0.5 (head_dim in Gemma 1). */
  readonly scale: number;
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
  /** Leading pad positions of each sequence (u32), masked as keys. */
  private readonly keyStarts: GPUBuffer;
  /** u32: cache rows in use once this decode step's token is appended (see setDecodeRow). */
  private readonly keyCount: GPUBuffer;
  private readonly attnScratch: DecodeScratch;
  /** Post-RoPE queries kept for attention maps (see recordQueries); absent unless asked for. */
  private queryLog: { buffer: GPUBuffer; slots: number } | undefined;

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
    this.scale = 1 / Math.sqrt(cfg.queryPreAttnScalar);
    const sandwich = cfg.modelType === 'gemma2';
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => {
      const l = `layers.${i}.`;
      return {
        inputNorm: w(l + 'input_layernorm.weight'),
        q: w(l + 'self_attn.q_proj.weight'),
        k: w(l + 'self_attn.k_proj.weight'),
        v: w(l + 'self_attn.v_proj.weight'),
        o: w(l + 'self_attn.o_proj.weight'),
        attnOutNorm: sandwich ? w(l + 'post_attention_layernorm.weight') : undefined,
        mlpNorm: w(l + (sandwich ? 'pre_feedforward_layernorm.weight' : 'post_attention_layernorm.weight')),
        mlpOutNorm: sandwich ? w(l + 'post_feedforward_layernorm.weight') : undefined,
        gate: w(l + 'mlp.gate_proj.weight'),
        up: w(l + 'mlp.up_proj.weight'),
        down: w(l + 'mlp.down_proj.weight'),
        window: cfg.layerWindows[i] ?? 0,
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
    // Chunks start at multiples of 64 rows so their binding offsets stay 256-byte aligned.
    const fit = Math.floor(maxBinding / (inter * 4));
    this.mlpRows = maxRows <= fit ? maxRows : Math.floor(fit / 64) * 64 || fit;
    this.mlp = gpu.buffer(this.mlpRows * inter * 4, 'gemma.mlp');
    this.keyStarts = gpu.buffer(maxBatch * 4, 'gemma.key_starts');
    this.keyCount = gpu.buffer(4, 'gemma.key_count');
    this.attnScratch = decodeScratch(gpu, { heads: numHeads, kvHeads: numKvHeads, headDim, maxLen, batch: maxBatch });
  }

  /**
   * The weights that may move to the matmul kernels' preferred layout: every Linear layer, the LM
   * head and the embedding table (the gather reads either layout; tied, they are one weight).
   */
  linearWeights(): GpuWeight[] {
    return [...this.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]), ...new Set([this.lmHead, this.embedTable])];
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
    step.gpu.write(this.keyStarts, Uint32Array.from(batch.pads));
    this.layers.forEach((l, i) => {
      linearMany(step, { x, norm: { w: l.inputNorm, eps, scratch: this.normed }, ws: [l.q, l.k, l.v], outs: [this.q, this.kNew, this.vNew], M: rows, K: d });
      rope(step, { x: this.q, positions, rows, heads: numHeads, headDim, theta });
      for (let b = 0; b < batch.size; b++) this.logQuery(step, i, 0, b, (b + 1) * batch.length - 1, 1);
      for (let b = 0; b < batch.size; b++) {
        rope(step, {
          x: this.kNew, out: this.kCache[i]!, positions, rows: batch.length, heads: numKvHeads, headDim, theta,
          rowOffset: b * batch.length, outRowOffset: b * this.maxLen,
        });
        step.copy(this.vNew, b * batch.length * kvDim * 4, this.vCache[i]!, b * this.maxLen * kvDim * 4, batch.length * kvDim * 4);
      }
      attention(step, {
        q: this.q, k: this.kCache[i]!, v: this.vCache[i]!, out: this.attn,
        seqQ: batch.length, seqK: batch.length, heads: numHeads, kvHeads: numKvHeads, headDim,
        scale: this.scale, softcap: this.cfg.attnLogitSoftcap, window: l.window, prefixLen: batch.prefixLen, qStart: 0,
        keyStarts: this.keyStarts, batch: batch.size, kvBatchRows: this.maxLen,
      });
      this.addOutput(step, { x: this.attn, w: l.o, K: qDim, norm: l.attnOutNorm, scratch: this.normed, res: x, rows });
      this.mlpBlock(step, l, x, rows);
    });
  }

  /** Before each decode step: its token goes to cache row `row` (= tokens so far per sequence). */
  setDecodeRow(row: number): void {
    if (row >= this.maxLen) throw new Error(`decode row ${row} is past the KV cache (${this.maxLen} rows)`);
    this.gpu.write(this.keyCount, Uint32Array.of(row + 1));
  }

  /** Whether decode() depends on the row beyond setDecodeRow (query logging copies to a slot per row). */
  get logsQueries(): boolean {
    return this.queryLog !== undefined;
  }

  /**
   * One generated token per sequence: x [batch, hidden] with positions (u32 per sequence), at the
   * cache row given to setDecodeRow. Each new token sees every cached key of its sequence and
   * itself. The work does not depend on the row (it is read on the GPU), so a recording of it
   * replays for every token; only the query log (recordQueries) needs `row`.
   */
  decode(step: Step, x: GPUBuffer, positions: Binding, batch: Batch, row: number): void {
    const rows = batch.size;
    const { hiddenSize: d, numHeads, numKvHeads, headDim, ropeTheta: theta, rmsNormEps: eps } = this.cfg;
    const qDim = numHeads * headDim;
    this.layers.forEach((l, i) => {
      // The pre-norms go with the products that read them (folded into the GEMVs on GPUs).
      linearMany(step, { x, norm: { w: l.inputNorm, eps, scratch: this.normed }, ws: [l.q, l.k, l.v], outs: [this.q, this.kNew, this.vNew], M: rows, K: d });
      ropeAppend(step, {
        q: this.q, qHeads: numHeads, k: this.kNew, v: this.vNew, positions, keyCount: this.keyCount, kCache: this.kCache[i]!, vCache: this.vCache[i]!,
        batch: rows, heads: numKvHeads, headDim, theta, maxLen: this.maxLen,
      });
      this.logQuery(step, i, row - batch.length + 1, 0, 0, rows);
      decodeAttention(step, {
        q: this.q, k: this.kCache[i]!, v: this.vCache[i]!, out: this.attn,
        heads: numHeads, kvHeads: numKvHeads, headDim, scale: this.scale, softcap: this.cfg.attnLogitSoftcap, window: l.window,
        keyCount: this.keyCount, maxLen: this.maxLen, keyStarts: this.keyStarts, batch: rows, scratch: this.attnScratch,
      });
      this.addOutput(step, { x: this.attn, w: l.o, K: qDim, norm: l.attnOutNorm, scratch: this.normed, res: x, rows });
      this.mlpBlock(step, l, x, rows);
    });
  }

  /**
   * From now on keep each layer's post-RoPE query of every sequence's newest row, for `slots`
   * generated tokens: slot 0 is the last prefill row (it chose token 0), slot k the decode step
   * that chose token k. With the KV cache this is all attentionWeights() needs. 0 stops recording.
   */
  recordQueries(slots: number): void {
    if (this.queryLog && this.queryLog.slots >= slots && slots > 0) return;
    this.queryLog?.buffer.destroy();
    this.queryLog = undefined;
    if (slots <= 0) return;
    const bytes = slots * this.cfg.numLayers * this.maxBatch * this.cfg.numHeads * this.cfg.headDim * 4;
    this.queryLog = { buffer: this.gpu.buffer(bytes, 'gemma.query_log'), slots };
  }

  /** Copies `rows` query rows starting at `qRow` of layer `layer` into the log at (slot, sequence b). */
  private logQuery(step: Step, layer: number, slot: number, b: number, qRow: number, rows: number): void {
    const log = this.queryLog;
    if (!log || slot < 0 || slot >= log.slots) return;
    const qBytes = this.cfg.numHeads * this.cfg.headDim * 4;
    step.copy(this.q, qRow * qBytes, log.buffer, ((slot * this.cfg.numLayers + layer) * this.maxBatch + b) * qBytes, rows * qBytes);
  }

  /**
   * Softmax attention probabilities of one query head of `layer`, for the query logged at `slot` of
   * sequence `b`, over that sequence's cache rows 0..keys-1 (rows before `keyStart`, padding, get 0).
   * Computed on the CPU from read-back q and cached k (a few hundred kB), in float64.
   */
  async attentionWeights(layer: number, head: number, slot: number, b: number, keys: number, keyStart: number): Promise<Float64Array> {
    const log = this.queryLog;
    if (!log || slot >= log.slots) throw new Error(`attention weights: no query recorded for slot ${slot} (call recordQueries before prefill)`);
    const { numHeads, numKvHeads, headDim, numLayers } = this.cfg;
    const qOffset = (((slot * numLayers + layer) * this.maxBatch + b) * numHeads + head) * headDim * 4;
    const kvDim = numKvHeads * headDim;
    // Both copies are submitted now, before any await: a prefill that replaces this plan meanwhile
    // destroys these buffers, and a copy submitted after that would be a GPU validation error.
    const [q, k] = await Promise.all([
      this.gpu.readF32(log.buffer, qOffset, headDim, 'attention-map'),
      this.gpu.readF32(this.kCache[layer]!, b * this.maxLen * kvDim * 4, keys * kvDim, 'attention-map'),
    ]);
    const kvHead = Math.floor(head / (numHeads / numKvHeads));
    // The query is the newest row (keys − 1); a sliding layer sees only the last `window` keys.
    const first = Math.max(keyStart, this.layers[layer]!.window ? keys - this.layers[layer]!.window : 0);
    const scores = new Float64Array(keys).fill(-Infinity);
    let max = -Infinity;
    for (let j = first; j < keys; j++) {
      let dot = 0;
      for (let d = 0; d < headDim; d++) dot += q[d]! * k[j * kvDim + kvHead * headDim + d]!;
      scores[j] = softcapRef(dot * this.scale, this.cfg.attnLogitSoftcap);
      max = Math.max(max, scores[j]!);
    }
    let sum = 0;
    for (let j = 0; j < keys; j++) {
      scores[j] = j < first ? 0 : Math.exp(scores[j]! - max);
      sum += scores[j]!;
    }
    return scores.map((p) => p / sum);
  }

  private mlpBlock(step: Step, l: GemmaLayer, x: GPUBuffer, rows: number): void {
    const { hiddenSize: d, intermediateSize: inter, rmsNormEps: eps } = this.cfg;
    for (let r0 = 0; r0 < rows; r0 += this.mlpRows) {
      const m = Math.min(this.mlpRows, rows - r0);
      const normed = { buffer: this.normed, offset: r0 * d * 4, size: m * d * 4 };
      const res = { buffer: x, offset: r0 * d * 4, size: m * d * 4 };
      linearGeglu(step, { x: res, norm: { w: l.mlpNorm, eps, scratch: normed }, gate: l.gate, up: l.up, out: this.mlp, M: m, K: d, N: inter });
      // The pre-normed rows are spent: their scratch holds the down projection when it is normed.
      this.addOutput(step, { x: this.mlp, w: l.down, K: inter, norm: l.mlpOutNorm, scratch: normed, res, rows: m });
    }
  }

  /** res += x·wᵀ, or with Gemma 2's output norm res += rmsNorm(x·wᵀ) (the product goes to `scratch`). */
  private addOutput(step: Step, a: { x: Binding; w: GpuWeight; K: number; norm?: GpuWeight; scratch: Binding; res: Binding; rows: number }): void {
    const { hiddenSize: d, rmsNormEps: eps } = this.cfg;
    if (!a.norm) return linear(step, { x: a.x, w: a.w, out: a.res, M: a.rows, K: a.K, N: d, accumulate: true });
    linear(step, { x: a.x, w: a.w, out: a.scratch, M: a.rows, K: a.K, N: d });
    rmsNorm(step, { x: a.scratch, w: a.norm, out: a.res, rows: a.rows, dim: d, eps, accumulate: true });
  }

  /** The final RMSNorm: out [rows, hidden]. */
  finalNormalize(step: Step, x: Binding, out: Binding, rows: number): void {
    rmsNorm(step, { x, w: this.finalNorm, out, rows, dim: this.cfg.hiddenSize, eps: this.cfg.rmsNormEps });
  }

  /** logits [rows, vocab] = softcap(normed [rows, hidden] · Eᵀ) over the vocabulary shards (softcap 0: none). */
  logits(step: Step, normed: Binding, out: Binding, rows: number, softcap = this.cfg.finalLogitSoftcap): void {
    linear(step, { x: normed, w: this.lmHead, out, M: rows, K: this.cfg.hiddenSize, N: this.cfg.vocabSize, softcap });
  }

  destroy(): void {
    for (const b of [...this.kCache, ...this.vCache, this.normed, this.q, this.kNew, this.vNew, this.attn, this.mlp, this.keyStarts, this.keyCount, this.attnScratch.acc, this.attnScratch.ml]) b.destroy();
    this.queryLog?.buffer.destroy();
  }
}
