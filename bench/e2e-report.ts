// The e2e report on the terminal.

import type { E2eComparison, E2eReport, ShapeRate } from './e2e.js';
import { adapterText, targetsText } from './report.js';
import { fmt, table } from './stats.js';

const GB = 1e9;
const MiB = 2 ** 20;

function ratesTable(rs: ShapeRate[]): string {
  return table(
    ['shape', 'M K N', 'count', 'ms', 'GFLOP/s', 'GB/s', 'total ms'],
    rs.map((r) => [r.label, `${r.shape.M} ${r.shape.K} ${r.shape.N}`, String(r.count), fmt(r.ms), fmt(r.gflops), fmt(r.gbps), fmt(r.count * r.ms)]),
  );
}

export function e2eText(r: E2eReport): string {
  const m = r.machine;
  const keys = ['compileMs', 'setupMs', 'visionMs', 'prefillMs', 'prefillTokensPerSec', 'firstChoiceMs', 'firstTokenMs', 'decodeTokensPerSec', 'msPerToken', 'decodeSteps', 'cpuMsPerDecodeStep', 'encodeMsPerDecodeStep'] as const;
  return [
    `${r.date}  ${m.cpu} (${m.cores} cores, ${m.memGiB} GiB), load ${m.load.join(' ')}`,
    adapterText(r.adapter),
    `model: ${r.model}, weights ${r.format}: ${(r.residentBytes / MiB).toFixed(0)} MiB resident on the GPU`,
    '',
    `raw read (${r.cache} cache): ${(r.raw.bytes / GB).toFixed(2)} GB in ${r.raw.seconds.toFixed(2)} s = ${fmt(r.raw.gbps)} GB/s`,
    `load (${r.cache} cache, the checkpoint into GPU buffers): ${(r.load.bytes / GB).toFixed(2)} GB in ${r.load.seconds.toFixed(2)} s = ${fmt(r.load.gbps)} GB/s; loadModel with the tokenizer ${r.load.totalSeconds?.toFixed(2) ?? '–'} s`,
    `first writes into fresh memory (one thread): ${fmt(r.freshWriteGbps)} GB/s → ${(r.load.bytes / GB / r.freshWriteGbps).toFixed(1)} s for the weights (a floor under the load where the GPU's memory is the host's)`,
    `peak RSS: ${(r.rss.peakBytes / MiB).toFixed(0)} MiB sampled, VmHWM ${r.rss.vmHwmBytes ? (r.rss.vmHwmBytes / MiB).toFixed(0) : '–'} MiB; weight files ${(r.rss.weightBytes / MiB).toFixed(0)} MiB${r.rss.startBytes ? `; ${(r.rss.startBytes / MiB).toFixed(0)} MiB before the load` : ''}`,
    '',
    `generation (prompt ${r.median.prefillTokens} tokens incl. ${r.images ?? 1} image${(r.images ?? 1) === 1 ? '' : 's'}, ${r.median.decodeSteps} decode steps), median of ${r.runs.length} runs, raw runs after the median:`,
    table(
      ['', 'median', 'runs'],
      keys.map((k) => [k, fmt(r.median[k]), r.runs.map((x) => fmt(x[k])).join(' ')]),
    ),
    ...(r.visionOneImageMs === undefined ? [] : [`vision of one image alone: ${fmt(r.visionOneImageMs)} ms (median); ${r.images} images as one SigLIP batch: ${fmt(r.median.visionMs)} ms`]),
    '',
    `profiled run (a pass and two timestamps per dispatch): vision + prefill ${fmt(r.prefillGpuMs)} ms of GPU time; one decode step by kernel:`,
    table(
      ['kernel', 'ms', 'dispatches'],
      r.decodeStep.map((d) => [d.label, fmt(d.ms), String(d.count)]),
    ),
    `  total ${fmt(r.decodeStep.reduce((s, d) => s + d.ms, 0))} ms`,
    '',
    `prefill GEMMs at the rates measured in this run → ${fmt(r.predicted.prefillMs)} ms:`,
    ratesTable(r.prefillRates),
    '',
    `decode GEMVs at the rates measured in this run → ${fmt(r.predicted.decodeMsPerToken)} ms/token:`,
    ratesTable(r.decodeRates),
    '',
    ...(r.lora ? [loraText(r.lora), ''] : []),
    targetsText(r.targets),
  ].join('\n');
}

