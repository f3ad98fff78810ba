// `paligemma bench e2e`: load (vs a raw read of the same files), peak RSS, vision, prefill, time to
// first token and decode over several runs (median + raw runs), one decode step broken down by
// kernel, and the GEMM/GEMV rates of the model's own shapes measured in the same run, which give
// the prefill and decode times the kernels alone predict. With several weight formats (--quantize
// bf16,int8,int4) each format gets all of that in turn, in one process, and a comparison: the ratios
// to bf16, the weights' relative RMS error per family and the logits over greedy steps.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeAdapter } from '../src/adapter.js';
import type { Gpu } from '../src/device.js';
import { generate, type GenerationTimings } from '../src/graph/generate.js';
import { mainThreadCpuMs } from '../src/node/thread-cpu.js';
import type { PaliGemmaConfig } from '../src/loader/config.js';
import type { PaliGemma } from '../src/graph/paligemma.js';
import { modelDirOrPreset, syntheticModelDir } from '../src/node/demo-model.js';
import { loadModel } from '../src/node/load-model.js';
import { destroyWeights, residentBytes } from '../src/loader/checkpoint.js';
import type { Quantization, LoadFormat } from '../src/weights.js';
import { geglu, matmul, type Case } from './cases.js';
import { benchLora, type LoraBench } from './lora.js';
import { randomF32 } from './data.js';
import { dropCaches, fileBytes, freshWrite, rawRead, resetHwm, RssSampler, vmHwm } from './e2e-io.js';
import { compareLogits, forcedLogits, weightErrors, type LogitAgreement, type WeightError } from './quant-accuracy.js';
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
  /** Weight formats to run in turn (default bf16 alone); bf16 first when it is among them. */
  formats?: LoadFormat[];
  /** Greedy steps of the logits comparison with several formats (default 32). */
  accuracySteps?: number;
  /** Images in the prompt (default 1); with more, one image's vision time is measured too. */
  images?: number;
  /** LoRA adapters (folders, or random:R for rank R on every Gemma Linear) run against the base after the rest (lora.ts). */
  lora?: string[];
  /** With lora: also the adapters merged into f32 copies of their weights (--lora-merge). */
  loraMerge?: boolean;
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
  /** The Linear weights' format (bf16 as in the checkpoint, or quantized at load). */
  format: LoadFormat;
  /** Images in the prompt (SigLIP encodes them as one batch). */
  images: number;
  /** With several images: the median vision time of one image alone (as many runs). */
  visionOneImageMs?: number;
  /** GPU bytes the weights hold (buffers and textures). */
  residentBytes: number;
  cache: 'cold' | 'warm';
  raw: { bytes: number; seconds: number; gbps: number };
  /** One thread's first writes into fresh memory, GB/s (e2e-io.ts freshWrite). */
  freshWriteGbps: number;
  /** The checkpoint's load (plan, allocation, streaming to the GPU); loadModel adds the tokenizer in `totalSeconds`. */
  load: { bytes: number; seconds: number; gbps: number; totalSeconds: number };
  /** startBytes: the resident set before the load (what earlier formats left). */
  rss: { peakBytes: number; vmHwmBytes?: number; weightBytes: number; startBytes?: number };
  runs: E2eRun[];
  median: E2eRun;
  /** GPU time of vision + prefill from timestamp queries (profiled run). */
  prefillGpuMs: number;
  /** One decode step (decode + token choice), GPU time by kernel label (profiled run). */
  decodeStep: { label: string; ms: number; count: number }[];
  prefillRates: ShapeRate[];
  decodeRates: ShapeRate[];
  predicted: { prefillMs: number; decodeMsPerToken: number };
  /** With --lora: the same runs with and without the adapters, alternately. */
  lora?: LoraBench;
  targets: Target[];
}

/**
 * The GEMMs of `images` images through SigLIP + projector (one batch: images × patches rows) and of a
 * Gemma prefill over T rows, with counts, in format f (the patch embedding stays bf16).
 */
