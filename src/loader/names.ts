import type { PaliGemmaConfig } from './config.js';

/** Canonical prefixes: the "old" HF on-disk naming, which the Hub checkpoints use. */
export const VISION = 'vision_tower.vision_model.';
export const TEXT = 'language_model.model.';
export const PROJECTOR = 'multi_modal_projector.';
export const LM_HEAD = 'language_model.lm_head.weight';
export const EMBED = `${TEXT}embed_tokens.weight`;

/**
 * Prefix rewrites for every naming family seen in the wild (spec §5.1): transformers >= 4.52
 * in-memory names (model.*), and v5's flattened SigLIP (model.vision_tower.X without
 * vision_model). Order matters: longer prefixes first.
 */
const REWRITES: [string, string][] = [
  ['model.vision_tower.vision_model.', VISION],
  [VISION, VISION],
  ['model.vision_tower.', VISION],
  ['model.language_model.', TEXT],
  [TEXT, TEXT],
  ['model.multi_modal_projector.', PROJECTOR],
  [PROJECTOR, PROJECTOR],
];

/** Map a file's tensor name to the canonical name; unknown names come back unchanged. */
export function canonicalName(name: string): string {
  if (name === 'lm_head.weight' || name === LM_HEAD) return LM_HEAD;
  for (const [from, to] of REWRITES) {
    if (name.startsWith(from)) return to + name.slice(from.length);
  }
  return name;
}

/**
 * Every tensor a PaliGemma checkpoint must hold for this config, canonical name -> shape
 * (spec §5.1; PaliGemma 2 adds two norms per decoder layer). The LM head is not listed: it is optional (tied to embed_tokens when absent);
 * see lmHeadShape.
 */
export function expectedTensors(config: PaliGemmaConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const v = config.vision;
  const t = config.text;
  m.set(`${VISION}embeddings.patch_embedding.weight`, [v.hiddenSize, 3, v.patchSize, v.patchSize]);
  m.set(`${VISION}embeddings.patch_embedding.bias`, [v.hiddenSize]);
  m.set(`${VISION}embeddings.position_embedding.weight`, [v.numPatches, v.hiddenSize]);
  for (let i = 0; i < v.numLayers; i++) {
    const p = `${VISION}encoder.layers.${i}.`;
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      m.set(`${p}${ln}.weight`, [v.hiddenSize]);
      m.set(`${p}${ln}.bias`, [v.hiddenSize]);
    }
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${p}self_attn.${proj}.weight`, [v.hiddenSize, v.hiddenSize]);
      m.set(`${p}self_attn.${proj}.bias`, [v.hiddenSize]);
    }
    m.set(`${p}mlp.fc1.weight`, [v.intermediateSize, v.hiddenSize]);
    m.set(`${p}mlp.fc1.bias`, [v.intermediateSize]);
    m.set(`${p}mlp.fc2.weight`, [v.hiddenSize, v.intermediateSize]);
    m.set(`${p}mlp.fc2.bias`, [v.hiddenSize]);
  }
  m.set(`${VISION}post_layernorm.weight`, [v.hiddenSize]);
  m.set(`${VISION}post_layernorm.bias`, [v.hiddenSize]);
  m.set(`${PROJECTOR}linear.weight`, [config.projectionDim, v.hiddenSize]);
  m.set(`${PROJECTOR}linear.bias`, [config.projectionDim]);
  m.set(EMBED, [t.vocabSize, t.hiddenSize]);
  for (let i = 0; i < t.numLayers; i++) {
    const p = `${TEXT}layers.${i}.`;
    m.set(`${p}input_layernorm.weight`, [t.hiddenSize]);
    m.set(`${p}self_attn.q_proj.weight`, [t.numHeads * t.headDim, t.hiddenSize]);
    m.set(`${p}self_attn.k_proj.weight`, [t.numKvHeads * t.headDim, t.hiddenSize]);
    m.set(`${p}self_attn.v_proj.weight`, [t.numKvHeads * t.headDim, t.hiddenSize]);
    m.set(`${p}self_attn.o_proj.weight`, [t.hiddenSize, t.numHeads * t.headDim]);
    m.set(`${p}post_attention_layernorm.weight`, [t.hiddenSize]);
    if (t.modelType === 'gemma2') {
      m.set(`${p}pre_feedforward_layernorm.weight`, [t.hiddenSize]);
      m.set(`${p}post_feedforward_layernorm.weight`, [t.hiddenSize]);
    }
    m.set(`${p}mlp.gate_proj.weight`, [t.intermediateSize, t.hiddenSize]);
    m.set(`${p}mlp.up_proj.weight`, [t.intermediateSize, t.hiddenSize]);
    m.set(`${p}mlp.down_proj.weight`, [t.hiddenSize, t.intermediateSize]);
  }
  m.set(`${TEXT}norm.weight`, [t.hiddenSize]);
  return m;
}

/** Shape of an explicitly stored (untied) LM head. */
export function lmHeadShape(config: PaliGemmaConfig): number[] {
  return [config.text.vocabSize, config.text.hiddenSize];
}
