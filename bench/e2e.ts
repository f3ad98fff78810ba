// `paligemma bench e2e`: load (vs a raw read of the same files), peak RSS, vision, prefill, time to
// first token and decode over several runs (median + raw runs), one decode step broken down by
// kernel, and the GEMM/GEMV rates of the model's own shapes measured in the same run, which give
// the prefill and decode times the kernels alone predict.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeAdapter } from '../src/adapter.js';
import type { Gpu } from '../src/device.js';
import { generate, type GenerationTimings } from '../src/graph/generate.js';
import { mainThreadCpuMs } from '../src/node/thread-cpu.js';
import type { PaliGemmaConfig } from '../src/loader/config.js';
import { modelDirOrPreset, syntheticModelDir } from '../src/node/demo-model.js';
import { loadModel } from '../src/node/load-model.js';
import { geglu, matmul, type Case } from './cases.js';
import { randomF32 } from './data.js';
import { dropCaches, fileBytes, freshWrite, rawRead, RssSampler, vmHwm } from './e2e-io.js';
import { machine, type Machine } from './machine.js';
import { runOptions, timeCase, type RunOptions } from './measure.js';
import { median } from './stats.js';
import { target, type Target } from './targets.js';

export interface E2eOptions {
  model?: string;
  runs: number;
  maxNewTokens: number;
  prompt: string;
  gpu: () => Promise<Gpu>;
  command: string;
  log?: (line: string) => void;
}

export interface E2eRun extends GenerationTimings {
  prefillTokens: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  msPerToken: number;
}

export interface ShapeRate {
  label: string;
  shape: Record<string, number>;
  /** How many times one image + prefill (or one decode step) runs this shape. */
  count: number;
  ms: number;
  gflops: number;
  gbps?: number;
}

export interface E2eReport {
  date: string;
  command: string;
  machine: Machine;
  adapter: Record<string, unknown>;
  model: string;
  cache: 'cold' | 'warm';
  raw: { bytes: number; seconds: number; gbps: number };
  /** One thread's first writes into fresh memory, GB/s (e2e-io.ts freshWrite). */
  freshWriteGbps: number;
  /** The checkpoint's load (plan, allocation, streaming to the GPU); loadModel adds the tokenizer in `totalSeconds`. */
  load: { bytes: number; seconds: number; gbps: number; totalSeconds: number };
  rss: { peakBytes: number; vmHwmBytes?: number; weightBytes: number };
  runs: E2eRun[];
  median: E2eRun;
  /** GPU time of vision + prefill from timestamp queries (profiled run). */
  prefillGpuMs: number;
  /** One decode step (decode + token choice), GPU time by kernel label (profiled run). */
  decodeStep: { label: string; ms: number; count: number }[];
  prefillRates: ShapeRate[];
  decodeRates: ShapeRate[];
  predicted: { prefillMs: number; decodeMsPerToken: number };
  targets: Target[];
}

/** The GEMMs of one image through SigLIP + projector and of a Gemma prefill over T rows, with counts. */
function prefillShapes(c: PaliGemmaConfig, T: number): [Case, number][] {
  const v = c.vision;
  const t = c.text;
  const V = v.numPatches;
  const q = t.numHeads * t.headDim;
  const kv = t.numKvHeads * t.headDim;
  return [
    [matmul('patch embedding', V, 3 * v.patchSize ** 2, v.hiddenSize), 1],
    [matmul('siglip q/k/v/o', V, v.hiddenSize, v.hiddenSize), 4 * v.numLayers],
    [matmul('siglip fc1', V, v.hiddenSize, v.intermediateSize), v.numLayers],
    [matmul('siglip fc2', V, v.intermediateSize, v.hiddenSize), v.numLayers],
    [matmul('projector', V, v.hiddenSize, c.projectionDim), 1],
    [matmul('gemma q', T, t.hiddenSize, q), t.numLayers],
    [matmul('gemma k/v', T, t.hiddenSize, kv), 2 * t.numLayers],
    [matmul('gemma o', T, q, t.hiddenSize), t.numLayers],
    [geglu('gemma gate+up', T, t.hiddenSize, t.intermediateSize), t.numLayers],
    [matmul('gemma down', T, t.intermediateSize, t.hiddenSize), t.numLayers],
    [matmul('LM head (last row)', 1, t.hiddenSize, t.vocabSize), 1],
  ];
}

