// Several `bench kernels --json` reports side by side: per kernel (matched by its label), each
// machine's achieved share of its own ceiling (streaming read for GB/s kernels, BLAS for GFLOP/s
// ones), and with two reports the time ratio (second ÷ first). Used by the bench page's comparison
// view and by `paligemma bench compare`.

import type { KernelResult, KernelsReport } from './kernels.js';
import { ceilingShare } from './report.js';
import { fmt, table } from './stats.js';

export interface Named {
  /** The file name (or what the report came from). */
  name: string;
  report: KernelsReport;
}

export interface CompareRow {
  kernel: string;
  label: string;
  /** Per report, in order: the kernel's result and its share of that report's own ceiling, or undefined where it did not run. */
  cells: ({ k: KernelResult; pct: number; of: 'read' | 'BLAS' } | undefined)[];
  /** Two reports: the second's ms ÷ the first's (GPU time, or wall where a report has no timestamps). */
  ratio?: number;
}

/** The machine a report ran on, in a few words: the adapter and where it ran. */
export function machineName(r: KernelsReport): string {
  const a = r.adapter as { vendor?: string; architecture?: string; device?: string; description?: string };
  const gpu = a.description || a.device || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  return `${gpu} (${r.platform ?? 'node'}${r.timing === 'wall' ? ', wall clock' : ''})`;
}

/** Every kernel of any report, in the order first seen. */
export function compareRows(reports: Named[]): CompareRow[] {
  const rows: CompareRow[] = [];
  for (const { report } of reports) {
    for (const k of report.kernels) if (!rows.some((r) => r.label === k.label)) rows.push({ kernel: k.name, label: k.label, cells: [] });
  }
  for (const row of rows) {
    row.cells = reports.map(({ report }) => {
      const k = report.kernels.find((x) => x.label === row.label);
      return k && { k, ...ceilingShare(k, report.ceilings) };
    });
    const [a, b] = row.cells;
    if (reports.length === 2 && a && b) row.ratio = b.k.ms / a.k.ms;
  }
  return rows;
}

const pctText = (c: CompareRow['cells'][number]) => (c ? (Number.isFinite(c.pct) ? `${fmt(c.pct)} % ${c.of}` : `– (no ${c.of})`) : '');

export function compareText(reports: Named[]): string {
  const rows = compareRows(reports);
  const two = reports.length === 2;
  const head = ['kernel', 'where', ...reports.flatMap((_, i) => [`#${i + 1} ms`, `#${i + 1} share`]), ...(two ? ['#2 ÷ #1'] : [])];
  const legend = reports.map((r, i) => `#${i + 1}: ${r.name} — ${machineName(r.report)}, ${r.report.date}`);
  return [
    ...legend,
    '',
    table(
      head,
      rows.map((r) => [r.kernel, r.label, ...r.cells.flatMap((c) => [c ? fmt(c.k.ms) : '', pctText(c)]), ...(two ? [fmt(r.ratio)] : [])]),
    ),
  ].join('\n');
}
