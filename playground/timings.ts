// The timings panel: load and generation phases, and the per-kernel GPU profile from timestamp
// queries summed by kernel label.

import type { GenerationTimings } from '../src/graph/generate.js';
import type { KernelTiming } from '../src/profiler.js';
import { el, formatBytes } from './dom.js';

export interface LoadTimings {
  seconds: number;
  bytes: number;
}

const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 0)} ms`;

export function renderTimings(table: HTMLTableElement, load: LoadTimings | undefined, gen: GenerationTimings | undefined, tokens: number): void {
  const rows: [string, string][] = [];
  if (load) rows.push(['load', `${load.seconds.toFixed(2)} s · ${formatBytes(load.bytes)} · ${(load.bytes / 1e6 / Math.max(load.seconds, 1e-9)).toFixed(0)} MB/s`]);
  if (gen) {
    // The first token's parts: what it compiled, the passes, and the choice of its id after the prefill.
    rows.push(
      ['pipelines built', gen.compiledPipelines ? `${gen.compiledPipelines} in ${ms(gen.compileMs)}` : 'none new'],
      ['vision (SigLIP + projector)', ms(gen.visionMs)],
      ['prefill', ms(gen.prefillMs)],
      ['first token choice', ms(gen.firstChoiceMs)],
      ['first token', ms(gen.firstTokenMs)],
    );
    if (gen.decodeSteps > 0) {
      const per = gen.decodeMs / gen.decodeSteps;
      rows.push(['decode per token', ms(per)], ['decode tokens/s', (1000 / per).toFixed(2)]);
    }
    rows.push(['tokens generated', String(tokens)]);
  }
  table.replaceChildren(el('tbody', {}, ...rows.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', { className: 'num' }, v)))));
}

export interface KernelSummary {
  label: string;
  calls: number;
  ms: number;
}

/** Timings summed per kernel label, largest total first. */
export function summarizeProfile(timings: KernelTiming[]): KernelSummary[] {
  const by = new Map<string, KernelSummary>();
  for (const t of timings) {
    const s = by.get(t.label) ?? { label: t.label, calls: 0, ms: 0 };
    s.calls++;
    s.ms += t.ms;
    by.set(t.label, s);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

export function renderProfile(table: HTMLTableElement, summary: KernelSummary[]): void {
  const total = summary.reduce((a, s) => a + s.ms, 0);
  const head = el('tr', {}, el('th', {}, 'kernel'), el('th', { className: 'num' }, 'calls'), el('th', { className: 'num' }, 'GPU ms'), el('th', { className: 'num' }, 'share'), el('th', {}, ''));
  const rows = summary.map((s) => {
    const share = total > 0 ? s.ms / total : 0;
    const bar = el('div', { className: 'bar' });
    bar.style.width = `${(share * 100).toFixed(1)}%`;
    const barCell = el('td', {}, bar);
    barCell.style.width = '25%';
    return el('tr', {}, el('td', {}, s.label), el('td', { className: 'num' }, String(s.calls)), el('td', { className: 'num' }, s.ms.toFixed(2)), el('td', { className: 'num' }, `${(share * 100).toFixed(1)}%`), barCell);
  });
  const foot = el('tr', {}, el('th', {}, 'total'), el('th', {}, ''), el('th', { className: 'num' }, total.toFixed(2)), el('th', {}, ''), el('th', {}, ''));
  table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows, foot));
}
