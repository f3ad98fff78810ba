// Timing our kernels: warm-up runs first (pipeline compiles, first-touch of memory), then each run
// in its own step, GPU time from per-dispatch timestamp queries summed over the case's dispatches,
// wall time around record + submit + wait. Waiting goes through gpu.finish so that Dawn-node does
// not busy-poll a core that lavapipe needs. An adapter without timestamp-query (some browsers) is
// timed by the wall clock instead, and the report says so (`timing: 'wall'`).

import type { Gpu } from '../src/device.js';
import type { Case, Instance } from './cases.js';
import { median } from './stats.js';

/** What a kernel's `ms` is: GPU time from timestamp queries, or wall clock where the adapter has none. */
export type TimingSource = 'gpu-timestamps' | 'wall';

export interface Timing {
  /** Median GPU time per run (timestamp queries; wall clock when `timing` is 'wall'). */
  ms: number;
  /** GPU time of every measured run. */
  runs: number[];
  /** Median wall time per run (record, submit, wait). */
  wallMs: number;
  dispatches: number;
  /** The matmul variant the case ran, when it is a matmul. */
  variant?: string;
}

export interface RunOptions {
  warmup: number;
  /** Measured runs, at least. */
  runs: number;
  /**
   * Short kernels run on until their measured runs add up to this many ms, up to maxRuns in all:
   * on a CPU adapter the median of 3 runs of a 1 ms kernel still swings by ±40 %.
   */
  minMs?: number;
  maxRuns?: number;
}

/** The benches' timing policy: one warm-up, `runs` measured, short kernels on to 100 ms (at most 5× the runs). */
export function runOptions(runs = 3): RunOptions {
  return { warmup: 1, runs, minMs: 100, maxRuns: 5 * runs };
}

/** Whether to measure another run after `runs` (the measured times so far, ms). */
export function moreRuns(o: RunOptions, runs: number[]): boolean {
  if (runs.length < o.runs) return true;
  return runs.length < (o.maxRuns ?? o.runs) && runs.reduce((a, b) => a + b, 0) < (o.minMs ?? 0);
}

/** How timeCase will time kernels on this Gpu. */
export function timingSource(gpu: Gpu): TimingSource {
  return gpu.profiler ? 'gpu-timestamps' : 'wall';
}

export async function timeCase(gpu: Gpu, c: Case, o: RunOptions): Promise<Timing> {
  return (await timeSideBySide(gpu, [c], o))[0]!;
}

/**
 * Times cases side by side: every round runs each case once, in turn, so that a CPU adapter's drift
 * (up to 2× over minutes) falls on all of them alike and per-round ratios compare like with like.
 * Rounds go on while any case wants more runs (moreRuns); each case's runs are then as many.
 * `afterRound` runs after each measured round (host work timed beside the cases).
 */
export async function timeSideBySide(gpu: Gpu, cases: readonly Case[], o: RunOptions, afterRound?: () => Promise<void>): Promise<Timing[]> {
  const profiler = gpu.profiler;
  const insts: Instance[] = [];
  try {
    for (const c of cases) insts.push(await c.setup(gpu));
    await gpu.finish('bench-upload');
    await profiler?.collect();
    const gpuMs = cases.map(() => [] as number[]);
    const wall = cases.map(() => [] as number[]);
    const dispatches = cases.map(() => 0);
    for (let i = 0; i < o.warmup || gpuMs.some((runs) => moreRuns(o, runs)); i++) {
      for (const [j, c] of cases.entries()) {
        const inst = insts[j]!;
        const t0 = performance.now();
        const step = gpu.step(c.label);
        inst.record(step);
        step.end();
        // The warm-up is waited on without a label: where pipelines compile on first use (a browser's
        // GPU process) its time would become the next runs' wait estimate and they would sleep it.
        await (i < o.warmup ? gpu.finish() : gpu.finish(`bench ${c.label}`, c.flops ?? 0));
        const t1 = performance.now();
        const t = profiler ? await profiler.collect() : undefined;
        if (i < o.warmup) continue;
        gpuMs[j]!.push(t ? t.reduce((s, x) => s + x.ms, 0) : t1 - t0);
        wall[j]!.push(t1 - t0);
        // Without timestamps, the dispatches are counted on a recording that is never submitted.
        dispatches[j] = t ? t.filter((x) => !x.copy).length : dispatches[j] || gpu.record(c.label, (s) => inst.record(s)).commands.filter((x) => 'kernel' in x).length;
      }
      if (i >= o.warmup) await afterRound?.();
    }
    return cases.map((_, j) => ({ ms: median(gpuMs[j]!), runs: gpuMs[j]!, wallMs: median(wall[j]!), dispatches: dispatches[j]!, variant: insts[j]!.variant }));
  } finally {
    for (const inst of insts) inst.destroy();
  }
}
