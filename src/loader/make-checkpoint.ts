// Node-only: writes synthetic PaliGemma 1 and 2 checkpoints in the exact Hugging Face layout.
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig } from './config.js';
import { expectedTensors, PROJECTOR, TEXT, VISION } from './names.js';
import { bf16ToF16Exact, initFor, WeightStream } from './random-weights.js';

type Pg2Size = '3b' | '10b' | '28b';
export type Preset = 'tiny' | 'pt-224' | 'pt-448' | 'pt-896' | 'pg2-tiny' | `pg2-${Pg2Size}-${224 | 448 | 896}`;

/**
 * PaliGemma 2's decoders (Gemma 2 2B / 9B / 27B) as Hugging Face's converter configures them
 * (transformers convert_paligemma2_weights_to_hf.py VARIANT_CONFIGS; docs/paligemma2.md). The rest
 * of text_config comes from google/gemma-2-2b-it there: soft-caps 50 / 30, sliding window 4096.
 */
const PG2: Record<Pg2Size, { hidden: number; layers: number; inter: number; heads: number; kvHeads: number; headDim: number; scalar: number }> = {
  '3b': { hidden: 2304, layers: 26, inter: 9216, heads: 8, kvHeads: 4, headDim: 256, scalar: 256 },
  '10b': { hidden: 3584, layers: 42, inter: 14336, heads: 16, kvHeads: 8, headDim: 256, scalar: 256 },
  '28b': { hidden: 4608, layers: 46, inter: 36864, heads: 32, kvHeads: 16, headDim: 128, scalar: 4608 / 32 },
};

export const PRESETS: readonly Preset[] = [
  'tiny', 'pt-224', 'pt-448', 'pt-896', 'pg2-tiny',
  ...(['3b', '10b', '28b'] as const).flatMap((s) => ([224, 448, 896] as const).map((r) => `pg2-${s}-${r}` as const)),
];
export type FileDtype = 'bf16' | 'f16' | 'f32';

export interface MakeCheckpointOptions {
  preset: Preset;
  seed: number;
  out: string;
  /** Number of safetensors files; 1 writes model.safetensors without an index. */
  shards?: number;
  /** 'old' = the Hub's on-disk names, 'new' = transformers >= 4.52 names (model.*). */
  naming?: 'old' | 'new';
  dtype?: FileDtype;
  onProgress?: (bytesDone: number, bytesTotal: number, tensor: string) => void;
}

const TORCH_DTYPE: Record<FileDtype, string> = { bf16: 'bfloat16', f16: 'float16', f32: 'float32' };
const ST_DTYPE: Record<FileDtype, string> = { bf16: 'BF16', f16: 'F16', f32: 'F32' };
export const REAL_VOCAB = 257216;

/** config.json as HF writes it (sorted keys; defaulted fields omitted). */
export function presetConfig(preset: Preset, dtype: FileDtype = 'bf16'): Record<string, unknown> {
  if (preset.startsWith('pg2-')) return pg2Config(preset, dtype);
  const tiny = preset === 'tiny';
  const imageSize = tiny ? 224 : Number(preset.slice(3));
  const numImageTokens = (imageSize / 14) ** 2;
  const hidden = tiny ? 32 : 2048;
  const text: Record<string, unknown> = {
    hidden_size: hidden,
    intermediate_size: tiny ? 64 : 16384,
    model_type: 'gemma',
    num_attention_heads: tiny ? 4 : 8,
    num_hidden_layers: tiny ? 2 : 18,
    num_image_tokens: numImageTokens,
    num_key_value_heads: 1,
    torch_dtype: TORCH_DTYPE[dtype],
    vocab_size: REAL_VOCAB,
  };
  if (tiny) Object.assign(text, { head_dim: 8, hidden_activation: 'gelu_pytorch_tanh' });
  return paligemmaConfig(preset, dtype, text, visionConfig(tiny, imageSize, hidden), hidden);
}

/**
 * PaliGemma 2: the converter's sizes and Gemma 2's attention settings written out. pg2-tiny keeps
 * the real vocabulary with small dims, GQA 4/2, head_dim ≠ hidden/heads, and a window (256) shorter
 * than its prefix, so the demo model exercises every Gemma-2 path.
 */
