// `paligemma bench kernels|e2e|load`: the benchmark harness (bench/). Every report starts with the
// adapter, its features and limits; --json prints one object for other tools instead.

import { readFileSync, writeFileSync } from 'node:fs';
import { benchE2eFormats } from '../../bench/e2e.js';
import { comparisonText, e2eText } from '../../bench/e2e-report.js';
import { benchCold, coldChild, type ColdMode } from '../../bench/cold.js';
import { coldText } from '../../bench/cold-report.js';
import { benchLoad } from '../../bench/load.js';
import { loadText } from '../../bench/load-report.js';
import { benchKernels, type KernelsReport, type PeerName } from '../../bench/kernels.js';
import { kernelsText } from '../../bench/report.js';
import { chartHtml, chartSvg } from '../../bench/chart.js';
import { compareText } from '../../bench/compare.js';
import { nodeHost } from '../../bench/host-node.js';
import { checkKernelsReport } from '../../bench/schema.js';
import { benchKernelsInBrowser } from '../node/bench-browser.js';
import { demoModelDir } from '../node/demo-model.js';
import { requestGpu, type NodeGpuOptions } from '../node/gpu.js';
import { QUANTIZATIONS, type Quantization, type LoadFormat } from '../weights.js';
import { checkLoraMerge, given, int, parse, parseIds, quantization, UsageError } from './args.js';

export const summary = 'benchmark the kernels (vs ceilings and peers), the whole model, or concurrent requests on it';

const USAGE = `usage:
  paligemma bench kernels [--json] [--chart FILE.html|FILE.svg] [--device NAME] [--backend NAME] [--peers tfjs,ort|none] [--quick] [--runs N] [--skip KERNEL,…] [--quantize int8,int4] [--browser]
  paligemma bench compare REPORT.json REPORT.json …
  paligemma bench e2e [--model DIR] [--runs N] [--max-new-tokens N] [--prompt TEXT] [--images N] [--json] [--device NAME] [--backend NAME] [--quantize bf16,int8,int4] [--lora DIR|random:R ... [--lora-merge]]
  paligemma bench cold [--model DIR] [--images N] [--max-new-tokens N] [--prompt TEXT] [--json] [--device NAME] [--backend NAME] [--quantize int8|int4] [--lora DIR ... [--lora-merge]]
  paligemma bench load [--model DIR] [--concurrency C,…] [--requests R] [--rounds N] [--max-batch N] [--max-new-tokens N] [--prompt TEXT | --ids 2,…] [--json] [--device NAME] [--backend NAME]

kernels: every kernel on PaliGemma-3B's shapes (--quick: tiny shapes), GPU time from timestamp queries,
  the machine's ceilings (onnxruntime MLAS GEMM, WGSL streaming read, memcpy) and the peers, same run.
  --browser: the same suite through the bench page (dist/bench-page) in headless Chromium (/usr/bin/chromium
  or $CHROMIUM) on its WebGPU adapter; tfjs is the only peer there and there is no BLAS ceiling.
compare: kernels --json reports side by side: per kernel each machine's share of its own ceiling (two: the ms ratio).
e2e: load, RSS, vision, prefill, first token, decode (median of --runs, default 3) on --model DIR
  (default: the 3B-shaped synthetic checkpoint pt-224, made once into the cache: 5.9 GB, minutes).
  On lavapipe vision + prefill take about a minute and decode ≈ 0.75–1 s/token: keep --runs and --max-new-tokens small.
  --images N: N images in the prompt (one SigLIP batch), and one image alone as often, for the vision scaling.
cold: every pipeline a first request builds, with empty shader caches (Mesa's, NVIDIA's) in fresh processes:
  each compiled alone and timed, largest first (default model: the tiny demo model of README command 1), then
  all at once as generate compiles them at load (beside the compile helpers); each process then runs the
  request and says what it still compiled (0: precompile covered it). --quantize (one format) and --lora
  folders as generate takes them: their kernels are other pipelines.
load: for each concurrency C (default 1,4,16), C clients send R requests in all (default 16), each the next when
  its last ended, through one Pipeline (batches of at most --max-batch, default the largest C): tokens/s, decode
  tokens/s of the batches, p50/p95 time to first token (from the call) and per token. Same model default as e2e.
  --rounds N: the whole list N times in turn (1, 4, 1, 4, …), so that a CPU adapter's drift falls on every level.
--quantize: kernels: each matmul case on a quantized weight again in each format, after its bf16 case;
  e2e: each weight format in turn (bf16 = as in the checkpoint), side by side with bf16 when it is listed,
  with the weights' error per family and 32 greedy steps' logits against bf16.
--lora (e2e): after the rest, the same generation with these LoRA adapters and without, alternately (random:R: rank R
  on every Gemma Linear): the ratios to the base, the adapters' read and setAdapters' time; --lora-merge: also
  merged into f32 copies of their weights (and the time to merge).
--device: Dawn's adapter name filter (adapter=…), e.g. llvmpipe or NVIDIA; --backend: vulkan, metal, d3d12.`;

