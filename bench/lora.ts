// `bench e2e --lora DIR|random:R [--lora-merge]`: the same generation with LoRA adapters on and
// off (and merged, with --lora-merge), alternately in one process (so drift hits all alike), and
// what adding and switching adapters costs. The goals: decode ≤ 1.15× and prefill ≤ 1.1×
// the base, a switch ≤ 100 ms besides the read.

import { generate } from '../src/graph/generate.js';
import { loadLoraAdapter, type LoraAdapter } from '../src/graph/lora.js';
import type { PaliGemma } from '../src/graph/paligemma.js';
import { TEXT } from '../src/loader/names.js';
import { MemoryFileSource } from '../src/loader/memory-source.js';
import { loadLoraFromDir } from '../src/node/load-model.js';
import { safetensorsBytes, type OutTensor } from '../src/node/write-safetensors.js';
import { randomF32 } from './data.js';
import { median } from './stats.js';
import { target, type Target } from './targets.js';

export interface LoraRun {
  visionMs: number;
  prefillMs: number;
  msPerToken: number;
}

export interface LoraBench {
  adapters: string[];
  /** Σ rank over the adapted weights of one Gemma layer (what a decode step adds per layer). */
  ranks: number;
  /** Reading, checking and uploading the adapters. */
  loadMs: number;
  /** setAdapters (attach, stack) median over the switches; the decode step is re-recorded in the next run. */
  switchMs: number;
  base: LoraRun;
  lora: LoraRun;
  /** With `merge`: the runs with the adapters merged into f32 copies, and setAdapters' median time to merge (the fold is waited for). */
  merged?: LoraRun & { switchMs: number };
  targets: Target[];
}

const GEMMA_LINEARS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

/** A random PEFT adapter of rank r on every Gemma Linear of the model, as the files would hold it (F32, old names). */
export function randomAdapter(model: PaliGemma, rank: number, seed = 1): MemoryFileSource {
  const tensors: OutTensor[] = [];
  const add = (name: string, shape: number[]) => tensors.push({ name, shape, data: randomF32(shape[0]! * shape[1]!, seed + tensors.length, 0.02) });
  for (let l = 0; l < model.config.text.numLayers; l++) {
    for (const m of GEMMA_LINEARS) {
      const module = `${TEXT}layers.${l}.${m}`;
      const [N, K] = model.checkpoint.weights.get(`${module}.weight`)!.shape as [number, number];
      add(`base_model.model.${module}.lora_A.weight`, [rank, K]);
      add(`base_model.model.${module}.lora_B.weight`, [N, rank]);
    }
  }
  const config = { peft_type: 'LORA', r: rank, lora_alpha: 2 * rank, target_modules: GEMMA_LINEARS.map((m) => m.split('.')[1]!), bias: 'none' };
  return new MemoryFileSource(`random:${rank}`, new Map<string, string | Uint8Array>([['adapter_config.json', JSON.stringify(config)], ['adapter_model.safetensors', safetensorsBytes(tensors)]]));
}

async function loadAdapter(model: PaliGemma, spec: string): Promise<LoraAdapter> {
  const m = /^random:(\d+)$/.exec(spec);
  if (!m) return loadLoraFromDir(model, spec);
  return loadLoraAdapter(model.gpu, model.checkpoint.weights, randomAdapter(model, Number(m[1])));
}

async function timed(model: PaliGemma, pixels: Float32Array, textIds: number[], maxNewTokens: number): Promise<LoraRun> {
  const g = generate(model, [{ pixels, textIds }], { maxNewTokens, stopIds: [] });
  await g.run();
  const t = g.timings;
  return { visionMs: t.visionMs, prefillMs: t.prefillMs, msPerToken: t.decodeMs / t.decodeSteps };
}

const medianRun = (runs: LoraRun[]): LoraRun => ({
  visionMs: median(runs.map((r) => r.visionMs)),
  prefillMs: median(runs.map((r) => r.prefillMs)),
  msPerToken: median(runs.map((r) => r.msPerToken)),
});