function pg2Config(preset: Preset, dtype: FileDtype): Record<string, unknown> {
  const tiny = preset === 'pg2-tiny';
  const [, size, res] = preset.split('-') as [string, Pg2Size, string];
  const imageSize = tiny ? 224 : Number(res);
  const d = tiny ? { hidden: 32, layers: 3, inter: 64, heads: 4, kvHeads: 2, headDim: 16, scalar: 16 } : PG2[size];
  const text: Record<string, unknown> = {
    attn_logit_softcapping: 50.0,
    final_logit_softcapping: 30.0,
    head_dim: d.headDim,
    hidden_activation: 'gelu_pytorch_tanh',
    hidden_size: d.hidden,
    intermediate_size: d.inter,
    model_type: 'gemma2',
    num_attention_heads: d.heads,
    num_hidden_layers: d.layers,
    num_image_tokens: (imageSize / 14) ** 2,
    num_key_value_heads: d.kvHeads,
    query_pre_attn_scalar: d.scalar,
    sliding_window: tiny ? 256 : 4096,
    torch_dtype: TORCH_DTYPE[dtype],
    vocab_size: REAL_VOCAB,
  };
  return paligemmaConfig(preset, dtype, text, visionConfig(tiny, imageSize, d.hidden), d.hidden);
}

function visionConfig(tiny: boolean, imageSize: number, projection: number): Record<string, unknown> {
  const vision: Record<string, unknown> = {
    hidden_size: tiny ? 32 : 1152,
    intermediate_size: tiny ? 64 : 4304,
    model_type: 'siglip_vision_model',
    num_attention_heads: tiny ? 4 : 16,
    num_hidden_layers: tiny ? 2 : 27,
    num_image_tokens: (imageSize / 14) ** 2,
    patch_size: 14,
    projection_dim: projection,
    projector_hidden_act: 'gelu_fast',
    vision_use_head: false,
  };
  if (imageSize !== 224) vision.image_size = imageSize;
  return vision;
}

function paligemmaConfig(preset: Preset, dtype: FileDtype, text: Record<string, unknown>, vision: Record<string, unknown>, hidden: number): Record<string, unknown> {
  return sortKeys({
    _name_or_path: `paligemma make-checkpoint --preset ${preset} (random weights)`,
    architectures: ['PaliGemmaForConditionalGeneration'],
    bos_token_id: 2,
    eos_token_id: 1,
    hidden_size: hidden,
    ignore_index: -100,
    image_token_index: 257152,
    model_type: 'paligemma',
    pad_token_id: 0,
    projection_dim: hidden,
    text_config: text,
    torch_dtype: TORCH_DTYPE[dtype],
    transformers_version: '4.44.2',
    vision_config: vision,
    vocab_size: REAL_VOCAB,
  });
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) {
    const v = o[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) ? sortKeys(v as Record<string, unknown>) : v;
  }
  return out;
}

function preprocessorConfig(imageSize: number, numImageTokens: number): Record<string, unknown> {
  return {
    do_convert_rgb: null, do_normalize: true, do_rescale: true, do_resize: true,
    image_mean: [0.5, 0.5, 0.5], image_processor_type: 'SiglipImageProcessor',
    image_seq_length: numImageTokens, image_std: [0.5, 0.5, 0.5], processor_class: 'PaliGemmaProcessor',
    resample: 3, rescale_factor: 1 / 255, size: { height: imageSize, width: imageSize },
  };
}

const json = (o: unknown) => `${JSON.stringify(o, null, 2)}\n`;

/** The name a tensor gets on disk for the chosen naming family. */
export function diskName(canonical: string, naming: 'old' | 'new'): string {
  if (naming === 'old') return canonical;
  if (canonical.startsWith(VISION)) return `model.${canonical}`;
  if (canonical.startsWith(TEXT)) return `model.language_model.${canonical.slice(TEXT.length)}`;
  if (canonical.startsWith(PROJECTOR)) return `model.${canonical}`;
  return canonical;
}

interface OutTensor { canonical: string; name: string; shape: number[]; bytes: number }

/** Split the name-sorted tensor list into K non-empty runs of roughly equal bytes. */
function splitShards(tensors: OutTensor[], k: number): OutTensor[][] {
  const total = tensors.reduce((a, t) => a + t.bytes, 0);
  const groups: OutTensor[][] = [];
  let cur: OutTensor[] = [];
  let acc = 0;
  tensors.forEach((t, i) => {
    cur.push(t);
    acc += t.bytes;
    const left = tensors.length - i - 1;
    const needed = k - groups.length - 1;
    if (needed > 0 && (left === needed || acc >= (total * (groups.length + 1)) / k)) {
      groups.push(cur);
      cur = [];
    }
  });
  groups.push(cur);
  return groups;
}

/**
 * Write a complete checkpoint folder: config.json, preprocessor_config.json,
 * generation_config.json, weights (single file or K shards + index) and, for the real
 * vocabulary, tokenizer.json. Tensors are generated and written in 4 Mi-element chunks, so
 * memory stays bounded whatever the preset (pt-224 is about 5.9 GB in bf16).
 */
