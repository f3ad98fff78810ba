// Terminal reports: the adapter first, then ceilings, kernels (with % of ceiling), peers, targets.

import type { KernelResult, KernelsReport } from './kernels.js';
import { fmt, table } from './stats.js';
import type { Target } from './targets.js';

/**
 * A kernel's share of the ceiling that bounds it: the streaming read for GB/s kernels, BLAS for
 * GFLOP/s ones (NaN where the platform has no BLAS ceiling, e.g. a page).
 */
export function ceilingShare(k: KernelResult, c: KernelsReport['ceilings']): { pct: number; of: 'read' | 'BLAS' } {
  if (k.gbps) return { pct: (100 * k.gbps) / c.read_gbps, of: 'read' };
  return { pct: c.blas_gflops ? (100 * (k.gflops ?? 0)) / c.blas_gflops : NaN, of: 'BLAS' };
}

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
  const browser = r.platform === 'browser';
  const load = m.load.length ? `, load ${m.load.join(' ')} → ${(m.loadAfter ?? []).join(' ')}` : '';
  const timing = r.timing === 'wall' ? 'WALL CLOCK (the adapter has no timestamp-query): record + submit + wait, an upper bound on GPU time' : 'GPU time from timestamp queries';
  const out = [
    `${r.date}  ${m.cpu} (${m.cores} cores, ${m.memGiB ?? '?'} GiB)${load}${browser ? '  [browser page]' : ''}`,
    ...(r.browser ? [`browser: ${r.browser.userAgent}`] : []),
    adapterText(r.adapter),
    `runs: ${r.runs.warmup} warm-up + ${r.runs.runs} measured${r.runs.minMs ? ` (more, up to ${r.runs.maxRuns}, until ${r.runs.minMs} ms are measured)` : ''}, medians; kernel ms = ${timing}`,
    '',
    'ceilings measured in this run:',
    Number.isFinite(c.blas_gflops) && c.blas_gflops !== null
      ? `  BLAS-class f32 GEMM (onnxruntime-node MLAS, ${shapeText(c.blas_shape)}): ${fmt(c.blas_gflops)} GFLOP/s`
      : `  BLAS-class f32 GEMM: ${browser ? 'none in a page (onnxruntime-node is Node-only): % BLAS left blank' : 'not measured (see below)'}`,
    `  WGSL streaming read of ${c.read_bytes >> 20} MiB: ${readText(c)} GB/s → ${fmt(c.read_gbps)} GB/s`,
    `  host memcpy (${c.memcpy_method ?? 'Buffer.copy'}): ${fmt(c.memcpy_gbps)} GB/s copied`,
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
        k.gflops ? fmt((100 * k.gflops) / (c.blas_gflops ?? NaN)) : '–',
        fmt(k.gbps),
        k.gbps ? fmt((100 * k.gbps) / c.read_gbps) : '–',
      ]),
    ),
  ];
  if (r.peers.length) {
    out.push(
      '',
      'peers (same shapes; tfjs ms from its timestamp queries where it has them, else wall clock; onnxruntime ms wall clock on the CPU):',
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
