// `paligemma bench load`: many callers on one Pipeline. For each concurrency C, C clients each send
// a request, wait for its last token, and send the next, until R requests are done (a closed loop:
// C requests in flight). Per request: time to first token from the call (queueing included) and the
// gaps between its tokens; per level: tokens/s over the wall time, decode tokens/s of the batches
// (decode steps × sequences ÷ decode time, prefill excluded) and the batch sizes the queue formed.
// With rounds > 1 the levels run in turn that many times (1, 4, 1, 4, …): a CPU adapter's speed
// drifts by a third over minutes, and the ratio of two levels run 20 minutes apart says more about
// the drift than about batching. The target then takes every round's decode tokens and time.

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
  /** How many times the whole list of concurrencies runs, in turn (default 1). */
  rounds?: number;
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
  /** Which pass over the concurrencies (1-based). */
  round: number;
  requests: number;
  batches: number;
  meanBatch: number;
  wallSeconds: number;
  tokens: number;
  /** Every generated token over the wall time (prefills included). */
  tokensPerSec: number;
  /** Σ decode steps × batch sequences ÷ Σ decode time, over the batches (batches run one at a time). */
  decodeTokensPerSec: number;
  decodeTokens: number;
  decodeSeconds: number;
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
  rounds: number;
  levels: LoadLevel[];
  targets: Target[];
}

/** A random image of the model's input size (its own seed per request). */
function randomImage(size: number, seed: number): RgbImage {
  const rgb = Uint8Array.from(randomF32(3 * size * size, seed), (v) => Math.round((v + 1) * 127.5));
  return { rgb, width: size, height: size };
}

async function level(pipeline: Pipeline, c: number, round: number, o: LoadOptions, ids: number[]): Promise<LoadLevel> {
  const size = pipeline.model.config.vision.imageSize;
  const firsts: number[] = [];
  const gaps: number[] = [];
  const batches = new Map<GenerationTimings, number>();
  let sent = 0;
  let tokens = 0;
  const client = async () => {
    while (sent < o.requests) {
      const image = randomImage(size, 100000 * round + 1000 * c + sent++);
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
    round,
    requests: o.requests,
    batches: sizes.length,
    meanBatch: sizes.reduce((a, b) => a + b, 0) / sizes.length,
    wallSeconds,
    tokens,
    tokensPerSec: tokens / wallSeconds,
    decodeTokensPerSec: decodeTokens / (decodeMs / 1000),
    decodeTokens,
    decodeSeconds: decodeMs / 1000,
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
    const rounds = o.rounds ?? 1;
    const levels: LoadLevel[] = [];
    for (let r = 1; r <= rounds; r++) {
      for (const c of o.concurrency) {
        log(`${rounds > 1 ? `round ${r}, ` : ''}concurrency ${c}: ${o.requests} requests`);
        levels.push(await level(pipeline, c, r, o, ids));
      }
    }
    m.loadAfter = machine().load;
    // Every round's decode tokens over every round's decode time, per concurrency.
    const rate = (c: number) => {
      const ls = levels.filter((l) => l.concurrency === c);
      return ls.length ? ls.reduce((a, l) => a + l.decodeTokens, 0) / ls.reduce((a, l) => a + l.decodeSeconds, 0) : undefined;
    };
    const [one, four] = [rate(1), rate(4)];
    const over = rounds > 1 ? `, ${rounds} rounds` : '';
    const targets = one && four ? [target('decode tokens/s at C = 4 ÷ C = 1', four / one, 2.5, `${four.toFixed(2)} / ${one.toFixed(2)} tokens/s${over}`)] : [];
    return {
      date: new Date().toISOString(),
      command: o.command,
      machine: m,
      adapter: describeAdapter(gpu),
      model: dir,
      promptTokens: pipeline.model.config.numImageTokens + ids.length,
      maxNewTokens: o.maxNewTokens,
      maxBatch,
      rounds,
      levels,
      targets,
    };
  } finally {
    pipeline.model.destroy();
  }
}
