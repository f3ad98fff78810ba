// The model made as soon as its weights are allocated (loadCheckpoint's beforeStream), so that a
// first request's pipelines compile while the weights stream (precompile's `ahead`, Gpu.compileAhead).

import type { CompileStats, Gpu } from '../device.js';
import type { LoadedCheckpoint } from '../loader/checkpoint.js';
import { precompile, type GenerateOptions } from './generate.js';
import { PaliGemma } from './paligemma.js';

export interface ModelAhead {
  /** For LoadOptions.beforeStream; undefined without a request to compile for. */
  beforeStream?: (checkpoint: LoadedCheckpoint) => void;
  /** The model of the loaded checkpoint: the one made ahead, or a new one (set up either way). */
  model(checkpoint: LoadedCheckpoint): PaliGemma;
  /** What compiled ahead; undefined where nothing did (its errors are the precompile's after the load). */
  compiled(): Promise<CompileStats | undefined>;
  /** After a load that failed: waits for the compile and destroys the model (made ahead or by model()). */
  abandon(): Promise<void>;
}

/**
 * `request`: the first request's shape as precompile takes it (images per sequence, generate
 * options); `setup`: what the model needs before it records (PaliGemma 2's uncapped logits).
 */
export function modelAhead(gpu: Gpu, request?: { images: number[]; generate?: GenerateOptions }, setup?: (model: PaliGemma) => void): ModelAhead {
  let early: { model: PaliGemma; compiling: Promise<CompileStats | undefined> } | undefined;
  let made: PaliGemma | undefined;
  const make = (checkpoint: LoadedCheckpoint) => {
    const model = new PaliGemma(gpu, checkpoint);
    setup?.(model);
    return model;
  };
  return {
    beforeStream: request && ((checkpoint) => {
      const model = make(checkpoint);
      early = { model, compiling: precompile(model, request.images, request.generate, { ahead: true }).catch(() => undefined) };
    }),
    model: (checkpoint) => (made = early?.model ?? make(checkpoint)),
    compiled: async () => early?.compiling,
    abandon: async () => {
      await early?.compiling;
      (made ?? early?.model)?.destroy();
    },
  };
}