/** Prefill (vision + Gemma) and decode ms/token of a LoRA run ÷ the base's. */
function ratios(x: { visionMs: number; prefillMs: number; msPerToken: number }, base: typeof x): string {
  return `${((x.visionMs + x.prefillMs) / (base.visionMs + base.prefillMs)).toFixed(3)}×, ${(x.msPerToken / base.msPerToken).toFixed(3)}×`;
}

function loraText(l: NonNullable<E2eReport['lora']>): string {
  const row = (name: string, x: typeof l.base) => [name, fmt(x.visionMs), fmt(x.prefillMs), fmt(x.msPerToken)];
  return [
    `LoRA ${l.adapters.join(' + ')} (Σ rank ${l.ranks} per Gemma layer): read + upload ${fmt(l.loadMs)} ms, setAdapters ${fmt(l.switchMs)} ms (median)${l.merged ? `, merging ${fmt(l.merged.switchMs)} ms` : ''}; base and adapters alternately, medians:`,
    table(['', 'vision ms', 'prefill ms', 'decode ms/token', '÷ base (prefill, decode)'], [
      [...row('base', l.base), ''],
      [...row('lora', l.lora), ratios(l.lora, l.base)],
      ...(l.merged ? [[...row('lora merged', l.merged), ratios(l.merged, l.base)]] : []),
    ]),
  ].join('\n');
}

/** Several formats side by side: each one's report, then the comparison with bf16. */
export function comparisonText(c: E2eComparison): string {
  const bf = c.reports.find((r) => r.format === 'bf16');
  const keys = [
    ['load s', (r: E2eReport) => r.load.seconds],
    ['peak RSS MiB', (r: E2eReport) => Math.max(r.rss.peakBytes, r.rss.vmHwmBytes ?? 0) / MiB],
    ['resident weights MiB', (r: E2eReport) => r.residentBytes / MiB],
    ['vision ms', (r: E2eReport) => r.median.visionMs],
    ['prefill ms', (r: E2eReport) => r.median.prefillMs],
    ['first token ms', (r: E2eReport) => r.median.firstTokenMs],
    ['decode ms/token', (r: E2eReport) => r.median.msPerToken],
    ['decode step GPU ms (profiled)', (r: E2eReport) => r.decodeStep.reduce((s, d) => s + d.ms, 0)],
  ] as const;
  const cell = (r: E2eReport, f: (r: E2eReport) => number) => (bf && r !== bf ? `${fmt(f(r))} (×${(f(r) / f(bf)).toFixed(2)})` : fmt(f(r)));
  return [
    ...c.reports.map((r) => e2eText(r) + '\n'),
    `side by side (medians; × the bf16 value):`,
    table(['', ...c.reports.map((r) => r.format)], keys.map(([k, f]) => [k, ...c.reports.map((r) => cell(r, f))])),
    '',
    'relative RMS weight error per family (first and last layer; random weights: says nothing of a real checkpoint):',
    table(['family', 'format', 'tensors', 'elements', 'rel. RMS'], c.weightErrors.map((e) => [e.family, e.format, String(e.tensors), String(e.elements), e.relRms.toExponential(2)])),
    '',
    `logits teacher-forced on bf16's ${c.logits[0]?.steps ?? 0} greedy tokens (random weights: top-1 agreement says little of a real model):`,
    table(['format', 'max |Δlogit| / max |bf16 logit|', 'top-1 agreement'], c.logits.map((l) => [l.format, l.maxRelDiff.toExponential(2), `${l.top1Agree}/${l.steps}`])),
    '',
    targetsText(c.targets),
  ].join('\n');
}