function prefillShapes(c: PaliGemmaConfig, T: number, f: LoadFormat, images: number): [Case, number][] {
  const v = c.vision;
  const t = c.text;
  const V = images * v.numPatches;
  const q = t.numHeads * t.headDim;
  const kv = t.numKvHeads * t.headDim;
  return [
    [matmul('patch embedding', V, 3 * v.patchSize ** 2, v.hiddenSize), 1],
    [matmul('siglip q/k/v/o', V, v.hiddenSize, v.hiddenSize, f), 4 * v.numLayers],
    [matmul('siglip fc1', V, v.hiddenSize, v.intermediateSize, f), v.numLayers],
    [matmul('siglip fc2', V, v.intermediateSize, v.hiddenSize, f), v.numLayers],
    [matmul('projector', V, v.hiddenSize, c.projectionDim, f), 1],
    [matmul('gemma q', T, t.hiddenSize, q, f), t.numLayers],
    [matmul('gemma k/v', T, t.hiddenSize, kv, f), 2 * t.numLayers],
    [matmul('gemma o', T, q, t.hiddenSize, f), t.numLayers],
    [geglu('gemma gate+up', T, t.hiddenSize, t.intermediateSize, f), t.numLayers],
    [matmul('gemma down', T, t.intermediateSize, t.hiddenSize, f), t.numLayers],
    [matmul('LM head (last row)', 1, t.hiddenSize, t.vocabSize, f), 1],
  ];
}

