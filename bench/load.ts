// `paligemma bench load`: many callers on one Pipeline. For each concurrency C, C clients each send
// a request, wait for its last token, and send the next, until R requests are done (a closed loop:
// C requests in flight). Per request: time to first token from the call (queueing included) and the
// gaps between its tokens; per level: tokens/s over the wall time, decode tokens/s of the batches
// (decode steps × sequences ÷ decode time, prefill excluded) and the batch sizes the queue formed.

import { describeAdapter } from '../src/adapter.js';
import type { Gpu } from '../src/device.js';
import type { GenerationTimings } from '../src/graph/generate.js';
import type { RgbImage } from '../src/image/decode.js';
import { syntheticModelDir } from '../src/node/demo-model.js';
import { loadModel } from '../src/node/load-model.js';
import type { Pipeline } from '../src/pipeline.js';
import { randomF32 } from './data.js';
import { machine, type Machine } from './machine.js';
import { percentile } from './stats.js';
import { target, type Target } from './targets.js';

export interface LoadOptions {
  model?: string;
  concurrency: number[];
  requests: number;
  maxNewTokens: number;
  /** The most sequences per batch (default: the largest concurrency). */
  maxBatch?: number;
  prompt: string;
  /** Text ids (from <bos>) instead of the prompt, for checkpoints whose vocabulary the tokenizer overruns. */
  ids?: number[];
  gpu: () => Promise<Gpu>;
  command: string;
  log?: (line: string) => void;
}

export interface LoadLevel {
  concurrency: number;
  requests: number;
  batches: number;
  meanBatch: number;
  wallSeconds: number;
  tokens: number;
  /** Every generated token over the wall time (prefills included). */
  tokensPerSec: number;
  /** Σ decode steps × batch sequences ÷ Σ decode time, over the batches (batches run one at a time). */
  decodeTokensPerSec: number;
  firstTokenMs: { p50: number; p95: number };
  /** Gaps between consecutive tokens of a request. */
  perTokenMs: { p50: number; p95: number };
}

export interface LoadReport {
  date: string;
  command: string;
  machine: Machine;
  adapter: Record<string, unknown>;
  model: string;
  promptTokens: number;
  maxNewTokens: number;
  maxBatch: number;
  levels: LoadLevel[];
  targets: Target[];
}

/** A random image of the model's input size (its own seed per request). */
function randomImage(size: number, seed: number): RgbImage {
  const rgb = Uint8Array.from(randomF32(3 * size * size, seed), (v) => Math.round((v + 1) * 127.5));
  return { rgb, width: size, height: size };
}

async function level(pipeline: Pipeline, c: number, o: LoadOptions, ids: number[]): Promise<LoadLevel> {
  const size = pipeline.model.config.vision.imageSize;
  const firsts: number[] = [];
  const gaps: number[] = [];
  const batches = new Map<GenerationTimings, number>();
  let sent = 0;
  let tokens = 0;
  const client = async () => {
    while (sent < o.requests) {
      const image = randomImage(size, 1000 * c + sent++);
      const t0 = performance.now();
      let last = t0;
      // No stop ids: random weights may pick <eos>, and every request must decode the same count.
      const g = pipeline.generate([{ image, ids }], { maxNewTokens: o.maxNewTokens, stopIds: [] });
      for await (const t of g) {
        const now = performance.now();
        (t.index === 0 ? firsts : gaps).push(now - last);
        last = now;
        tokens++;
      }
      batches.set(g.timings, g.batchSize);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: c }, client));
  const wallSeconds = (performance.now() - t0) / 1000;
  let decodeTokens = 0;
  let decodeMs = 0;
  for (const [t, n] of batches) {
    decodeTokens += t.decodeSteps * n;
    decodeMs += t.decodeMs;
  }
  const sizes = [...batches.values()];
  return {
    concurrency: c,
    requests: o.requests,
    batches: sizes.length,
    meanBatch: sizes.reduce((a, b) => a + b, 0) / sizes.length,
    wallSeconds,
    tokens,
    tokensPerSec: tokens / wallSeconds,
    decodeTokensPerSec: decodeTokens / (decodeMs / 1000),
    firstTokenMs: { p50: percentile(firsts, 0.5), p95: percentile(firsts, 0.95) },
    perTokenMs: { p50: percentile(gaps, 0.5), p95: percentile(gaps, 0.95) },
  };
}

export async function benchLoad(o: LoadOptions): Promise<LoadReport> {
  const log = o.log ?? (() => {});
  const dir = o.model ?? (await syntheticModelDir('pt-224', 0, true));
  const gpu = await o.gpu();
  gpu.profiling = false;
  log(`loading ${dir}`);
  const { pipeline } = await loadModel(dir, { gpu });
  const maxBatch = o.maxBatch ?? Math.max(...o.concurrency);
  pipeline.maxBatch = maxBatch;
  const ids = o.ids ?? pipeline.tokenizer.encodePrompt(o.prompt);
  const m = machine();
  try {
    // One request first: pipelines compiled and weights prepared before anything is timed.
    log('warm-up request');
    await pipeline.run([{ image: randomImage(pipeline.model.config.vision.imageSize, 1), ids }], { maxNewTokens: 2, stopIds: [] });
    const levels: LoadLevel[] = [];
    for (const c of o.concurrency) {
      log(`concurrency ${c}: ${o.requests} requests`);
      levels.push(await level(pipeline, c, o, ids));
    }
    m.loadAfter = machine().load;
    const one = levels.find((l) => l.concurrency === 1);
    const four = levels.find((l) => l.concurrency === 4);
    const targets = one && four ? [target('decode tokens/s at C = 4 ÷ C = 1', four.decodeTokensPerSec / one.decodeTokensPerSec, 2.5, `${four.decodeTokensPerSec.toFixed(2)} / ${one.decodeTokensPerSec.toFixed(2)} tokens/s`)] : [];
    return {
      date: new Date().toISOString(),
      command: o.command,
      machine: m,
      adapter: describeAdapter(gpu),
      model: dir,
      promptTokens: pipeline.model.config.numImageTokens + ids.length,
      maxNewTokens: o.maxNewTokens,
      maxBatch,
      levels,
      targets,
    };
  } finally {
    pipeline.model.destroy();
  }
}