/** Loads the adapters (DIRs or random:R), then `runs` rounds of base and adapters alternately after a warm-up of each. */
export async function benchLora(
  model: PaliGemma,
  specs: string[],
  o: { pixels: Float32Array; textIds: number[]; runs: number; maxNewTokens: number; merge?: boolean; log: (s: string) => void },
): Promise<LoraBench> {
  o.log(`lora: loading ${specs.join(', ')}`);
  const t0 = performance.now();
  const adapters: LoraAdapter[] = [];
  for (const s of specs) adapters.push(await loadAdapter(model, s));
  const loadMs = performance.now() - t0;
  const before = model.adapters;
  const beforeMerged = model.merged;
  const switches: number[] = [];
  const merges: number[] = [];
  const set = (a: readonly LoraAdapter[]) => {
    const t = performance.now();
    model.setAdapters(a);
    switches.push(performance.now() - t);
  };
  const base: LoraRun[] = [];
  const lora: LoraRun[] = [];
  const merged: LoraRun[] = [];
  for (let r = -1; r < o.runs; r++) {
    o.log(r < 0 ? 'lora: warm-up' : `lora: round ${r + 1}/${o.runs}`);
    set([]);
    const b = await timed(model, o.pixels, o.textIds, o.maxNewTokens);
    set(adapters);
    const l = await timed(model, o.pixels, o.textIds, o.maxNewTokens);
    if (o.merge) {
      // The fold runs on the GPU: its time is until it is done.
      const t = performance.now();
      model.setAdapters(adapters, { merge: true });
      await model.gpu.finish('lora merge');
      merges.push(performance.now() - t);
      const m = await timed(model, o.pixels, o.textIds, o.maxNewTokens);
      if (r >= 0) merged.push(m);
    }
    if (r >= 0) {
      base.push(b);
      lora.push(l);
    } else {
      switches.length = 0;
      merges.length = 0;
    }
  }
  model.setAdapters(before, { merge: beforeMerged });
  for (const a of adapters) a.destroy();
  const mb = medianRun(base);
  const ml = medianRun(lora);
  const switchMs = median(switches);
  const layer0 = `${TEXT}layers.0.`;
  const ranks = adapters.reduce((s, a) => s + [...a.deltas].filter(([k]) => k.startsWith(layer0)).reduce((x, [, d]) => x + d.rank, 0), 0);
  const ratio = (what: string, a: number, b: number, goal: number) => target(`lora: ${what} ÷ base`, a / b, goal, `${a.toFixed(1)} / ${b.toFixed(1)} ms`, true);
  const targets = [
    ratio('decode ms/token', ml.msPerToken, mb.msPerToken, 1.15),
    ratio('prefill (vision + Gemma) ms', ml.visionMs + ml.prefillMs, mb.visionMs + mb.prefillMs, 1.1),
    target('lora: switching adapters (setAdapters) ms', switchMs, 100, `${switchMs.toFixed(1)} ms, besides ${loadMs.toFixed(0)} ms to read and upload`, true),
  ];
  let mm: LoraBench['merged'];
  if (o.merge) {
    mm = { ...medianRun(merged), switchMs: median(merges) };
    // The issue sets no goal for merging; the same bounds say whether it pays.
    targets.push(
      target('lora merged: decode ms/token ÷ base', mm.msPerToken / mb.msPerToken, 1.15, `${mm.msPerToken.toFixed(1)} / ${mb.msPerToken.toFixed(1)} ms`, true),
      target('lora merged: prefill (vision + Gemma) ms ÷ base', (mm.visionMs + mm.prefillMs) / (mb.visionMs + mb.prefillMs), 1.1, `${(mm.visionMs + mm.prefillMs).toFixed(1)} / ${(mb.visionMs + mb.prefillMs).toFixed(1)} ms`, true),
    );
  }
  return { adapters: specs, ranks, loadMs, switchMs, base: mb, lora: ml, merged: mm, targets };
}
