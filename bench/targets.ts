// The issue's targets, each a ratio of two numbers measured in the same run, with PASS/MISS.

import type { KernelsReport } from './kernels.js';

export interface Target {
  what: string;
  measured: number;
  /** The measured value must be ≥ goal (or ≤ goal when `atMost`). */
  goal: number;
  atMost?: boolean;
  pass: boolean;
  /** How `measured` was formed. */
  detail: string;
}

export function target(what: string, measured: number, goal: number, detail: string, atMost = false): Target {
  const pass = Number.isFinite(measured) && (atMost ? measured <= goal : measured >= goal);
  return { what, measured, goal, atMost: atMost || undefined, pass, detail };
}

/**
 * A PaliGemma-3B decode step as the bf16 decode GEMVs of the same run add it up: Gemma-2B's 18
 * layers × (q, k, v, o, gate+up+GEGLU, down) and the LM head. It leaves out attention over the
 * cache, RoPE and the norms (small beside the 5 GB of weights a step reads), so it is a lower bound
 * of the step and the sampler's share of it an upper bound.
 */
const DECODE_STEP: [label: string, times: number][] = [
  ['gemma q/o decode', 2 * 18],
  ['gemma k/v decode', 2 * 18],
  ['gemma gate+up+GEGLU decode', 18],
  ['gemma down decode', 18],
  ['gemma LM head decode', 1],
];

function decodeStep(r: KernelsReport): { ms: number; detail: string } | undefined {
  const parts = DECODE_STEP.map(([label, times]) => ({ times, k: r.kernels.find((k) => k.label === label && (k.format ?? 'bf16') === 'bf16') }));
  if (parts.some((p) => !p.k)) return undefined;
  return { ms: parts.reduce((s, p) => s + p.times * p.k!.ms, 0), detail: parts.map((p) => `${p.times}×${fmt2(p.k!.ms)}`).join(' + ') };
}

export function kernelTargets(r: KernelsReport): Target[] {
  const out: Target[] = [];
  const step = decodeStep(r);
  for (const k of r.kernels) {
    // The issue's target: the sampler on the whole vocabulary ≤ 2 % of a decode step measured in
    // the same run (without the decode GEMVs, e.g. --skip gemv, there is no step to compare with).
    if (k.name === 'sample' && k.shape.cols === 257216) {
      const what = `${k.label}: % of a 3B decode step`;
      if (step) out.push(target(what, (100 * k.ms) / step.ms, 2, `${fmt2(k.ms)} ms / ${fmt2(step.ms)} ms (step = GEMVs of this run: ${step.detail})`, true));
      else out.push(target(what, NaN, 2, 'not measured: the run skipped the decode GEMVs (gemv, gemv-geglu) that make up the step', true));
    }
    const tfjs = r.peers.find((p) => p.name === 'tfjs-webgpu' && p.label === k.label);
    if (k.name === 'matmul') {
      if (tfjs) out.push(target(`${k.label}: GEMM vs tfjs matMul`, k.gflops! / tfjs.gflops, 3, `ours ${fmt2(k.gflops)} / tfjs ${fmt2(tfjs.gflops)} GFLOP/s`));
      out.push(target(`${k.label}: GEMM % of BLAS (reported, no goal)`, (100 * k.gflops!) / r.ceilings.blas_gflops, 0, `${fmt2(k.gflops)} / ${fmt2(r.ceilings.blas_gflops)} GFLOP/s`));
    }
    const blas = k.blasBeside;
    if (blas) out.push(target(`${k.label}: GEMM % of BLAS, side by side`, 100 * blas.ratio, 25, `median of ${blas.rounds} rounds' ratios; ${fmt2(blas.gflops)} / ${fmt2(blas.blasGflops)} GFLOP/s`));
    if (k.name === 'mask-decoder') {
      const objects = k.shape.objects!;
      out.push(target(`${k.label}: ms per object`, k.ms / objects, 50, `${fmt2(k.ms)} ms GPU time / ${objects}`, true));
    }
    const bf16 = k.format && k.format !== 'bf16' ? r.kernels.find((b) => b.format === 'bf16' && `${b.label} (${k.format})` === k.label) : undefined;
    if (bf16) out.push(target(`${k.label}: time ÷ bf16's (reported, no goal)`, k.ms / bf16.ms, 0, `${fmt2(k.ms)} / ${fmt2(bf16.ms)} ms`));
    if (k.name === 'gemv') {
      out.push(target(`${k.label}: GEMV vs streaming read`, k.gbps! / r.ceilings.read_gbps, 0.55, `${fmt2(k.gbps)} / ${fmt2(r.ceilings.read_gbps)} GB/s`));
      const same = k.readSameBytes;
      if (same) out.push(target(`${k.label}: GEMV vs a read of as many bytes, side by side`, same.ratio, 0.6, `median of ${same.rounds} rounds' ratios; ${fmt2(same.kernelGbps)} / ${fmt2(same.gbps)} GB/s`));
      if (tfjs) out.push(target(`${k.label}: GEMV vs tfjs`, k.gflops! / tfjs.gflops, 8, `tfjs ${fmt2(tfjs.ms)} ms / ours ${fmt2(k.ms)} ms (tfjs reads f32 weights)`));
    }
  }
  return out;
}

function fmt2(x: number | undefined): string {
  return x === undefined ? '–' : x.toPrecision(3);
}
