// Hugging Face PEFT LoRA adapters (PeftModel.save_pretrained): adapter_config.json and
// adapter_model.safetensors, checked against the base model's weights and read into float32
// (docs/lora.md). PEFT's rules: target_modules as a list matches a module path or its suffix after
// a dot, as a string it is a regex the whole path must match (layers_to_transform only applies to
// lists); rank_pattern / alpha_pattern keys are regexes matched against the end of the path, the
// first in file order winning; scale = alpha / r, or alpha / √r with use_rslora.

import { CheckpointError } from './errors.js';
import { f16BitsToF32Bits } from './bf16.js';
import { canonicalName, EMBED, LM_HEAD } from './names.js';
import { readSafetensorsHeader, type TensorEntry } from './safetensors.js';
import type { FileSource } from './source.js';

export const LORA_CONFIG_FILE = 'adapter_config.json';
export const LORA_WEIGHTS_FILE = 'adapter_model.safetensors';

export interface LoraConfig {
  r: number;
  alpha: number;
  rslora: boolean;
  targets: string | string[];
  exclude: string | string[] | null;
  layers: number[] | null;
  layersPattern: string[] | null;
  rankPattern: [string, number][];
  alphaPattern: [string, number][];
}

/** One adapted Linear layer: W' = W + scale·B·A. */
export interface LoraModule {
  /** The weight's canonical name (names.ts). */
  weight: string;
  /** The module path as the adapter names it. */
  module: string;
  rank: number;
  scale: number;
  N: number;
  K: number;
  /** [rank, K]. */
  a: Float32Array;
  /** [N, rank]. */
  b: Float32Array;
}

export interface LoraAdapterData {
  /** The adapter's folder (source.name). */
  name: string;
  config: LoraConfig;
  modules: LoraModule[];
  warnings: string[];
}

/** The base model's weights as the adapter is checked against them: canonical name → shape. */
export type BaseShapes = ReadonlyMap<string, { shape: readonly number[] }>;

type Json = Record<string, unknown>;

/** Parses adapter_config.json; refuses what this runtime does not apply (DoRA, trained biases, modules_to_save, …). */
export function parseLoraConfig(text: string, file = LORA_CONFIG_FILE): LoraConfig {
  const bad = (problem: string) => new CheckpointError(file, problem);
  let c: Json;
  try {
    c = JSON.parse(text) as Json;
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw bad('must be a JSON object');
  const given = (k: string) => c[k] !== undefined && c[k] !== null;
  if (c.peft_type !== 'LORA') throw bad(`peft_type is ${JSON.stringify(c.peft_type)}: only LoRA adapters ("LORA") are supported`);
  if (c.use_dora === true) throw bad('use_dora: DoRA adapters are not supported');
  if (given('bias') && c.bias !== 'none') throw bad(`bias ${JSON.stringify(c.bias)}: trained biases are not supported (only "none")`);
  if (c.lora_bias === true) throw bad('lora_bias: a bias on lora_B is not supported');
  if (Array.isArray(c.modules_to_save) ? c.modules_to_save.length > 0 : given('modules_to_save')) {
    throw bad(`modules_to_save ${JSON.stringify(c.modules_to_save)}: fully trained modules are not supported`);
  }
  if (given('layer_replication')) throw bad('layer_replication is not supported');
  if (Array.isArray(c.target_parameters) && c.target_parameters.length > 0) throw bad('target_parameters is not supported');
  const num = (k: string, fallback: number, positive: boolean) => {
    if (!given(k)) return fallback;
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) throw bad(`${k} must be a ${positive ? 'positive ' : ''}number, got ${JSON.stringify(v)}`);
    return v;
  };
  const rank = (k: string, v: unknown) => {
    if (!(typeof v === 'number' && Number.isInteger(v) && v > 0)) throw bad(`${k} must be a whole number > 0, got ${JSON.stringify(v)}`);
    return v;
  };
  const strings = (k: string, allowString: boolean): string | string[] | null => {
    const v = c[k];
    if (v === undefined || v === null) return null;
    if (allowString && typeof v === 'string') return v;
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
    throw bad(`${k} must be ${allowString ? 'a string (a regex) or ' : ''}a list of strings, got ${JSON.stringify(v)}`);
  };
  const pattern = (k: string, isRank: boolean): [string, number][] => {
    if (!given(k)) return [];
    const v = c[k];
    if (typeof v !== 'object' || Array.isArray(v)) throw bad(`${k} must be an object of module patterns → numbers`);
    return Object.entries(v as Json).map(([key, x]) => {
      if (isRank) return [key, rank(`${k}[${JSON.stringify(key)}]`, x)];
      if (typeof x !== 'number' || !Number.isFinite(x)) throw bad(`${k}[${JSON.stringify(key)}] must be a number, got ${JSON.stringify(x)}`);
      return [key, x];
    });
  };
  const targets = strings('target_modules', true);
  if (targets === null) throw bad('target_modules is missing: name the adapted modules');
  let layers: number[] | null = null;
  if (given('layers_to_transform')) {
    const v = c.layers_to_transform;
    const list = typeof v === 'number' ? [v] : v;
    if (!Array.isArray(list) || !list.every((i) => Number.isInteger(i) && i >= 0)) throw bad(`layers_to_transform must be a layer index or a list of them, got ${JSON.stringify(v)}`);
    layers = list.length > 0 ? (list as number[]) : null;
  }
  const lp = strings('layers_pattern', true);
  return {
    r: given('r') ? rank('r', c.r) : 8,
    alpha: num('lora_alpha', 8, false),
    rslora: c.use_rslora === true,
    targets,
    exclude: strings('exclude_modules', true),
    layers,
    layersPattern: lp === null || lp.length === 0 ? null : typeof lp === 'string' ? [lp] : lp,
    rankPattern: pattern('rank_pattern', true),
    alphaPattern: pattern('alpha_pattern', false),
  };
}

