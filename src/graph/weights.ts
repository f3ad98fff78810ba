// Looking up a checkpoint's weights by their canonical (old Hugging Face) names.

import { CheckpointError } from '../loader/errors.js';
import { EMBED, LM_HEAD } from '../loader/names.js';
import type { LoadOptions } from '../loader/checkpoint.js';
import type { GpuWeight, Quantization } from '../weights.js';
import type { Gpu } from '../device.js';
import { matmulPlan } from '../kernels/matmul.js';

export type WeightMap = Map<string, GpuWeight>;

export function weightGetter(weights: WeightMap, prefix: string): (name: string) => GpuWeight {
  return (name) => {
    const w = weights.get(prefix + name);
    if (!w) throw new CheckpointError('checkpoint', `missing tensor ${prefix + name}`);
    return w;
  };
}

/**
 * Whether a canonical name is one of the weights the graph hands to `prepareWeights` (the SigLIP
 * patch embedding's conv kernel, SigLIP q/k/v/out and fc1/fc2, the projector, Gemma q/k/v/o and
 * gate/up/down, the LM head and so the tied embedding): what the loader may write straight into
 * textures on CPU adapters. tests/paligemma.test.ts checks it against the graph's own lists.
 */
export function isLinearWeight(name: string): boolean {
  if (name === EMBED || name === LM_HEAD) return true;
  return /\.self_attn\.(q|k|v|o|out)_proj\.weight$|\.mlp\.(fc1|fc2|gate_proj|up_proj|down_proj)\.weight$|^multi_modal_projector\.linear\.weight$|\.embeddings\.patch_embedding\.weight$/.test(name);
}

/**
 * Where the matmul plan packs Linear weights into textures (CPU adapters), the loader writes them
 * straight into their textures: no second copy of each weight while it is repacked, and nothing
 * left to move after the load (a precompile ahead of it needs that).
 */
export function texturesFor(gpu: Gpu): LoadOptions['textures'] {
  return matmulPlan(gpu).layout === 'texture' ? (t) => isLinearWeight(t.name) : undefined;
}

/**
 * Whether --quantize quantizes a canonical name: every Linear weight but the SigLIP patch
 * embedding's conv kernel (docs/quantization.md; the position embedding, norms and biases stay bf16).
 */
export function isQuantizedWeight(name: string): boolean {
  return isLinearWeight(name) && !name.endsWith('.embeddings.patch_embedding.weight');
}

/** The loader's choice of tensors to quantize for --quantize q (LoadOptions.quantize): every Linear weight but the patch embedding. */
export function quantizeFor(q: Quantization | undefined): LoadOptions['quantize'] {
  return q && ((t) => (isQuantizedWeight(t.name) ? q : undefined));
}
