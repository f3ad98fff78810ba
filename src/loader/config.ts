import { CheckpointError } from './errors.js';

export type Activation = 'gelu_tanh' | 'gelu';

export interface VisionConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  patchSize: number;
  imageSize: number;
  /** (imageSize / patchSize)², the number of image tokens. */
  numPatches: number;
  layerNormEps: number;
  act: Activation;
}

export interface TextConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  act: Activation;
  maxPositionEmbeddings: number;
}

export interface PaliGemmaConfig {
  vision: VisionConfig;
  /** Output width of the multi-modal projector (= text hidden size). */
  projectionDim: number;
  text: TextConfig;
  imageTokenId: number;
  bosId: number;
  eosId: number;
  padId: number;
  numImageTokens: number;
}

type Json = Record<string, unknown>;

// Generous sanity bounds (PaliGemma-3B: 27/18 layers, 16 heads, hidden 2048, MLP 16384).
const LAYERS = 1024;
const HEADS = 1024;
const SIZE = 1 << 20;
const VOCAB = 1 << 24;
const IMAGE = 16384;

/**
 * Turn config.json (as written by HF for PaliGemma 1) into a typed config.
 * Fields HF usually omits get the values HF and big_vision use: head_dim 256, rope_theta
 * 10000, rms/layer-norm eps 1e-6, tanh GELU, image 224, patch 14; absent sizes default to
 * PaliGemma-3B (Gemma-2B text, SigLIP So400m/14 vision). NB: HF's PaliGemmaConfig default
 * vision intermediate_size is 4096, but every real config.json says 4304 (So400m), so the
 * fallback here is 4304.
 */
