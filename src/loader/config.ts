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
  /**
   * The decoder family: "gemma" (PaliGemma 1) or "gemma2" (PaliGemma 2: a norm after attention and
   * around the MLP, soft-capped scores and logits, sliding-window layers). The graph reads the
   * fields below, never this name, except for the norms.
   */
  modelType: 'gemma' | 'gemma2';
  /** Attention scores are q·k · queryPreAttnScalar^-0.5 (Gemma 1: head_dim). */
  queryPreAttnScalar: number;
  /** Scores s → c·tanh(s/c) before the mask; 0 = none. */
  attnLogitSoftcap: number;
  /** Logits z → c·tanh(z/c); 0 = none. */
  finalLogitSoftcap: number;
  /** Per layer: query i does not see key j when |i − j| ≥ window (docs/paligemma2.md); 0 = no window. */
  layerWindows: number[];
}

export interface PaliGemmaConfig {
  vision: VisionConfig;
  /** Output width of the multi-modal projector (= text hidden size). */
  projectionDim: number;
  text: TextConfig;
  imageTokenId: number;
  bosId: number;
  /** The model's own <eos> (the first of eosIds). */
  eosId: number;
  /** Every id config.json lists as eos_token_id (PaliGemma 2 mix: [1, 107]). */
  eosIds: number[];
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

/** Text-config fallbacks per decoder family: HF's GemmaConfig-as-PaliGemma-uses-it and Gemma2Config defaults (Gemma2-2B). */
const TEXT_DEFAULTS = {
  gemma: { hidden: 2048, inter: 16384, layers: 18, heads: 8, kvHeads: 1, softcap: 0, finalSoftcap: 0, window: 0 },
  gemma2: { hidden: 2304, inter: 9216, layers: 26, heads: 8, kvHeads: 4, softcap: 50, finalSoftcap: 30, window: 4096 },
} as const;

/**
 * Turn config.json (as written by HF for PaliGemma 1 and 2) into a typed config.
 * Fields HF usually omits get the values HF and big_vision use: head_dim 256, rope_theta
 * 10000, rms/layer-norm eps 1e-6, tanh GELU, image 224, patch 14; absent sizes default to
 * PaliGemma-3B (Gemma-2B text, SigLIP So400m/14 vision), or for text_config.model_type "gemma2"
 * to HF's Gemma2Config (the 2B decoder of PaliGemma 2 3B: soft-caps 50 / 30, window 4096).
 * NB: HF's PaliGemmaConfig default vision intermediate_size is 4096, but every real config.json
 * says 4304 (So400m), so the fallback here is 4304.
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
  const textType = t.model_type ?? 'gemma';
  if (textType === 'gemma3') {
    throw bad(`text_config.model_type "gemma3": Gemma 3 decoders are not supported, only PaliGemma 1 ("gemma") and 2 ("gemma2")`);
  }
  if (textType !== 'gemma' && textType !== 'gemma2') {
    throw bad(`text_config.model_type ${JSON.stringify(textType)} is not supported (expected "gemma" or "gemma2")`);
  }
  const td = TEXT_DEFAULTS[textType];
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

  const heads = g.int(t, 'text_config.num_attention_heads', td.heads, 1, HEADS);
  const kvHeads = g.int(t, 'text_config.num_key_value_heads', td.kvHeads, 1, HEADS);
  if (heads % kvHeads !== 0) throw bad(`text_config.num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  // Newer configs drop the top-level vocab_size; the embedding shape is checked against it later.
  const vocab = g.int(t, 'text_config.vocab_size', g.int(root, 'vocab_size', 257216, 1, VOCAB), 1, VOCAB);
  const headDim = g.int(t, 'text_config.head_dim', 256, 1, SIZE);
  const numLayers = g.int(t, 'text_config.num_hidden_layers', td.layers, 1, LAYERS);
  const textCfg: TextConfig = {
    hiddenSize: g.int(t, 'text_config.hidden_size', td.hidden, 1, SIZE),
    intermediateSize: g.int(t, 'text_config.intermediate_size', td.inter, 1, SIZE),
    numLayers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    vocabSize: vocab,
    rmsNormEps: g.num(t, 'text_config.rms_norm_eps', 1e-6),
    ropeTheta: g.num(t, 'text_config.rope_theta', 10000),
    // HF Gemma ignores hidden_act and always uses hidden_activation (default tanh GELU).
    act: activation(file, 'text_config.hidden_activation', t.hidden_activation ?? 'gelu_pytorch_tanh'),
    maxPositionEmbeddings: g.int(t, 'text_config.max_position_embeddings', 8192),
    modelType: textType,
    // Gemma 1 has none of these: its scale is head_dim^-0.5, no caps, no window.
    queryPreAttnScalar: textType === 'gemma2' ? g.num(t, 'text_config.query_pre_attn_scalar', 256) : headDim,
    attnLogitSoftcap: textType === 'gemma2' ? optional(g, t, 'text_config.attn_logit_softcapping', td.softcap) : 0,
    finalLogitSoftcap: textType === 'gemma2' ? optional(g, t, 'text_config.final_logit_softcapping', td.finalSoftcap) : 0,
    layerWindows: textType === 'gemma2' ? layerWindows(g, t, numLayers, file) : new Array<number>(numLayers).fill(0),
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
  const eosIds = eosList(g, root, 'eos_token_id') ?? [1];
  if (eosIds.length === 0) throw bad('eos_token_id is an empty list');
  return {
    vision,
    projectionDim,
    text: textCfg,
    imageTokenId,
    bosId: g.int(root, 'bos_token_id', 2, 0),
    eosId: eosIds[0]!,
    eosIds,
    padId: g.int(root, 'pad_token_id', 0, 0),
    numImageTokens,
  };
}

/** A soft-cap: absent → the family's default; null or 0 → none (big_vision's transfer configs set 0). */
function optional(g: Getter, o: Json, key: string, fallback: number): number {
  const name = key.slice(key.lastIndexOf('.') + 1);
  if (!(name in o)) return fallback;
  if (o[name] === null || o[name] === 0) return 0;
  return g.num(o, key, fallback);
}

/**
 * Gemma 2's window per layer: text_config.layer_types when present (newer configs), else HF 4.4x's
 * rule, sliding on even layers (layer_idx % 2 == 0). sliding_window null = no window anywhere.
 */
function layerWindows(g: Getter, t: Json, layers: number, file: string): number[] {
  if (t.sliding_window === null) return new Array<number>(layers).fill(0);
  const window = g.int(t, 'text_config.sliding_window', TEXT_DEFAULTS.gemma2.window);
  const types = t.layer_types;
  if (types === undefined || types === null) return Array.from({ length: layers }, (_, i) => (i % 2 === 0 ? window : 0));
  if (!Array.isArray(types) || types.length !== layers) {
    throw new CheckpointError(file, `text_config.layer_types must be a list of ${layers} entries (num_hidden_layers)`);
  }
  return types.map((type, i) => {
    if (type === 'sliding_attention') return window;
    if (type === 'full_attention') return 0;
    throw new CheckpointError(file, `text_config.layer_types[${i}] ${JSON.stringify(type)} is not "sliding_attention" or "full_attention"`);
  });
}

/** An id or a list of ids (eos_token_id); undefined when absent. */
export function eosList(g: Getter, o: Json, key: string): number[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return [g.int(o, key, 0, 0)];
  return v.map((e, i) => g.int({ [`${key}[${i}]`]: e }, `${key}[${i}]`, 0, 0));
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