/** A Python regex of the config as a JavaScript one (named groups are written (?P<name>…) there). */
function regex(source: string, pattern: string): RegExp {
  try {
    return new RegExp(source.replace(/\(\?P</g, '(?<'));
  } catch (e) {
    throw new CheckpointError(LORA_CONFIG_FILE, `${JSON.stringify(pattern)} is not a valid regex (${(e as Error).message})`);
  }
}

/** Python's re.fullmatch. */
function fullMatch(pattern: string, s: string): boolean {
  return regex(`^(?:${pattern})$`, pattern).test(s);
}

function listMatch(list: string[], key: string): boolean {
  return list.some((t) => key === t || key.endsWith(`.${t}`));
}

/** Whether PEFT adapts the module at `key` (check_target_module_exists). */
export function isTargeted(c: LoraConfig, key: string): boolean {
  if (c.exclude !== null && (typeof c.exclude === 'string' ? fullMatch(c.exclude, key) : listMatch(c.exclude, key))) return false;
  // PEFT's shorthand for every Linear but the output layer (which baseWeight refuses anyway).
  if (c.targets === 'all-linear') return true;
  if (typeof c.targets === 'string') return fullMatch(c.targets, key);
  if (c.targets.includes(key)) return true;
  if (!listMatch(c.targets, key)) return false;
  if (c.layers === null) return true;
  const patterns = c.layersPattern ?? ['[^.]*'];
  for (const p of patterns) {
    const m = regex(`^.*\\.${p}\\.(\\d+)\\.`, p).exec(key);
    if (m) return c.layers.includes(Number(m[1]));
  }
  return false;
}

/** The value of the first pattern (in file order) matching the end of `key` after a dot, else the fallback (PEFT's get_pattern_key). */
function patternValue(patterns: [string, number][], key: string, fallback: number): number {
  for (const [p, v] of patterns) if (regex(`^(?:.*\\.)?(?:${p})$`, p).test(key)) return v;
  return fallback;
}

/** rank and scale of the module at `key`. */
export function rankAndScale(c: LoraConfig, key: string): { rank: number; scale: number } {
  const rank = patternValue(c.rankPattern, key, c.r);
  const alpha = patternValue(c.alphaPattern, key, c.alpha);
  return { rank, scale: c.rslora ? alpha / Math.sqrt(rank) : alpha / rank };
}

const PREFIX = 'base_model.model.';
const FACTORS = /^(.+)\.lora_([AB])\.weight$/;

/** Refuses a tensor that is not lora_A / lora_B of a module, saying what it is. */
function unsupportedTensor(name: string): string {
  if (/\.lora_embedding_[AB](\.weight)?$/.test(name)) return 'LoRA on an embedding is not supported';
  if (/\.lora_magnitude_vector(\.weight)?$/.test(name)) return 'DoRA (lora_magnitude_vector) is not supported';
  if (/\.lora_[AB]\.bias$/.test(name)) return 'a LoRA bias is not supported';
  return 'not a LoRA factor (lora_A / lora_B); modules_to_save and trained biases are not supported';
}

/** Which weight a module path names, or why it cannot be adapted. */
function baseWeight(module: string, base: BaseShapes): string {
  const weight = canonicalName(`${module}.weight`);
  if (weight === EMBED || module.endsWith('embed_tokens')) return 'LoRA on the token embedding is not supported';
  if (weight === LM_HEAD) return 'LoRA on the LM head (tied to the token embedding) is not supported';
  if (weight.endsWith('.embeddings.patch_embedding.weight') || weight.endsWith('.embeddings.position_embedding.weight')) return 'LoRA on the vision embeddings is not supported';
  const w = base.get(weight);
  if (!w) return `it matches no weight of the model (read as ${weight})`;
  if (w.shape.length !== 2) return `${weight} is not a Linear weight`;
  return '';
}

function toF32(bytes: Uint8Array, dtype: string): Float32Array {
  const n = bytes.length / (dtype === 'F32' ? 4 : 2);
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    if (dtype === 'F32') out[i] = dv.getFloat32(i * 4, true);
    else {
      const h = dv.getUint16(i * 2, true);
      u[i] = dtype === 'BF16' ? h << 16 : f16BitsToF32Bits(h);
    }
  }
  return out;
}

