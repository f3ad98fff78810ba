// Terminal reports: the adapter first, then ceilings, kernels (with % of ceiling), peers, targets.

import type { KernelsReport } from './kernels.js';
import { fmt, table } from './stats.js';
import type { Target } from './targets.js';

export function adapterText(adapter: Record<string, unknown>): string {
  const { limits, features, ...info } = adapter as { limits: Record<string, number>; features: Record<string, boolean> };
  const name = Object.entries(info)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const feats = Object.entries(features).map(([k, v]) => `${k}:${v ? 'yes' : 'no'}`);
  const lims = Object.entries(limits).map(([k, v]) => `${k}=${v}`);
  return [`adapter: ${name}`, `features: ${feats.join(' ')}`, `limits: ${lims.join(' ')}`].join('\n');
}

function shapeText(s: Record<string, number>): string {
  return Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export function targetsText(ts: Target[]): string {
  return table(
    ['target', 'measured', 'goal', '', 'from'],
    ts.map((t) => [t.what, fmt(t.measured), t.goal === 0 ? '–' : `${t.atMost ? '≤' : '≥'} ${fmt(t.goal)}`, t.goal === 0 ? 'report' : t.pass ? 'PASS' : 'MISS', t.detail]),
  );
}

/** Every run up to five, else their count and range. */
function runsText(runs: number[]): string {
  return runs.length <= 5 ? runs.map(fmt).join(' ') : `${runs.length}× ${fmt(Math.min(...runs))}–${fmt(Math.max(...runs))}`;
}

/** The read ceiling's layouts, grouped by when they ran (reports before 2026-11-28 02:00 measured once). */
function readText(c: KernelsReport['ceilings']): string {
  const groups = (['before', 'after'] as const).map((when) => [when, c.read_variants.filter((v) => (v.when ?? 'before') === when)] as const);
  return groups.filter(([, vs]) => vs.length).map(([when, vs]) => `${when} the kernels ${vs.map((v) => `${v.layout} ${fmt(v.gbps)}`).join(', ')}`).join('; ');
}

export function kernelsText(r: KernelsReport): string {
  const c = r.ceilings;
  const m = r.machine;
  const out = [
    `${r.date}  ${m.cpu} (${m.cores} cores, ${m.memGiB} GiB), load ${m.load.join(' ')} → ${(m.loadAfter ?? []).join(' ')}`,
    adapterText(r.adapter),
    `runs: ${r.runs.warmup} warm-up + ${r.runs.runs} measured${r.runs.minMs ? ` (more, up to ${r.runs.maxRuns}, until ${r.runs.minMs} ms are measured)` : ''}, medians; kernel ms = GPU time from timestamp queries`,
    '',
    'ceilings measured in this run:',
    `  BLAS-class f32 GEMM (onnxruntime-node MLAS, ${shapeText(c.blas_shape)}): ${fmt(c.blas_gflops)} GFLOP/s`,
    `  WGSL streaming read of ${c.read_bytes >> 20} MiB: ${readText(c)} GB/s → ${fmt(c.read_gbps)} GB/s`,
    `  host memcpy (Buffer.copy): ${fmt(c.memcpy_gbps)} GB/s copied`,
    '',
    table(
      ['kernel', 'variant', 'where', 'shape', 'ms', 'runs', 'wall ms', 'GFLOP/s', '% BLAS', 'GB/s', '% read'],
      r.kernels.map((k) => [
        k.name,
        k.variant ?? '–',
        k.label,
        shapeText(k.shape),
        fmt(k.ms),
        runsText(k.runs),
        fmt(k.wallMs),
        fmt(k.gflops),
        k.gflops ? fmt((100 * k.gflops) / c.blas_gflops) : '–',
        fmt(k.gbps),
        k.gbps ? fmt((100 * k.gbps) / c.read_gbps) : '–',
      ]),
    ),
  ];
  if (r.peers.length) {
    out.push(
      '',
      'peers (same shapes; tfjs ms from its timestamp queries, onnxruntime ms wall clock on the CPU):',
      table(
        ['peer', 'where', 'shape', 'ms', 'runs', 'wall ms', 'GFLOP/s', 'GB/s', 'ours ×'],
        r.peers.map((p) => {
          const ours = r.kernels.find((k) => k.label === p.label);
          return [p.name, p.label, shapeText(p.shape), fmt(p.ms), runsText(p.runs), fmt(p.wallMs), fmt(p.gflops), fmt(p.gbps), ours ? fmt(p.ms / ours.ms) : '–'];
        }),
      ),
    );
  }
  for (const e of r.peerErrors) out.push(`peer ${e.name} did not run: ${e.error}`);
  out.push('', targetsText(r.targets));
  return out.join('\n');
}
