// Node: a model folder on disk → a ready Pipeline (weights on the GPU, tokenizer, preprocessing).

import type { PaliGemma } from '../graph/paligemma.js';
import { modelAhead } from '../graph/model-ahead.js';
import { quantizeFor, texturesFor } from '../graph/weights.js';
import { totalmem } from 'node:os';
import type { LoadedCheckpoint, LoadProgress } from '../loader/checkpoint.js';
import type { PaliGemmaConfig } from '../loader/config.js';
import { checkMemory } from '../loader/memory.js';
import { destroyWeights } from '../loader/checkpoint.js';
import { loadCheckpointFromDir, NodeFileSource } from '../loader/node.js';
import { loadLoraAdapter, type LoraAdapter } from '../graph/lora.js';
import { Pipeline } from '../pipeline.js';
import { findTokenizer, readTokenizer } from '../tokenizer/load.js';
import type { PaliGemmaTokenizer } from '../tokenizer/tokenizer.js';
import type { CompileStats, Gpu } from '../device.js';
import { precompile, type GenerateOptions } from '../graph/generate.js';
import type { Quantization } from '../weights.js';
import { collectGarbage } from './collect-garbage.js';
import { modelFolder, type HubOptions } from './hub-model.js';
import { requestGpu, type NodeGpuOptions } from './gpu.js';

export interface LoadModelOptions extends NodeGpuOptions {
  gpu?: Gpu;
  /** tokenizer.json to use instead of the model folder's. */
  tokenizer?: string;
  onProgress?: (p: LoadProgress) => void;
  /** Quantize the Linear weights at load (docs/quantization.md); default: bf16 as in the checkpoint. */
  quantize?: Quantization;
  /** PEFT LoRA adapter folders to apply (all at once: their deltas add up). */
  lora?: string[];
  /** Merge them into float32 copies of the weights they touch (--lora-merge, docs/lora.md). */
  loraMerge?: boolean;
  /** For a Hugging Face model id: revision, cache, endpoint, token, offline, download progress (docs/hub.md). */
  hub?: HubOptions;
  /**
   * Compile the pipelines of a first request while the tokenizer parses (graph/generate.ts precompile):
   * its sequences' image counts and generate options. On lavapipe a cold first request saves the
   * parse's seconds; the request then compiles nothing new.
   */
  precompile?: { images: number[]; generate?: GenerateOptions };
  /** PaliGemma 2: logits without final_logit_softcapping (PaliGemma.capLogits off), set before precompile compiles the LM head. */
  uncappedLogits?: boolean;
}

export interface LoadedModel {
  /** The folder the model was read from (for a Hub id, its snapshot in the Hugging Face cache). */
  dir: string;
  gpu: Gpu;
  pipeline: Pipeline;
  loadSeconds: number;
  bytes: number;
  /** What `precompile` compiled (its time overlaps the tokenizer's parse). */
  compiled?: CompileStats;
  /**
   * What `precompile` compiled while the weights streamed (beside the device's queue: on a GPU's
   * worker threads, on lavapipe's compile helpers into Mesa's shader cache), from the moment they
   * were allocated until the last pipeline; `compiled` then counts the same pipelines again, found
   * compiled. Absent where nothing could (LoRA adapters, weights moved after the load, no helpers).
   */
  compiledAhead?: CompileStats;
}

/**
 * On CPU adapters the GPU's memory is the host's: refuses (MemoryError) a model whose weights, KV
 * cache and activations would not fit it, naming the quantization that would. WebGPU does not tell
 * a GPU's memory size; there an allocation that fails is reported by the loader instead.
 */
export function checkHostMemory(gpu: Gpu, config: PaliGemmaConfig, quantize?: Quantization, limit = totalmem()): void {
  if (!gpu.cpuAdapter) return;
  checkMemory(config, limit, 'this machine', { quantize: quantizeFor(quantize), quantizeAs: quantizeFor, current: quantize });
}

/** `pathOrId`: a checkpoint folder, or a Hugging Face model id such as `google/paligemma-3b-mix-224` (modelFolder). */
export async function loadModel(pathOrId: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const dir = await modelFolder(pathOrId, opts.hub);
  const gpu = opts.gpu ?? (await requestGpu(opts));
  // A missing tokenizer file fails before the weights stream; it is parsed after them: V8 counts
  // each mapping of a staging buffer as new external memory and collects garbage every few chunks,
  // ≈150 full collections in a 3B load, each ≈100 ms of CPU with the tokenizer's 80 MiB of objects
  // alive and a few ms without them.
  const tokenizerFile = findTokenizer(dir, opts.tokenizer);
  // The first request's pipelines compile while the weights stream, where they do not depend on
  // adapters read after the weights.
  const ahead = modelAhead(gpu, opts.lora?.length ? undefined : opts.precompile, (m) => void (opts.uncappedLogits && (m.capLogits = false)));
  let checkpoint: LoadedCheckpoint;
  try {
    checkpoint = await loadCheckpointFromDir(dir, gpu.device, {
      onProgress: opts.onProgress,
      textures: texturesFor(gpu),
      quantize: quantizeFor(opts.quantize),
      beforeUpload: (plan) => checkHostMemory(gpu, plan.config, opts.quantize),
      beforeStream: ahead.beforeStream,
    });
  } catch (e) {
    await ahead.abandon();
    throw e;
  }
  const model = ahead.model(checkpoint);
  let compiledAhead: CompileStats | undefined;
  const adapters: LoraAdapter[] = [];
  let tokenizer: PaliGemmaTokenizer;
  let compiled: CompileStats | undefined;
  try {
    for (const dir of opts.lora ?? []) adapters.push(await loadLoraFromDir(model, dir));
    // On the model too, for callers that run it directly (dump, bench).
    model.setAdapters(adapters, { merge: opts.loraMerge });
    const compiling = opts.precompile && precompile(model, opts.precompile.images, opts.precompile.generate);
    // One turn of the event loop submits the compile; lavapipe's threads then run it while the parse holds this one.
    if (compiling) await new Promise((r) => setImmediate(r));
    try {
      tokenizer = readTokenizer(tokenizerFile);
    } finally {
      // The helpers may still be at the pipelines this device came to after the load, from the cache or not.
      [compiled, compiledAhead] = await Promise.all([compiling, ahead.compiled()]);
    }
  } catch (e) {
    await ahead.abandon();
    destroyWeights(checkpoint.weights, gpu.device);
    throw e;
  }
  collectGarbage();
  const pipeline = new Pipeline(model, tokenizer, checkpoint.preprocessor);
  pipeline.setAdapters(adapters, { merge: opts.loraMerge });
  return { dir, gpu, pipeline, loadSeconds: checkpoint.seconds, bytes: checkpoint.bytesRead, compiled, ...(compiledAhead?.pipelines ? { compiledAhead } : {}) };
}

/** A PEFT LoRA adapter folder on disk, checked against the model and uploaded (Pipeline.setAdapters / PaliGemma.setAdapters apply it). */
export async function loadLoraFromDir(model: PaliGemma, dir: string): Promise<LoraAdapter> {
  const source = new NodeFileSource(dir);
  try {
    const adapter = await loadLoraAdapter(model.gpu, model.checkpoint.weights, source);
    for (const w of adapter.warnings) console.warn(`warning: ${w}`);
    return adapter;
  } finally {
    await source.close();
  }
}