/**
 * Reads an adapter folder and checks it against the base model: every tensor must be lora_A
 * [r, K] / lora_B [N, r] of a Linear weight of the model (old or new module naming, whatever the
 * checkpoint's), with the rank adapter_config.json gives it. Modules the config does not target
 * are skipped with a warning (PEFT ignores them too). Problems throw CheckpointError naming the file.
 */
export async function readLoraAdapter(source: FileSource, base: BaseShapes): Promise<LoraAdapterData> {
  const at = (f: string) => `${source.name}/${f}`;
  if (!(await source.exists(LORA_CONFIG_FILE))) throw new CheckpointError(at(LORA_CONFIG_FILE), 'not found: not a PEFT adapter folder');
  const config = parseLoraConfig(await source.readText(LORA_CONFIG_FILE), at(LORA_CONFIG_FILE));
  if (!(await source.exists(LORA_WEIGHTS_FILE))) {
    const bin = await source.exists('adapter_model.bin');
    throw new CheckpointError(at(LORA_WEIGHTS_FILE), bin ? 'not found (adapter_model.bin, a pickle, is not read: save with safe_serialization)' : 'not found');
  }
  const file = at(LORA_WEIGHTS_FILE);
  const header = await readSafetensorsHeader(source, LORA_WEIGHTS_FILE).catch((e: unknown) => {
    throw e instanceof CheckpointError ? new CheckpointError(at(e.file), e.problem) : e;
  });
  const bad = (name: string, problem: string) => new CheckpointError(file, `tensor ${JSON.stringify(name)}: ${problem}`);
  const pairs = new Map<string, { A?: [string, TensorEntry]; B?: [string, TensorEntry] }>();
  for (const [name, t] of header.tensors) {
    const m = name.startsWith(PREFIX) ? FACTORS.exec(name.slice(PREFIX.length)) : null;
    if (!m) throw bad(name, name.startsWith(PREFIX) ? unsupportedTensor(name) : `not a PEFT adapter key (they start with ${PREFIX})`);
    if (!['F32', 'BF16', 'F16'].includes(t.dtype)) throw bad(name, `dtype ${t.dtype} (F32, BF16 or F16 expected)`);
    const why = baseWeight(m[1]!, base);
    if (why) throw bad(name, why);
    const p = pairs.get(m[1]!) ?? {};
    p[m[2] as 'A' | 'B'] = [name, t];
    pairs.set(m[1]!, p);
  }
  if (pairs.size === 0) throw new CheckpointError(file, 'holds no LoRA tensors');
  const warnings: string[] = [];
  const modules: LoraModule[] = [];
  for (const [module, p] of pairs) {
    if (!p.A || !p.B) throw new CheckpointError(file, `module ${module}: lora_${p.A ? 'B' : 'A'}.weight is missing`);
    if (!isTargeted(config, module)) {
      warnings.push(`${file}: ${module} is not among target_modules; ignored (as PEFT does)`);
      continue;
    }
    const weight = canonicalName(`${module}.weight`);
    const [N, K] = base.get(weight)!.shape as [number, number];
    const [aName, a] = p.A;
    const [bName, b] = p.B;
    const { rank, scale } = rankAndScale(config, module);
    if (a.shape.length !== 2 || a.shape[1] !== K) throw bad(aName, `shape [${a.shape.join(', ')}] does not fit ${weight} [${N}, ${K}]: lora_A must be [r, ${K}]`);
    if (b.shape.length !== 2 || b.shape[0] !== N) throw bad(bName, `shape [${b.shape.join(', ')}] does not fit ${weight} [${N}, ${K}]: lora_B must be [${N}, r]`);
    if (a.shape[0] !== rank || b.shape[1] !== rank) {
      throw bad(aName, `rank ${a.shape[0]} (lora_B [${b.shape.join(', ')}]) but ${LORA_CONFIG_FILE} gives ${module} r = ${rank}`);
    }
    const read = async ([, t]: [string, TensorEntry]) => toF32(await source.read(LORA_WEIGHTS_FILE, header.dataStart + t.begin, t.end - t.begin), t.dtype);
    modules.push({ weight, module, rank, scale, N, K, a: await read(p.A), b: await read(p.B) });
  }
  return { name: source.name, config, modules, warnings };
}
