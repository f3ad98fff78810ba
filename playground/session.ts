// Opening a model in the page: WebGPU device, weights streamed from a FileSource (the playground
// server over HTTP Range requests, or a folder from the user's disk), the tokenizer, a Pipeline.

import { requestGpu } from '../src/browser/gpu.js';
import { FALLBACK_TOKENIZER_PATH } from '../src/browser/playground-routes.js';
import type { Gpu } from '../src/device.js';
import { GpuError } from '../src/device.js';
import { modelAhead } from '../src/graph/model-ahead.js';
import { quantizeFor, texturesFor } from '../src/graph/weights.js';
import { destroyWeights, loadCheckpoint, type LoadedCheckpoint, type LoadProgress } from '../src/loader/checkpoint.js';
import { CheckpointError } from '../src/loader/errors.js';
import type { FileSource } from '../src/loader/source.js';
import { Pipeline } from '../src/pipeline.js';
import { PaliGemmaTokenizer } from '../src/tokenizer/tokenizer.js';
import type { Quantization } from '../src/weights.js';

export interface Session {
  gpu: Gpu;
  checkpoint: LoadedCheckpoint;
  pipeline: Pipeline;
  /** Where the tokenizer came from, said in the page. */
  tokenizerNote: string;
  sourceName: string;
}

let gpuPromise: Promise<Gpu> | undefined;
let gpuProfiles = false;

/** One device for the page; a new one only when profiling is switched (the profiler is fixed per device). */
export function pageGpu(profile: boolean): Promise<Gpu> {
  if (!gpuPromise || profile !== gpuProfiles) {
    const old = gpuPromise;
    gpuProfiles = profile;
    gpuPromise = requestGpu({ profile });
    gpuPromise.catch(() => (gpuPromise = undefined));
    void old?.then((g) => g.device.destroy(), () => {});
  }
  return gpuPromise;
}

/** The tokenizer.json text to use, where it came from, and a note for the page. */
async function tokenizerText(source: FileSource): Promise<{ text: string; from: string; note: string }> {
  if (await source.exists('tokenizer.json')) {
    return { text: await source.readText('tokenizer.json'), from: `${source.name}/tokenizer.json`, note: "tokenizer: the model folder's tokenizer.json" };
  }
  const res = await fetch(FALLBACK_TOKENIZER_PATH).catch(() => undefined);
  if (!res?.ok) {
    throw new CheckpointError(source.name, `no tokenizer.json in the model folder, and the fallback tokenizer (${FALLBACK_TOKENIZER_PATH}) is only offered by \`paligemma playground\``);
  }
  return {
    text: await res.text(),
    from: FALLBACK_TOKENIZER_PATH,
    note: `This folder has no tokenizer.json: using the real Gemma tokenizer + PaliGemma's <loc>/<seg>/<image> tokens, served by the playground at ${FALLBACK_TOKENIZER_PATH}.`,
  };
}

/** `quantize`: the Linear weights' format (docs/quantization.md), int8 or int4 quantized while they stream; default bf16 as in the checkpoint. */
export async function openSession(source: FileSource, gpu: Gpu, onProgress: (p: LoadProgress) => void, quantize?: Quantization): Promise<Session> {
  // The tokenizer's text first: a folder without one fails before megabytes of weights are
  // streamed. Its objects after them (src/load-source.ts says why).
  const { text, from, note } = await tokenizerText(source);
  // A one-image request's pipelines are made while the weights stream; the first request finds them.
  const ahead = modelAhead(gpu, { images: [1] });
  let checkpoint: LoadedCheckpoint | undefined;
  try {
    checkpoint = await loadCheckpoint(source, gpu.device, { onProgress, textures: texturesFor(gpu), quantize: quantizeFor(quantize), beforeStream: ahead.beforeStream });
    const tokenizer = new PaliGemmaTokenizer(text, from);
    const model = ahead.model(checkpoint);
    gpu.check();
    return { gpu, checkpoint, pipeline: new Pipeline(model, tokenizer, checkpoint.preprocessor), tokenizerNote: note, sourceName: source.name };
  } catch (e) {
    await ahead.abandon();
    if (checkpoint) destroyWeights(checkpoint.weights, gpu.device);
    throw e;
  }
}

export function closeSession(s: Session): void {
  s.pipeline.model.destroy();
  destroyWeights(s.checkpoint.weights, s.gpu.device);
}

/** A headline and details for the error banner: what went wrong in the user's terms. */
export function explainError(e: unknown): { title: string; detail: string } {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof GpuError && /not available|No WebGPU adapter/.test(msg)) {
    const insecure = typeof window !== 'undefined' && !window.isSecureContext;
    return {
      title: 'WebGPU is not available in this browser',
      detail: insecure ? `${msg}\nThis page is not a secure context: WebGPU needs https, or http on 127.0.0.1 / localhost.` : msg,
    };
  }
  // Dawn's validation messages and the loader's binding check both name the limit that was hit.
  if ((e instanceof GpuError || e instanceof CheckpointError) && /\blimit\b|larger than the maximum/i.test(msg)) {
    return { title: 'This GPU adapter lacks a limit the model needs', detail: msg };
  }
  if (e instanceof CheckpointError) return { title: 'The model folder is incomplete or invalid', detail: msg };
  if (e instanceof GpuError) return { title: 'GPU error', detail: msg };
  return { title: 'Something went wrong', detail: msg };
}
