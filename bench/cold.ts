// `bench cold`: what a first request compiles with empty shader caches. Two fresh child processes,
// each with its own empty Mesa / NVIDIA shader cache: one builds the request's pipelines one at a
// time and times each (the list, largest first), the other compiles them as `generate` does (all at
// once at load, beside the compile helpers, while the tokenizer parses). Each then runs the request
// and reports what it still compiled: nothing, when precompile's list is the request's.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeAdapter } from '../src/adapter.js';
import type { CompileStats, PipelineTime } from '../src/device.js';
import { generate, precompile } from '../src/graph/generate.js';
import { loadModel } from '../src/node/load-model.js';
import type { NodeGpuOptions } from '../src/node/gpu.js';
import { requestGpu } from '../src/node/gpu.js';
import { withoutLimitWarnings } from '../src/node/quiet-dawn.js';
import type { Quantization } from '../src/weights.js';
import { randomF32 } from './data.js';
import { machine, type Machine } from './machine.js';

export type ColdMode = 'each' | 'together';

export interface ColdOptions {
  model: string;
  images: number;
  maxNewTokens: number;
  prompt: string;
  gpu: NodeGpuOptions;
  /** Linear weights quantized at load (their kernels differ), as `generate --quantize`. */
  quantize?: Quantization;
  /** LoRA adapter folders (their epilogues are other pipelines), merged or not, as `generate --lora`. */
  lora?: string[];
  loraMerge?: boolean;
}

/** What one child measured. */
export interface ColdChild {
  mode: ColdMode;
  adapter: Record<string, unknown>;
  /** Every pipeline the process made (load's included), in order; compileMs where it was compiled alone. */
  pipelines: PipelineTime[];
  /** The request's compile: one at a time (each) or all at once beside the helpers (together; after the load). */
  compiled: CompileStats;
  /** together: what compiled while the weights streamed (loadModel's compiledAhead), and the load's seconds. */
  compiledAhead?: CompileStats;
  loadSeconds: number;
  helpers: number;
  /** The request after it: what it compiled itself (0 when the precompile covered it), and its times. */
  request: { compiledPipelines: number; compiledOnDispatch: number; visionMs: number; prefillMs: number; firstTokenMs: number };
}

export interface ColdReport {
  date: string;
  command: string;
  machine: Machine;
  adapter: Record<string, unknown>;
  model: string;
  images: number;
  quantize?: Quantization;
  lora?: string[];
  loraMerge?: boolean;
  each: ColdChild;
  together: ColdChild;
}

/** In a child process (the parent set its caches): load, compile the request's pipelines, run the request. */
export async function coldChild(mode: ColdMode, o: ColdOptions): Promise<ColdChild> {
  const gpu = await requestGpu(mode === 'each' ? { ...o.gpu, compileHelpers: 0 } : o.gpu);
  gpu.compileEach = mode === 'each';
  const images = [o.images];
  // Each: compiled after the load, so that no tokenizer parse holds the thread between two timings.
  const loaded = await loadModel(o.model, { gpu, quantize: o.quantize, lora: o.lora, loraMerge: o.loraMerge, precompile: mode === 'together' ? { images } : undefined });
  const model = loaded.pipeline.model;
  const compiled = mode === 'each' ? await precompile(model, images) : loaded.compiled!;
  const plane = 3 * model.config.vision.imageSize ** 2;
  const onDispatch = gpu.compiledOnDispatch;
  const g = generate(model, [{ pixels: randomF32(o.images * plane, 5), textIds: loaded.pipeline.tokenizer.encodePrompt(o.prompt) }], { maxNewTokens: o.maxNewTokens });
  await g.run();
  const t = g.timings;
  return {
    mode,
    adapter: describeAdapter(gpu),
    pipelines: gpu.pipelineTimes(),
    compiled,
    ...(loaded.compiledAhead ? { compiledAhead: loaded.compiledAhead } : {}),
    loadSeconds: loaded.loadSeconds,
    helpers: gpu.helpers.length,
    request: { compiledPipelines: t.compiledPipelines, compiledOnDispatch: gpu.compiledOnDispatch - onDispatch, visionMs: t.visionMs, prefillMs: t.prefillMs, firstTokenMs: t.firstTokenMs },
  };
}

/** Runs `args` (the CLI's `bench cold --child MODE …`) in a fresh process with empty shader caches; its JSON. */
function runChild(args: string[]): Promise<ColdChild> {
  const cache = mkdtempSync(join(tmpdir(), 'paligemma-cold-'));
  const env: NodeJS.ProcessEnv = { ...process.env, MESA_SHADER_CACHE_DIR: join(cache, 'mesa'), __GL_SHADER_DISK_CACHE_PATH: join(cache, 'nvidia') };
  // The helpers hand pipelines over through the cache: it must be on.
  delete env.MESA_SHADER_CACHE_DISABLE;
  return new Promise<ColdChild>((resolve, reject) => {
    const child = spawn(process.execPath, [process.argv[1]!, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      rmSync(cache, { recursive: true, force: true });
      err = withoutLimitWarnings(err).trim();
      if (code !== 0) return reject(new Error(`bench cold: the ${args.join(' ')} process failed (exit ${code}):\n${err}`));
      try {
        resolve(JSON.parse(out) as ColdChild);
      } catch {
        reject(new Error(`bench cold: the ${args.join(' ')} process printed no report:\n${out.slice(0, 500)}\n${err}`));
      }
    });
  });
}

export async function benchCold(o: ColdOptions & { command: string; log: (s: string) => void }): Promise<ColdReport> {
  const args = (mode: ColdMode) => [
    'bench', 'cold', '--child', mode, '--model', o.model, '--images', String(o.images), '--max-new-tokens', String(o.maxNewTokens), '--prompt', o.prompt,
    ...(o.gpu.adapter ? ['--device', o.gpu.adapter] : []), ...(o.gpu.backend ? ['--backend', o.gpu.backend] : []),
    ...(o.quantize ? ['--quantize', o.quantize] : []), ...(o.lora ?? []).flatMap((d) => ['--lora', d]), ...(o.loraMerge ? ['--lora-merge'] : []),
  ];
  o.log('pipelines one at a time (a fresh process, empty shader caches)');
  const each = await runChild(args('each'));
  o.log('all at once, as generate compiles them (another fresh process)');
  const together = await runChild(args('together'));
  const { model, images, quantize, lora, loraMerge } = o;
  return { date: new Date().toISOString(), command: o.command, machine: machine(), adapter: each.adapter, model, images, quantize, lora, loraMerge, each, together };
}