export function parseConfig(text: string, file = 'config.json'): PaliGemmaConfig {
  const root = parseObject(text, file);
  const bad = (problem: string) => new CheckpointError(file, problem);
  const modelType = root.model_type;
  if (modelType !== undefined && modelType !== 'paligemma') {
    throw bad(`model_type ${JSON.stringify(modelType)} is not supported (only PaliGemma 1, model_type "paligemma")`);
  }
  const t = optObject(root, 'text_config', file);
  const v = optObject(root, 'vision_config', file);
  const textType = t.model_type;
  if (textType === 'gemma2' || textType === 'gemma3') {
    throw bad(`text_config.model_type ${JSON.stringify(textType)}: PaliGemma 2 (Gemma-2 decoder) is not supported, only PaliGemma 1`);
  }
  if (textType !== undefined && textType !== 'gemma') {
    throw bad(`text_config.model_type ${JSON.stringify(textType)} is not supported (expected "gemma")`);
  }
  const g = new Getter(file);

  const vHidden = g.int(v, 'vision_config.hidden_size', 1152, 1, SIZE);
  const vHeads = g.int(v, 'vision_config.num_attention_heads', 16, 1, HEADS);
  if (vHidden % vHeads !== 0) throw bad(`vision_config.hidden_size ${vHidden} is not divisible by num_attention_heads ${vHeads}`);
  const imageSize = g.int(v, 'vision_config.image_size', 224, 1, IMAGE);
  const patchSize = g.int(v, 'vision_config.patch_size', 14, 1, IMAGE);
  if (imageSize % patchSize !== 0) throw bad(`vision_config.image_size ${imageSize} is not a multiple of patch_size ${patchSize}`);
  const numPatches = (imageSize / patchSize) ** 2;
  const vision: VisionConfig = {
    hiddenSize: vHidden,
    intermediateSize: g.int(v, 'vision_config.intermediate_size', 4304, 1, SIZE),
    numLayers: g.int(v, 'vision_config.num_hidden_layers', 27, 1, LAYERS),
    numHeads: vHeads,
    headDim: vHidden / vHeads,
    patchSize,
    imageSize,
    numPatches,
    layerNormEps: g.num(v, 'vision_config.layer_norm_eps', 1e-6),
    act: activation(file, 'vision_config.hidden_act', v.hidden_act ?? 'gelu_pytorch_tanh'),
  };

  const heads = g.int(t, 'text_config.num_attention_heads', 8, 1, HEADS);
  const kvHeads = g.int(t, 'text_config.num_key_value_heads', 1, 1, HEADS);
  if (heads % kvHeads !== 0) throw bad(`text_config.num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  // Newer configs drop the top-level vocab_size; the embedding shape is checked against it later.
  const vocab = g.int(t, 'text_config.vocab_size', g.int(root, 'vocab_size', 257216, 1, VOCAB), 1, VOCAB);
  const textCfg: TextConfig = {
    hiddenSize: g.int(t, 'text_config.hidden_size', 2048, 1, SIZE),
    intermediateSize: g.int(t, 'text_config.intermediate_size', 16384, 1, SIZE),
    numLayers: g.int(t, 'text_config.num_hidden_layers', 18, 1, LAYERS),
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim: g.int(t, 'text_config.head_dim', 256, 1, SIZE),
    vocabSize: vocab,
    rmsNormEps: g.num(t, 'text_config.rms_norm_eps', 1e-6),
    ropeTheta: g.num(t, 'text_config.rope_theta', 10000),
    // HF Gemma ignores hidden_act and always uses hidden_activation (default tanh GELU).
    act: activation(file, 'text_config.hidden_activation', t.hidden_activation ?? 'gelu_pytorch_tanh'),
    maxPositionEmbeddings: g.int(t, 'text_config.max_position_embeddings', 8192),
  };

  const projectionDim = g.int(root, 'projection_dim', g.int(v, 'vision_config.projection_dim', textCfg.hiddenSize));
  if (projectionDim !== textCfg.hiddenSize) {
    throw bad(`projection_dim ${projectionDim} must equal text_config.hidden_size ${textCfg.hiddenSize} (image features join the text stream)`);
  }
  const imageTokenId = g.int(root, 'image_token_index', g.int(root, 'image_token_id', 257152), 0);
  if (imageTokenId >= vocab) throw bad(`image_token_index ${imageTokenId} is outside the vocabulary (${vocab})`);
  const numImageTokens = g.int(t, 'text_config.num_image_tokens', g.int(v, 'vision_config.num_image_tokens', numPatches));
  if (numImageTokens !== numPatches) {
    throw bad(`num_image_tokens ${numImageTokens} does not match (image_size / patch_size)² = ${numPatches}`);
  }
  // eos_token_id may be a list; the first entry is the model's own <eos>.
  const eos = root.eos_token_id;
  const eosId = g.int(Array.isArray(eos) ? { eos_token_id: eos[0] } : root, 'eos_token_id', 1, 0);
  return {
    vision,
    projectionDim,
    text: textCfg,
    imageTokenId,
    bosId: g.int(root, 'bos_token_id', 2, 0),
    eosId,
    padId: g.int(root, 'pad_token_id', 0, 0),
    numImageTokens,
  };
}

export function parseObject(text: string, file: string): Json {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError(file, 'must be a JSON object');
  }
  return json as Json;
}

function optObject(o: Json, key: string, file: string): Json {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new CheckpointError(file, `${key} must be an object`);
  return v as Json;
}

function activation(file: string, key: string, name: unknown): Activation {
  if (name === 'gelu_pytorch_tanh' || name === 'gelu_new' || name === 'gelu_fast' || name === 'gelu_tanh') return 'gelu_tanh';
  if (name === 'gelu') return 'gelu';
  throw new CheckpointError(file, `${key} ${JSON.stringify(name)} is not supported (expected gelu_pytorch_tanh)`);
}

/** Typed field readers; `key` is the dotted path used in messages, its last part the JSON key. */
export class Getter {
  constructor(private readonly file: string) {}

  private raw(o: Json, key: string): unknown {
    return o[key.slice(key.lastIndexOf('.') + 1)];
  }

  /**
   * A safe integer in [min, max], or the fallback when absent/null. The upper bounds keep a
   * corrupt config (say 1e9 layers) from making the loader enumerate billions of tensors.
   */
  int(o: Json, key: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(o, key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw new CheckpointError(this.file, `${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    if (v > max) throw new CheckpointError(this.file, `${key} ${v} is implausibly large (limit ${max})`);
    return v;
  }

  /** A positive finite number, or the fallback when absent/null. */
  num(o: Json, key: string, fallback: number): number {
    const v = this.raw(o, key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new CheckpointError(this.file, `${key} must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  }
}