function decodeShapes(c: PaliGemmaConfig): [Case, number][] {
  const t = c.text;
  const q = t.numHeads * t.headDim;
  const kv = t.numKvHeads * t.headDim;
  return [
    [matmul('gemma q', 1, t.hiddenSize, q), t.numLayers],
    [matmul('gemma k/v', 1, t.hiddenSize, kv), 2 * t.numLayers],
    [matmul('gemma o', 1, q, t.hiddenSize), t.numLayers],
    [geglu('gemma gate+up', 1, t.hiddenSize, t.intermediateSize), t.numLayers],
    [matmul('gemma down', 1, t.intermediateSize, t.hiddenSize), t.numLayers],
    [matmul('LM head', 1, t.hiddenSize, t.vocabSize), 1],
  ];
}

async function rates(gpu: Gpu, shapes: [Case, number][], o: RunOptions, log: (s: string) => void): Promise<ShapeRate[]> {
  const out: ShapeRate[] = [];
  for (const [c, count] of shapes) {
    log(`rate: ${c.label}`);
    const t = await timeCase(gpu, c, o);
    out.push({ label: c.label, shape: c.shape, count, ms: t.ms, gflops: c.flops! / t.ms / 1e6, gbps: c.bytes ? c.bytes / t.ms / 1e6 : undefined });
  }
  return out;
}

function medianRun(runs: E2eRun[]): E2eRun {
  const keys = Object.keys(runs[0]!) as (keyof E2eRun)[];
  return Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))])) as unknown as E2eRun;
}