export async function makeCheckpoint(opts: MakeCheckpointOptions): Promise<{ files: string[]; bytes: number }> {
  const dtype = opts.dtype ?? 'bf16';
  const naming = opts.naming ?? 'old';
  const shards = opts.shards ?? 1;
  const configJson = presetConfig(opts.preset, dtype);
  const config = parseConfig(JSON.stringify(configJson));
  const itemSize = dtype === 'f32' ? 4 : 2;
  const tensors: OutTensor[] = [...expectedTensors(config)].map(([canonical, shape]) => ({
    canonical, name: diskName(canonical, naming), shape, bytes: shape.reduce((a, b) => a * b, 1) * itemSize,
  }));
  // The HF writer orders by dtype alignment, then name; with one dtype that is by name.
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (!Number.isInteger(shards) || shards < 1 || shards > tensors.length) {
    throw new Error(`--shards must be between 1 and ${tensors.length}, got ${shards}`);
  }
  await mkdir(opts.out, { recursive: true });
  const files = ['config.json', 'preprocessor_config.json', 'generation_config.json'];
  await writeFile(join(opts.out, 'config.json'), json(configJson));
  await writeFile(join(opts.out, 'preprocessor_config.json'), json(preprocessorConfig(config.vision.imageSize, config.numImageTokens)));
  await writeFile(join(opts.out, 'generation_config.json'),
    json({ _from_model_config: true, bos_token_id: 2, eos_token_id: 1, pad_token_id: 0, transformers_version: '4.44.2' }));
  if (config.text.vocabSize === REAL_VOCAB) {
    const { buildPaligemmaTokenizerJson } = await import('../tokenizer/paligemma-tokenizer-json.js');
    await writeFile(join(opts.out, 'tokenizer.json'), buildPaligemmaTokenizerJson());
    files.push('tokenizer.json');
  }

  const total = tensors.reduce((a, t) => a + t.bytes, 0);
  const progress = { done: 0 };
  const groups = splitShards(tensors, shards);
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < groups.length; i++) {
    const fileName = shards === 1 ? 'model.safetensors' : `model-${pad5(i + 1)}-of-${pad5(shards)}.safetensors`;
    for (const t of groups[i]!) weightMap[t.name] = fileName;
    await writeSafetensors(join(opts.out, fileName), groups[i]!, dtype, opts, progress, total);
    files.push(fileName);
  }
  if (shards > 1) {
    await writeFile(join(opts.out, 'model.safetensors.index.json'), json({ metadata: { total_size: total }, weight_map: weightMap }));
    files.push('model.safetensors.index.json');
  }
  return { files, bytes: total };
}

const pad5 = (n: number) => String(n).padStart(5, '0');

async function writeSafetensors(
  path: string, tensors: OutTensor[], dtype: FileDtype, opts: MakeCheckpointOptions, progress: { done: number }, total: number,
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: ST_DTYPE[dtype], shape: t.shape, data_offsets: [offset, offset + t.bytes] };
    offset += t.bytes;
  }
  let text = JSON.stringify(header);
  // Pad with spaces so the data buffer starts 8-byte aligned, as safetensors >= 0.3.2 does.
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const headerBytes = Buffer.from(text, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  const fh = await open(path, 'w');
  try {
    await fh.write(prefix);
    await fh.write(headerBytes);
    const CHUNK = 4 * 1024 * 1024;
    const words = new Uint16Array(CHUNK);
    const out = new Uint8Array(CHUNK * (dtype === 'f32' ? 4 : 2));
    const out16 = new Uint16Array(out.buffer);
    const out32 = new Uint32Array(out.buffer);
    for (const t of tensors) {
      const stream = new WeightStream(opts.seed, t.canonical, initFor(t.canonical, t.shape));
      const numel = t.shape.reduce((a, b) => a * b, 1);
      for (let done = 0; done < numel; done += CHUNK) {
        const n = Math.min(CHUNK, numel - done);
        const w = words.subarray(0, n);
        stream.fillBf16(w);
        if (dtype === 'bf16') out16.set(w);
        else if (dtype === 'f16') for (let i = 0; i < n; i++) out16[i] = bf16ToF16Exact(w[i]!);
        else for (let i = 0; i < n; i++) out32[i] = w[i]! << 16;
        const bytes = n * (dtype === 'f32' ? 4 : 2);
        await fh.write(out, 0, bytes);
        progress.done += bytes;
        opts.onProgress?.(progress.done, total, t.name);
      }
    }
  } finally {
    await fh.close();
  }
}