function decodeShapes(c: PaliGemmaConfig, f: LoadFormat): [Case, number][] {
  const t = c.text;
  const q = t.numHeads * t.headDim;
  const kv = t.numKvHeads * t.headDim;
  return [
    [matmul('gemma q', 1, t.hiddenSize, q, f), t.numLayers],
    [matmul('gemma k/v', 1, t.hiddenSize, kv, f), 2 * t.numLayers],
    [matmul('gemma o', 1, q, t.hiddenSize, f), t.numLayers],
    [geglu('gemma gate+up', 1, t.hiddenSize, t.intermediateSize, f), t.numLayers],
    [matmul('gemma down', 1, t.intermediateSize, t.hiddenSize, f), t.numLayers],
    [matmul('LM head', 1, t.hiddenSize, t.vocabSize, f), 1],
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

export interface E2eComparison {
  date: string;
  command: string;
  model: string;
  reports: E2eReport[];
  weightErrors: WeightError[];
  /** Each quantized format's logits against bf16's, teacher-forced on bf16's greedy tokens. */
  logits: ({ format: Quantization } & LogitAgreement)[];
  targets: Target[];
}

/** Every format of `o.formats` in turn, then the comparison of each quantized format with bf16. */
export async function benchE2eFormats(o: E2eOptions): Promise<E2eComparison> {
  const log = o.log ?? (() => {});
  const dir = o.model ? await modelDirOrPreset(o.model, true) : await syntheticModelDir('pt-224', 0, true);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .map((f) => join(dir, f));
  const weightBytes = fileBytes(files);
  const formats = [...new Set<LoadFormat>(o.formats ?? ['bf16'])].sort((a, b) => (a === 'bf16' ? -1 : b === 'bf16' ? 1 : 0));
  const quantized = formats.filter((f): f is Quantization => f !== 'bf16');
  const compare = formats[0] === 'bf16' && quantized.length > 0;

  // Like with like: both reads cold when the page cache can be dropped, else both warm (read twice).
  log('raw read of the safetensors files');
  const cold = dropCaches();
  let raw = rawRead(files);
  if (cold) dropCaches();
  else raw = rawRead(files);
  const freshWriteGbps = freshWrite();

  const gpu = await o.gpu();
  const reports: E2eReport[] = [];
  const logits: E2eComparison['logits'] = [];
  let reference: { ids: number[]; logits: Float32Array } | undefined;
  for (const format of formats) {
    if (cold) dropCaches();
    const r = await benchFormat(o, gpu, dir, format, { raw, cold, freshWriteGbps, weightBytes }, async (model, pixels, textIds) => {
      if (!compare) return;
      const steps = o.accuracySteps ?? 32;
      if (format === 'bf16') {
        log(`accuracy: ${steps} greedy steps in bf16`);
        const [ids] = await generate(model, [{ pixels, textIds }], { maxNewTokens: steps, stopIds: [] }).run();
        reference = { ids: ids!, logits: await forcedLogits(model, pixels, textIds, ids!) };
      } else {
        log(`accuracy: ${format} logits on bf16's tokens`);
        logits.push({ format: format as Quantization, ...compareLogits(await forcedLogits(model, pixels, textIds, reference!.ids), reference!.logits, model.config.text.vocabSize) });
      }
    });
    reports.push(r);
  }
  const errs = compare ? (log('accuracy: weight errors per family'), await weightErrors(dir, quantized)) : [];
  return { date: new Date().toISOString(), command: o.command, model: dir, reports, weightErrors: errs, logits, targets: compare ? comparisonTargets(reports) : [] };
}

/** The quantization issue's goals: each format against the bf16 run of the same process. */
function comparisonTargets(reports: E2eReport[]): Target[] {
  const bf = reports.find((r) => r.format === 'bf16')!;
  const out: Target[] = [];
  const GOALS: Record<Quantization, { decode: number; resident: number }> = { int8: { decode: 0.6, resident: 0.55 }, int4: { decode: 0.4, resident: 0.32 } };
  const MiB = 2 ** 20;
  for (const r of reports) {
    if (r.format === 'bf16') continue;
    const g = GOALS[r.format];
    const ratio = (what: string, a: number, b: number, goal: number, unit: string) =>
      out.push(target(`${r.format}: ${what} ÷ bf16`, a / b, goal, `${a.toFixed(unit === 'ms' ? 1 : 2)} / ${b.toFixed(unit === 'ms' ? 1 : 2)} ${unit}`, true));
    ratio('decode ms/token', r.median.msPerToken, bf.median.msPerToken, g.decode, 'ms');
    ratio('prefill (vision + Gemma) ms', r.median.visionMs + r.median.prefillMs, bf.median.visionMs + bf.median.prefillMs, 1.0, 'ms');
    ratio('load incl. quantization s', r.load.seconds, bf.load.seconds, 1.5, 's');
    ratio('resident weight bytes', r.residentBytes / MiB, bf.residentBytes / MiB, g.resident, 'MiB');
    const peak = Math.max(r.rss.peakBytes, r.rss.vmHwmBytes ?? 0);
    out.push(target(`${r.format}: peak RSS − bf16 weights (MiB)`, (peak - r.rss.weightBytes) / MiB, 512, `${(peak / MiB).toFixed(0)} MiB peak, ${(r.rss.weightBytes / MiB).toFixed(0)} MiB of weight files`, true));
  }
  return out;
}

interface Shared {
  raw: { bytes: number; seconds: number };
  cold: boolean;
  freshWriteGbps: number;
  weightBytes: number;
}

/** Load, timed runs, a profiled run and the kernels' rates for one weight format; `extra` runs on the loaded model before it goes. */
async function benchFormat(
  o: E2eOptions,
  gpu: Gpu,
  dir: string,
  format: LoadFormat,
  shared: Shared,
  extra: (model: PaliGemma, pixels: Float32Array, textIds: number[]) => Promise<void>,
): Promise<E2eReport> {
  const log = (s: string) => o.log?.(`${format}: ${s}`);
  const { raw, cold, freshWriteGbps, weightBytes } = shared;
  // The previous format's memory leaves once Dawn has seen the submission destroyWeights made complete.
  await gpu.finish();
  const startBytes = process.memoryUsage().rss;
  log(`resident set before loading: ${(startBytes / 2 ** 20).toFixed(0)} MiB`);
  resetHwm();
  const rssSampler = new RssSampler();
  const profiler = gpu.profiler;
  if (!profiler) throw new Error('bench e2e: the adapter has no timestamp-query feature');
  log(`loading ${dir}`);
  const t0 = performance.now();
  const loaded = await loadModel(dir, { gpu, quantize: format === 'bf16' ? undefined : format });
  const totalSeconds = (performance.now() - t0) / 1000;
  const loadSeconds = loaded.loadSeconds;
  const model = loaded.pipeline.model;
  const textIds = loaded.pipeline.tokenizer.encodePrompt(o.prompt);
  const images = o.images ?? 1;
  const plane = 3 * model.config.vision.imageSize ** 2;
  const pixels = randomF32(images * plane, 5);
  const prefillTokens = images * model.config.numImageTokens + textIds.length;

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
  // One image alone, as many times, for the vision batch's scaling (the first token is enough).
  const oneImage: number[] = [];
  for (let r = 0; images > 1 && r < o.runs; r++) {
    log(`one image ${r + 1}/${o.runs}`);
    const g = generate(model, [{ pixels: pixels.subarray(0, plane), textIds }], { maxNewTokens: 1, stopIds: [] });
    await g.run();
    oneImage.push(g.timings.visionMs);
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
  const prefillRates = await rates(gpu, prefillShapes(model.config, prefillTokens, format, images), ro, log);
  const decodeRates = await rates(gpu, decodeShapes(model.config, format), ro, log);
  await extra(model, pixels, textIds);
  const lora = o.lora?.length ? await benchLora(model, o.lora, { pixels, textIds, runs: o.runs, maxNewTokens: o.maxNewTokens, merge: o.loraMerge, log }) : undefined;
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
  // Warm: runs that compiled nothing. The rest of the first token is host work (setup, the first
  // choice's encoding and readback) that a fast GPU shows and a slow one hides.
  const warm = runs.filter((r) => r.compiledPipelines === 0);
  if (warm.length) {
    const w = medianRun(warm);
    const parts = `median of ${warm.length} warm runs: ${w.firstTokenMs.toFixed(1)} ms = setup ${w.setupMs.toFixed(1)} + vision ${w.visionMs.toFixed(1)} + prefill ${w.prefillMs.toFixed(1)} + first choice ${w.firstChoiceMs.toFixed(1)}`;
    targets.push(target('warm first token ÷ (vision + prefill)', median(warm.map((r) => r.firstTokenMs / (r.visionMs + r.prefillMs))), 1.1, parts, true));
  }
  const visionOneImageMs = oneImage.length ? median(oneImage) : undefined;
  if (visionOneImageMs !== undefined) {
    // One batch for all images: no worse than images separate passes, give or take 5 %.
    targets.push(target(`vision of ${images} images ÷ one image's`, med.visionMs / visionOneImageMs, 1.05 * images, `${med.visionMs.toFixed(0)} ms / ${visionOneImageMs.toFixed(0)} ms`, true));
  }
  const report: E2eReport = {
    date: new Date().toISOString(),
    command: o.command,
    machine: machine(),
    adapter: describeAdapter(gpu),
    model: dir,
    format,
    images,
    visionOneImageMs,
    residentBytes: residentBytes(model.checkpoint.weights),
    cache: cold ? 'cold' : 'warm',
    raw: { ...raw, gbps: rawGbps },
    freshWriteGbps,
    load: { bytes: loaded.bytes, seconds: loadSeconds, gbps: loadGbps, totalSeconds },
    rss: { peakBytes, vmHwmBytes: hwm, weightBytes, startBytes },
    runs,
    median: med,
    prefillGpuMs,
    decodeStep,
    prefillRates,
    decodeRates,
    predicted,
    lora,
    targets: [...targets, ...(lora?.targets ?? [])],
  };
  // The weights too: the next format's peak RSS must not hold this one's (GPU memory is the host's on lavapipe).
  loaded.pipeline.model.destroy();
  destroyWeights(model.checkpoint.weights, gpu.device);
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
