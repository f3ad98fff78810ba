// Any FileSource (a Hugging Face checkpoint folder over HTTP, files picked in a page, memory) → a
// ready Pipeline on a Gpu: the weights streamed to the GPU, then the tokenizer. Node's loadModel
// (node/load-model.ts) adds what only Node can do: folders on disk, the host-memory check.

import type { Gpu } from './device.js';
import { PaliGemma } from './graph/paligemma.js';
import { quantizeFor } from './graph/weights.js';
import { destroyWeights, loadCheckpoint, type LoadProgress } from './loader/checkpoint.js';
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
}

export interface LoadedPipeline {
  gpu: Gpu;
  pipeline: Pipeline;
  /** Seconds spent reading and uploading the weights. */
  loadSeconds: number;
  /** Bytes read from the checkpoint. */
  bytes: number;
}

/** Loads the PaliGemma checkpoint in `source` onto `gpu` (from requestGpu, or `new Gpu(device)`). */
export async function loadModelFromSource(gpu: Gpu, source: FileSource, opts: LoadFromSourceOptions = {}): Promise<LoadedPipeline> {
  // A folder without a tokenizer fails before megabytes of weights are streamed; the tokenizer is
  // built after them (its 80 MiB of objects would make every garbage collection that the staging
  // buffers' mappings trigger during the load ≈100 ms: node/load-model.ts).
  const inFolder = await source.exists('tokenizer.json');
  if (!inFolder && opts.tokenizer === undefined) throw new CheckpointError(source.name, 'no tokenizer.json in the checkpoint, and no tokenizer option was given');
  const checkpoint = await loadCheckpoint(source, gpu.device, { onProgress: opts.onProgress, quantize: quantizeFor(opts.quantize) });
  try {
    const tokenizer = inFolder
      ? new PaliGemmaTokenizer(await source.readText('tokenizer.json'), `${source.name}/tokenizer.json`)
      : new PaliGemmaTokenizer(opts.tokenizer!, 'the tokenizer option');
    const model = new PaliGemma(gpu, checkpoint);
    gpu.check();
    return { gpu, pipeline: new Pipeline(model, tokenizer, checkpoint.preprocessor), loadSeconds: checkpoint.seconds, bytes: checkpoint.bytesRead };
  } catch (e) {
    destroyWeights(checkpoint.weights, gpu.device);
    throw e;
  }
}
