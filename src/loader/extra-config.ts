import { CheckpointError } from './errors.js';
import { eosList, Getter, parseObject } from './config.js';

/** preprocessor_config.json (SiglipImageProcessor) as the image pipeline needs it. */
export interface PreprocessorConfig {
  width: number;
  height: number;
  /** PIL resample filter code; PaliGemma uses 3 (bicubic). */
  resample: number;
  doResize: boolean;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  mean: [number, number, number];
  std: [number, number, number];
  /** Number of <image> tokens the processor inserts (absent in some files). */
  imageSeqLength: number | null;
}

/** generation_config.json: only the fields our decoder uses. */
export interface GenerationConfig {
  /** All ids that stop generation (eos_token_id may be a number or a list). */
  eosIds: number[];
  bosId: number | null;
  padId: number | null;
  maxNewTokens: number | null;
  maxLength: number | null;
  doSample: boolean;
  temperature: number | null;
  topK: number | null;
  topP: number | null;
  repetitionPenalty: number | null;
}

export function parsePreprocessorConfig(text: string, file = 'preprocessor_config.json'): PreprocessorConfig {
  const o = parseObject(text, file);
  const g = new Getter(file);
  const bad = (problem: string) => new CheckpointError(file, problem);
  let width = 224;
  let height = 224;
  const size = o.size;
  if (typeof size === 'number') {
    width = height = g.int(o, 'size', 224);
  } else if (size !== undefined && size !== null) {
    if (typeof size !== 'object' || Array.isArray(size)) throw bad('size must be an object {height, width}');
    const s = size as Record<string, unknown>;
    if ('shortest_edge' in s && !('height' in s)) {
      width = height = g.int(s, 'size.shortest_edge', 224);
    } else {
      height = g.int(s, 'size.height', 224);
      width = g.int(s, 'size.width', 224);
    }
  }
  return {
    width,
    height,
    resample: g.int(o, 'resample', 3, 0),
    doResize: bool(o, 'do_resize', true, file),
    doRescale: bool(o, 'do_rescale', true, file),
    rescaleFactor: g.num(o, 'rescale_factor', 1 / 255),
    doNormalize: bool(o, 'do_normalize', true, file),
    mean: triple(o, 'image_mean', 0.5, file, false),
    std: triple(o, 'image_std', 0.5, file, true),
    imageSeqLength: o.image_seq_length == null ? null : g.int(o, 'image_seq_length', 256),
  };
}

export function parseGenerationConfig(text: string, file = 'generation_config.json'): GenerationConfig {
  const o = parseObject(text, file);
  const g = new Getter(file);
  const opt = (key: string, min = 0) => (o[key] == null ? null : g.int(o, key, 0, min));
  const eosIds = eosList(g, o, 'eos_token_id') ?? [];
  const optNum = (key: string) => (o[key] == null ? null : g.num(o, key, 1));
  return {
    eosIds,
    bosId: opt('bos_token_id'),
    padId: opt('pad_token_id'),
    maxNewTokens: opt('max_new_tokens', 1),
    maxLength: opt('max_length', 1),
    doSample: bool(o, 'do_sample', false, file),
    temperature: optNum('temperature'),
    topK: opt('top_k', 0),
    topP: optNum('top_p'),
    repetitionPenalty: optNum('repetition_penalty'),
  };
}

function bool(o: Record<string, unknown>, key: string, fallback: boolean, file: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new CheckpointError(file, `${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function triple(o: Record<string, unknown>, key: string, fallback: number, file: string, positive: boolean): [number, number, number] {
  let v = o[key];
  if (v === undefined || v === null) return [fallback, fallback, fallback];
  if (typeof v === 'number') v = [v, v, v];
  const ok = Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
  if (!ok) throw new CheckpointError(file, `${key} must be a list of 3 ${positive ? 'positive ' : ''}numbers, got ${JSON.stringify(v)}`);
  return v as [number, number, number];
}
