import { CheckpointError } from './errors.js';
import { parseConfig, parseObject, type PaliGemmaConfig } from './config.js';
import { parseGenerationConfig, parsePreprocessorConfig, type GenerationConfig, type PreprocessorConfig } from './extra-config.js';
import { canonicalName, expectedTensors, lmHeadShape, EMBED, LM_HEAD } from './names.js';
import { readSafetensorsHeader, type SafetensorsHeader } from './safetensors.js';
import type { FileSource } from './source.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export type WeightDtype = 'BF16' | 'F16' | 'F32';

/** One tensor to load: where its bytes are and what it must become. */
export interface PlannedTensor {
  /** Canonical name (names.ts). */
  name: string;
  /** File it is in, and its name inside that file. */
  file: string;
  fileName: string;
  dtype: WeightDtype;
  shape: number[];
  /** Absolute byte offset in the file and byte length in the file's dtype. */
  offset: number;
  byteLength: number;
}

/** Everything known about a checkpoint after validation and before any GPU allocation. */
export interface CheckpointPlan {
  config: PaliGemmaConfig;
  preprocessor: PreprocessorConfig | null;
  generation: GenerationConfig | null;
  tensors: Map<string, PlannedTensor>;
  /** True when the file stores no LM head, so it is embed_tokens (spec §5.1). */
  tiedLmHead: boolean;
  warnings: string[];
}

/** Read the JSON files and all safetensors headers and check them against each other. */
export async function planCheckpoint(source: FileSource): Promise<CheckpointPlan> {
  const config = parseConfig(await readRequiredText(source, 'config.json'), 'config.json');
  const preprocessor = (await source.exists('preprocessor_config.json'))
    ? parsePreprocessorConfig(await source.readText('preprocessor_config.json'))
    : null;
  const generation = (await source.exists('generation_config.json'))
    ? parseGenerationConfig(await source.readText('generation_config.json'))
    : null;
  const warnings: string[] = [];
  const { weightsFile, fileTensors } = await readWeightFiles(source, warnings);
  const tensors = new Map<string, PlannedTensor>();
  for (const { file, header, names } of fileTensors) {
    for (const fileName of names) {
      const entry = header.tensors.get(fileName)!;
      const name = canonicalName(fileName);
      const other = tensors.get(name);
      if (other) {
        throw new CheckpointError(file, `tensor ${JSON.stringify(fileName)} is the same weight as ${JSON.stringify(other.fileName)} in ${other.file} (both map to ${name})`);
      }
      tensors.set(name, {
        name, file, fileName, dtype: entry.dtype as WeightDtype, shape: entry.shape,
        offset: header.dataStart + entry.begin, byteLength: entry.end - entry.begin,
      });
    }
  }

  const expected = expectedTensors(config);
  const missing = [...expected.keys()].filter((n) => !tensors.has(n));
  if (missing.length > 0) {
    throw new CheckpointError(weightsFile, `missing ${missing.length} tensor(s) required by config.json: ${missing.join(', ')}`);
  }
  const tiedLmHead = !tensors.has(LM_HEAD);
  if (!tiedLmHead) expected.set(LM_HEAD, lmHeadShape(config));
  for (const [name, t] of tensors) {
    const shape = expected.get(name);
    if (!shape) {
      warnings.push(`${t.file}: ignoring unknown tensor ${JSON.stringify(t.fileName)}`);
      tensors.delete(name);
      continue;
    }
    if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
      const hint = name === EMBED || name === LM_HEAD ? ` (config.json vocab_size ${config.text.vocabSize}, hidden_size ${config.text.hiddenSize})` : '';
      throw new CheckpointError(t.file, `tensor ${JSON.stringify(t.fileName)} has shape [${t.shape.join(', ')}] but expected [${shape.join(', ')}]${hint}`);
    }
    if (t.dtype !== 'BF16' && t.dtype !== 'F16' && t.dtype !== 'F32') {
      throw new CheckpointError(t.file, `tensor ${JSON.stringify(t.fileName)} has dtype ${t.dtype}; only BF16, F16 and F32 weights are supported`);
    }
  }
  return { config, preprocessor, generation, tensors, tiedLmHead, warnings };
}

async function readRequiredText(source: FileSource, path: string): Promise<string> {
  if (!(await source.exists(path))) {
    throw new CheckpointError(path, `missing: ${source.name} has no ${path}`);
  }
  return source.readText(path);
}

interface FileTensors {
  file: string;
  header: SafetensorsHeader;
  /** Names (as in the file) to load from this file. */
  names: string[];
}

/** Single model.safetensors, or the shards an index names. Never assumes a shard count. */
async function readWeightFiles(source: FileSource, warnings: string[]): Promise<{ weightsFile: string; fileTensors: FileTensors[] }> {
  if (await source.exists(SINGLE_FILE)) {
    const header = await readSafetensorsHeader(source, SINGLE_FILE);
    return { weightsFile: SINGLE_FILE, fileTensors: [{ file: SINGLE_FILE, header, names: [...header.tensors.keys()] }] };
  }
  if (!(await source.exists(INDEX_FILE))) {
    const listing = source.list ? ` (found: ${(await source.list()).join(', ') || 'nothing'})` : '';
    throw new CheckpointError(SINGLE_FILE, `missing: ${source.name} has neither ${SINGLE_FILE} nor ${INDEX_FILE}${listing}`);
  }
  const index = parseObject(await source.readText(INDEX_FILE), INDEX_FILE);
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new CheckpointError(INDEX_FILE, 'weight_map must be an object of tensor name -> shard file');
  }
  const byFile = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || shard.startsWith('/') || shard.split(/[\\/]/).includes('..')) {
      throw new CheckpointError(INDEX_FILE, `weight_map entry ${JSON.stringify(name)} has an invalid shard file name ${JSON.stringify(shard)}`);
    }
    const list = byFile.get(shard) ?? [];
    list.push(name);
    byFile.set(shard, list);
  }
  if (byFile.size === 0) throw new CheckpointError(INDEX_FILE, 'weight_map is empty');
  const fileTensors: FileTensors[] = [];
  for (const [file, names] of [...byFile].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (!(await source.exists(file))) {
      throw new CheckpointError(INDEX_FILE, `shard file ${JSON.stringify(file)} named in weight_map does not exist`);
    }
    const header = await readSafetensorsHeader(source, file);
    for (const name of names) {
      if (!header.tensors.has(name)) {
        throw new CheckpointError(file, `tensor ${JSON.stringify(name)} is listed in ${INDEX_FILE} for this shard but is not in it`);
      }
    }
    const listed = new Set(names);
    for (const name of header.tensors.keys()) {
      if (!listed.has(name)) warnings.push(`${file}: tensor ${JSON.stringify(name)} is not in ${INDEX_FILE}; ignored`);
    }
    fileTensors.push({ file, header, names });
  }
  return { weightsFile: INDEX_FILE, fileTensors };
}
