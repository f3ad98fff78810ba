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

export function kernelTargets(r: KernelsReport): Target[] {
  const out: Target[] = [];
  for (const k of r.kernels) {
    const tfjs = r.peers.find((p) => p.name === 'tfjs-webgpu' && p.label === k.label);
    if (k.name === 'matmul') {
      if (tfjs) out.push(target(`${k.label}: GEMM vs tfjs matMul`, k.gflops! / tfjs.gflops, 3, `ours ${fmt2(k.gflops)} / tfjs ${fmt2(tfjs.gflops)} GFLOP/s`));
      out.push(target(`${k.label}: GEMM % of BLAS (reported, no goal)`, (100 * k.gflops!) / r.ceilings.blas_gflops, 0, `${fmt2(k.gflops)} / ${fmt2(r.ceilings.blas_gflops)} GFLOP/s`));
    }
    if (k.name === 'mask-decoder') {
      const objects = k.shape.objects!;
      out.push(target(`${k.label}: ms per object`, k.ms / objects, 50, `${fmt2(k.ms)} ms GPU time / ${objects}`, true));
    }
    const bf16 = k.format && k.format !== 'bf16' ? r.kernels.find((b) => b.format === 'bf16' && `${b.label} (${k.format})` === k.label) : undefined;
    if (bf16) out.push(target(`${k.label}: time ÷ bf16's (reported, no goal)`, k.ms / bf16.ms, 0, `${fmt2(k.ms)} / ${fmt2(bf16.ms)} ms`));
    if (k.name === 'gemv') {
      out.push(target(`${k.label}: GEMV vs streaming read`, k.gbps! / r.ceilings.read_gbps, 0.55, `${fmt2(k.gbps)} / ${fmt2(r.ceilings.read_gbps)} GB/s`));
      if (k.readSameBytesGbps) out.push(target(`${k.label}: GEMV vs a read of as many bytes (reported, no goal)`, k.gbps! / k.readSameBytesGbps, 0, `${fmt2(k.gbps)} / ${fmt2(k.readSameBytesGbps)} GB/s`));
      if (tfjs) out.push(target(`${k.label}: GEMV vs tfjs`, k.gflops! / tfjs.gflops, 8, `tfjs ${fmt2(tfjs.ms)} ms / ours ${fmt2(k.ms)} ms (tfjs reads f32 weights)`));
    }
  }
  return out;
}

function fmt2(x: number | undefined): string {
  return x === undefined ? '–' : x.toPrecision(3);
}
