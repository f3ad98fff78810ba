// What a checkpoint will take once loaded, from config.json alone: the weights in the format each
// tensor gets (bf16, or codes and scales under a quantization), the f32 KV cache and the largest
// activation buffers. Lets a loader refuse a model that cannot fit (PaliGemma 2 28B in bf16 on a
// 24 GiB machine) before anything is allocated, and say which quantization would fit.

import type { PaliGemmaConfig } from './config.js';
import { expectedTensors } from './names.js';
import { matrixShape, rowBytes, type Quantization, type WeightFormat } from '../weights.js';

export interface MemoryEstimate {
  weights: number;
  kvCache: number;
  activations: number;
  total: number;
}

export interface EstimateOptions {
  /** The format of each tensor (LoadOptions.quantize); default bf16 everywhere. */
  quantize?: (t: { name: string; shape: number[] }) => Quantization | undefined;
  /** Tokens per sequence the KV cache holds (default: the image tokens + 256 of text and output). */
  tokens?: number;
  batch?: number;
}

export function estimateMemory(config: PaliGemmaConfig, opts: EstimateOptions = {}): MemoryEstimate {
  let weights = 0;
  for (const [name, shape] of expectedTensors(config)) {
    const [rows, K] = matrixShape(shape);
    const f: WeightFormat = (shape.length >= 2 && opts.quantize?.({ name, shape })) || 'bf16';
    weights += rows * rowBytes(f, K);
  }
  const t = config.text;
  const v = config.vision;
  const batch = opts.batch ?? 1;
  const tokens = opts.tokens ?? config.numImageTokens + 256;
  const rows = batch * tokens;
  const kvCache = 2 * t.numLayers * rows * t.numKvHeads * t.headDim * 4;
  // Gemma's residual, norm, q / k / v / attention and MLP rows, the logits; SigLIP's layer buffers.
  const text = rows * (3 * t.hiddenSize + 2 * (t.numHeads + t.numKvHeads) * t.headDim + t.intermediateSize) + batch * t.vocabSize;
  const vision = v.numPatches * (6 * v.hiddenSize + v.intermediateSize);
  const activations = 4 * (text + vision);
  return { weights, kvCache, activations, total: weights + kvCache + activations };
}

export class MemoryError extends Error {
  override name = 'MemoryError';
}

const GiB = 1024 ** 3;
const gib = (b: number) => `${(b / GiB).toFixed(1)} GiB`;

/**
 * Throws MemoryError when the estimate with `quantize` exceeds `limit` bytes (`where` says whose
 * memory), naming the first of int8 / int4 (as chosen by `quantizeAs`) that would fit.
 */
export function checkMemory(
  config: PaliGemmaConfig,
  limit: number,
  where: string,
  opts: EstimateOptions & { quantizeAs: (q: Quantization) => EstimateOptions['quantize']; current?: Quantization },
): void {
  const e = estimateMemory(config, opts);
  if (e.total <= limit) return;
  const t = config.text;
  const model = `a ${t.modelType === 'gemma2' ? 'PaliGemma 2' : 'PaliGemma'} model with a ${t.numLayers}-layer, ${t.hiddenSize}-wide decoder at ${config.vision.imageSize} px`;
  const need = `needs about ${gib(e.total)} (weights ${gib(e.weights)} ${opts.current ?? 'bf16'}, KV cache ${gib(e.kvCache)}, activations ${gib(e.activations)})`;
  const better = (['int8', 'int4'] as const).filter((q) => q !== opts.current && (opts.current !== 'int4' || q !== 'int8'));
  const fit = better.find((q) => estimateMemory(config, { ...opts, quantize: opts.quantizeAs(q) }).total <= limit);
  const hint = fit
    ? `; quantized to ${fit} (--quantize ${fit}) it would need about ${gib(estimateMemory(config, { ...opts, quantize: opts.quantizeAs(fit) }).total)} and fit`
    : '; it does not fit even quantized to int4';
  throw new MemoryError(`${model} ${need}, but ${where} has ${gib(limit)}${hint}`);
}
