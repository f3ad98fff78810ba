// Any FileSource (a Hugging Face checkpoint folder over HTTP, files picked in a page, memory) → a
// ready Pipeline on a Gpu: the weights streamed to the GPU, then the tokenizer. Node's loadModel
// (node/load-model.ts) adds what only Node can do: folders on disk, the host-memory check.

import type { Gpu } from './device.js';
import type { CompileStats } from './device.js';
import { precompile, type GenerateOptions } from './graph/generate.js';
import { modelAhead } from './graph/model-ahead.js';
import { quantizeFor, texturesFor } from './graph/weights.js';
import { destroyWeights, loadCheckpoint, type LoadedCheckpoint, type LoadProgress } from './loader/checkpoint.js';
import { CheckpointError } from './loader/errors.js';
import type { FileSource } from './loader/source.js';
import { Pipeline } from './pipeline.js';
import type { TokenizerJson } from './tokenizer/paligemma-tokens.js';
import { PaliGemmaTokenizer } from './tokenizer/tokenizer.js';
import type { Quantization } from './weights.js';

export interface LoadFromSourceOptions {
  /** tokenizer.json (text or parsed) when the checkpoint has none; the checkpoint's own wins otherwise. */
  tokenizer?: string | TokenizerJson;
  onProgress?: (p: LoadProgress) => void;
  /** Quantize the Linear weights while they stream (docs/quantization.md); default: bf16 as in the checkpoint. */
  quantize?: Quantization;
  /**
   * Compile the pipelines of a first request of this shape (graph/generate.ts precompile): from the
   * moment the weights are allocated, while they stream, and after them beside the tokenizer; the
   * request then compiles nothing new. As Node's loadModel.
   */
  precompile?: { images: number[]; generate?: GenerateOptions };
}

export interface LoadedPipeline {
  gpu: Gpu;
  pipeline: Pipeline;
  /** Seconds spent reading and uploading the weights. */
  loadSeconds: number;
  /** Bytes read from the checkpoint. */
  bytes: number;
  /** With `precompile`: what compiled after the load, and (where anything could) while the weights streamed. */
  compiled?: CompileStats;
  compiledAhead?: CompileStats;
}

/** Loads the PaliGemma checkpoint in `source` onto `gpu` (from requestGpu, or `new Gpu(device)`). */
export async function loadModelFromSource(gpu: Gpu, source: FileSource, opts: LoadFromSourceOptions = {}): Promise<LoadedPipeline> {
  // A folder without a tokenizer fails before megabytes of weights are streamed; the tokenizer is
  // built after them (its 80 MiB of objects would make every garbage collection that the staging
  // buffers' mappings trigger during the load ≈100 ms: node/load-model.ts).
  const inFolder = await source.exists('tokenizer.json');
  if (!inFolder && opts.tokenizer === undefined) throw new CheckpointError(source.name, 'no tokenizer.json in the checkpoint, and no tokenizer option was given');
  const ahead = modelAhead(gpu, opts.precompile);
  let checkpoint: LoadedCheckpoint | undefined;
  try {
    checkpoint = await loadCheckpoint(source, gpu.device, { onProgress: opts.onProgress, textures: texturesFor(gpu), quantize: quantizeFor(opts.quantize), beforeStream: ahead.beforeStream });
    const model = ahead.model(checkpoint);
    const compiling = opts.precompile && precompile(model, opts.precompile.images, opts.precompile.generate);
    let tokenizer: PaliGemmaTokenizer;
    let compiled: CompileStats | undefined;
    let compiledAhead: CompileStats | undefined;
    try {
      tokenizer = inFolder
        ? new PaliGemmaTokenizer(await source.readText('tokenizer.json'), `${source.name}/tokenizer.json`)
        : new PaliGemmaTokenizer(opts.tokenizer!, 'the tokenizer option');
    } finally {
      [compiled, compiledAhead] = await Promise.all([compiling, ahead.compiled()]);
    }
    gpu.check();
    const loaded: LoadedPipeline = { gpu, pipeline: new Pipeline(model, tokenizer, checkpoint.preprocessor), loadSeconds: checkpoint.seconds, bytes: checkpoint.bytesRead };
    return { ...loaded, ...(compiled ? { compiled } : {}), ...(compiledAhead?.pipelines ? { compiledAhead } : {}) };
  } catch (e) {
    await ahead.abandon();
    if (checkpoint) destroyWeights(checkpoint.weights, gpu.device);
    throw e;
  }
}