export async function benchE2e(o: E2eOptions): Promise<E2eReport> {
  const log = o.log ?? (() => {});
  const dir = o.model ? await modelDirOrPreset(o.model, true) : await syntheticModelDir('pt-224', 0, true);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .map((f) => join(dir, f));
  const weightBytes = fileBytes(files);

  // Like with like: both reads cold when the page cache can be dropped, else both warm (read twice).
  log('raw read of the safetensors files');
  const cold = dropCaches();
  let raw = rawRead(files);
  if (cold) dropCaches();
  else raw = rawRead(files);
  const freshWriteGbps = freshWrite();

  const rssSampler = new RssSampler();
  const gpu = await o.gpu();
  const profiler = gpu.profiler;
  if (!profiler) throw new Error('bench e2e: the adapter has no timestamp-query feature');
  log(`loading ${dir}`);
  const t0 = performance.now();
  const loaded = await loadModel(dir, { gpu });
  const totalSeconds = (performance.now() - t0) / 1000;
  const loadSeconds = loaded.loadSeconds;
  const model = loaded.pipeline.model;
  const textIds = loaded.pipeline.tokenizer.encodePrompt(o.prompt);
  const pixels = randomF32(3 * model.config.vision.imageSize ** 2, 5);
  const prefillTokens = model.config.numImageTokens + textIds.length;

  // Timed runs without timestamp queries (they cost CPU and GPU time per dispatch, far more than
  // the work itself on a fast GPU); then one short profiled run for the per-kernel breakdown.
  const runs: E2eRun[] = [];
  gpu.profiling = false;
  for (let r = 0; r < o.runs; r++) {
    log(`run ${r + 1}/${o.runs}`);
    // No stop ids: random weights may well pick <eos>, and every run must decode the same count.
    const g = generate(model, [{ pixels, textIds }], { maxNewTokens: o.maxNewTokens, stopIds: [], threadCpuMs: mainThreadCpuMs });
    await g.run();
    const tm = g.timings;
    runs.push({
      ...tm,
      prefillTokens,
      prefillTokensPerSec: prefillTokens / (tm.prefillMs / 1000),
      decodeTokensPerSec: tm.decodeSteps / (tm.decodeMs / 1000),
      msPerToken: tm.decodeMs / tm.decodeSteps,
    });
  }
  log('profiled run');
  gpu.profiling = true;
  await profiler.collect();
  let prefillGpuMs = 0;
  let decodeStep: E2eReport['decodeStep'] = [];
  // Without run-ahead, between two tokens the GPU ran exactly one decode step and the next token's
  // choice, so each collect() holds one step.
  const g = generate(model, [{ pixels, textIds }], { maxNewTokens: 3, stopIds: [], runAhead: false });
  for await (const tok of g) {
    const t = await profiler.collect();
    if (tok.index === 0) prefillGpuMs = t.reduce((s, x) => s + x.ms, 0);
    else if (t.length) decodeStep = byLabel(t);
  }
  const peakBytes = rssSampler.stop();
  const hwm = vmHwm();

  // Rates last, so that their buffers do not count in the peak RSS above.
  const ro = runOptions();
  const prefillRates = await rates(gpu, prefillShapes(model.config, prefillTokens), ro, log);
  const decodeRates = await rates(gpu, decodeShapes(model.config), ro, log);
  const sum = (rs: ShapeRate[]) => rs.reduce((s, x) => s + x.count * x.ms, 0);
  const predicted = { prefillMs: sum(prefillRates), decodeMsPerToken: sum(decodeRates) };

  const med = medianRun(runs);
  const rawGbps = raw.bytes / raw.seconds / 1e9;
  const loadGbps = loaded.bytes / loadSeconds / 1e9;
  const rssPeak = Math.max(peakBytes, hwm ?? 0);
  const MiB = 2 ** 20;
  const targets = [
    target('prefill (vision + Gemma) ÷ GEMM-only prediction', (med.visionMs + med.prefillMs) / predicted.prefillMs, 1.3, `${(med.visionMs + med.prefillMs).toFixed(0)} ms / ${predicted.prefillMs.toFixed(0)} ms`, true),
    target('decode ms/token ÷ (weight bytes ÷ GEMV rate)', med.msPerToken / predicted.decodeMsPerToken, 1.3, `${med.msPerToken.toFixed(1)} ms / ${predicted.decodeMsPerToken.toFixed(1)} ms`, true),
    target(`load GB/s ÷ raw read GB/s (${cold ? 'cold' : 'warm'} cache)`, loadGbps / rawGbps, 0.7, `${loadGbps.toFixed(2)} / ${rawGbps.toFixed(2)} GB/s`),
    target('peak RSS − weights (MiB)', (rssPeak - weightBytes) / MiB, 512, `${(rssPeak / MiB).toFixed(0)} MiB peak, ${(weightBytes / MiB).toFixed(0)} MiB of weight files`, true),
  ];
  const report: E2eReport = {
    date: new Date().toISOString(),
    command: o.command,
    machine: machine(),
    adapter: describeAdapter(gpu),
    model: dir,
    cache: cold ? 'cold' : 'warm',
    raw: { ...raw, gbps: rawGbps },
    freshWriteGbps,
    load: { bytes: loaded.bytes, seconds: loadSeconds, gbps: loadGbps, totalSeconds },
    rss: { peakBytes, vmHwmBytes: hwm, weightBytes },
    runs,
    median: med,
    prefillGpuMs,
    decodeStep,
    prefillRates,
    decodeRates,
    predicted,
    targets,
  };
  loaded.pipeline.model.destroy();
  return report;
}

function byLabel(t: { label: string; ms: number }[]): E2eReport['decodeStep'] {
  const m = new Map<string, { ms: number; count: number }>();
  for (const x of t) {
    const e = m.get(x.label) ?? { ms: 0, count: 0 };
    e.ms += x.ms;
    e.count++;
    m.set(x.label, e);
  }
  return [...m].map(([label, e]) => ({ label, ...e })).sort((a, b) => b.ms - a.ms);
}