const OPTIONS = {
  json: { type: 'boolean' },
  chart: { type: 'string' },
  device: { type: 'string' },
  backend: { type: 'string' },
  peers: { type: 'string' },
  quick: { type: 'boolean' },
  skip: { type: 'string' },
  runs: { type: 'string' },
  model: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  prompt: { type: 'string' },
  concurrency: { type: 'string' },
  requests: { type: 'string' },
  'max-batch': { type: 'string' },
  rounds: { type: 'string' },
  ids: { type: 'string' },
  quantize: { type: 'string' },
  images: { type: 'string' },
  lora: { type: 'string', multiple: true },
  'lora-merge': { type: 'boolean' },
  browser: { type: 'boolean' },
  child: { type: 'string' },
} as const;

/** --quantize's comma list; `bf16` only where the checkpoint's own format can be named (e2e). */
function formats(value: string | undefined, bf16: boolean): LoadFormat[] | undefined {
  if (value === undefined) return undefined;
  const allowed: string[] = bf16 ? ['bf16', ...QUANTIZATIONS] : [...QUANTIZATIONS];
  const list = value.split(',').map((f) => f.trim());
  const bad = list.find((f) => !allowed.includes(f));
  if (bad !== undefined || list.length === 0) throw new UsageError(`--quantize takes a comma list of ${allowed.join(', ')}, got '${value}'`);
  return list as LoadFormat[];
}

/** The Dawn flags requestGpu uses for these options (tfjs must share the instance and adapter). */
function dawnFlags(g: NodeGpuOptions): string[] {
  const flags = ['disable-dawn-features=timestamp_quantization'];
  if (g.adapter) flags.push(`adapter=${g.adapter}`);
  if (g.backend) flags.push(`backend=${g.backend}`);
  return flags;
}

export async function run(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === '--help' || what === '-h') {
    console.log(USAGE);
    return 0;
  }
  if (what === 'compare') return compare(rest);
  if (what !== 'kernels' && what !== 'e2e' && what !== 'load' && what !== 'cold') throw new UsageError(`bench: expected 'kernels', 'e2e', 'cold', 'load' or 'compare', got '${what ?? ''}'\n\n${USAGE}`);
  const { values: v } = parse(rest, OPTIONS, USAGE);
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const g: NodeGpuOptions = { adapter: v.device, backend: v.backend, profile: true };
  const command = `paligemma bench ${argv.join(' ')}`;
  // Progress goes to stderr so that --json output stays one clean object.
  const log = (s: string) => process.stderr.write(`… ${s}\n`);

  if (what === 'kernels') {
    const peers = (v.peers ?? 'tfjs,ort').split(',').filter((p) => p && p !== 'none');
    for (const p of peers) if (p !== 'tfjs' && p !== 'ort') throw new UsageError(`--peers: unknown peer '${p}' (tfjs, ort, none)`);
    const quantize = formats(v.quantize, false) as Quantization[] | undefined;
    const common = { quick: !!v.quick, runs: int(v.runs, 'runs', 3, 1), skip: v.skip?.split(','), quantize, log };
    let report: KernelsReport;
    if (v.browser) {
      if (peers.includes('ort')) throw new UsageError('--browser: onnxruntime-node does not run in a page; use --peers tfjs or none');
      if (v.device || v.backend) throw new UsageError('--browser: the page uses the browser\'s adapter; --device and --backend are for Dawn in Node');
      report = { ...(await benchKernelsInBrowser({ ...common, peers })), command };
    } else {
      report = await benchKernels(await requestGpu(g), { ...common, peers: peers as PeerName[], host: nodeHost(dawnFlags(g)), command });
    }
    // The same schema the bench page checks its JSON against.
    checkKernelsReport(JSON.parse(JSON.stringify(report)), 'bench kernels');
    if (v.chart) {
      writeFileSync(v.chart, v.chart.endsWith('.svg') ? chartSvg(report) : chartHtml(report));
      log(`chart written to ${v.chart}`);
    }
    console.log(v.json ? JSON.stringify(report, null, 2) : kernelsText(report));
    return 0;
  }
  if (what === 'cold') {
    const random = v.lora?.find((d) => d.startsWith('random:'));
    if (random) throw new UsageError(`bench cold: --lora takes adapter folders (random adapters are e2e's), got '${random}'`);
    checkLoraMerge(v['lora-merge'], v.lora);
    const o = {
      model: v.model ?? (await demoModelDir(!v.json && !v.child)),
      images: int(v.images, 'images', 1, 1),
      maxNewTokens: int(v['max-new-tokens'], 'max-new-tokens', 4, 2),
      prompt: v.prompt ?? 'caption en',
      gpu: { adapter: v.device, backend: v.backend },
      quantize: quantization(v.quantize),
      lora: v.lora,
      loraMerge: v['lora-merge'],
    };
    // The parent runs itself twice with --child, each in a fresh process with empty shader caches.
    if (v.child !== undefined) {
      if (v.child !== 'each' && v.child !== 'together') throw new UsageError(`--child takes each or together, got '${v.child}'`);
      console.log(JSON.stringify(await coldChild(v.child as ColdMode, o)));
      return 0;
    }
    const report = await benchCold({ ...o, command, log });
    console.log(v.json ? JSON.stringify(report, null, 2) : coldText(report));
    return 0;
  }
  if (what === 'load') {
    const report = await benchLoad({
      model: v.model,
      concurrency: (v.concurrency ?? '1,4,16').split(',').map((c) => int(c.trim(), 'concurrency', 1, 1)),
      requests: int(v.requests, 'requests', 16, 1),
      rounds: int(v.rounds, 'rounds', 1, 1),
      maxBatch: v['max-batch'] === undefined ? undefined : int(v['max-batch'], 'max-batch', 1, 1),
      maxNewTokens: int(v['max-new-tokens'], 'max-new-tokens', 8, 2),
      prompt: v.prompt ?? 'caption en',
      ids: given(v.ids, parseIds),
      gpu: () => requestGpu({ ...g, profile: false }),
      command,
      log,
    });
    console.log(v.json ? JSON.stringify(report, null, 2) : loadText(report));
    return 0;
  }
  const report = await benchE2eFormats({
    model: v.model,
    runs: int(v.runs, 'runs', 3, 1),
    maxNewTokens: int(v['max-new-tokens'], 'max-new-tokens', 8, 3),
    prompt: v.prompt ?? 'caption en',
    gpu: () => requestGpu(g),
    command,
    log,
    formats: formats(v.quantize, true),
    images: int(v.images, 'images', 1, 1),
    lora: v.lora,
    loraMerge: v['lora-merge'],
  });
  // One format: its report as before; several: each, side by side.
  const one = report.reports.length === 1 ? report.reports[0]! : undefined;
  console.log(v.json ? JSON.stringify(one ?? report, null, 2) : one ? e2eText(one) : comparisonText(report));
  return 0;
}

/** `bench compare A.json B.json …`: each file checked against the report schema, then side by side. */
function compare(files: string[]): number {
  if (files.length === 0 || files.includes('--help') || files.includes('-h')) {
    console.log(USAGE);
    return files.length ? 0 : 2;
  }
  const named = files.map((f) => {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(f, 'utf8'));
    } catch (e) {
      throw new UsageError(`${f}: ${(e as Error).message}`);
    }
    checkKernelsReport(json, f);
    return { name: f, report: json as KernelsReport };
  });
  console.log(compareText(named));
  return 0;
}
