// The cold-start report on the terminal.

import type { ColdReport } from './cold.js';
import { adapterText } from './report.js';
import { fmt, table } from './stats.js';

export function coldText(r: ColdReport): string {
  const { each, together } = r;
  const m = r.machine;
  const list = [...each.pipelines].sort((a, b) => (b.compileMs ?? -1) - (a.compileMs ?? -1));
  const sum = (k: 'createMs' | 'compileMs') => each.pipelines.reduce((s, p) => s + (p[k] ?? 0), 0);
  const atLoad = each.pipelines.length - each.compiled.pipelines;
  const ahead = (c: typeof each) => (c.compiledAhead ? `${fmt(c.compiledAhead.ms)} ms from the weights' allocation (the load took ${fmt(c.loadSeconds * 1000)} ms), ` : '');
  const late = (c: typeof each) => `${c.request.compiledPipelines + c.request.compiledOnDispatch} pipelines compiled by the request itself`;
  return [
    `${r.date}  ${m.cpu} (${m.cores} cores, ${m.memGiB} GiB), load ${m.load.join(' ')}`,
    adapterText(r.adapter),
    `model: ${r.model}, weights ${r.quantize ?? 'as in the checkpoint'}${r.lora?.length ? `, LoRA ${r.lora.join(', ')}${r.loraMerge ? ' (merged)' : ''}` : ''}, ${r.images} image${r.images === 1 ? '' : 's'}; empty shader caches in each of two fresh processes`,
    '',
    `every pipeline the load and the request built, each compiled alone (largest compile first; – = compiled by the load's own dispatch):`,
    table(
      ['pipeline', 'create ms', 'compile ms'],
      list.map((p) => [p.name, fmt(p.createMs), p.compileMs === undefined ? '–' : fmt(p.compileMs)]),
    ),
    `${each.pipelines.length} pipelines (${atLoad} at load): create ${fmt(sum('createMs'))} ms + compile ${fmt(sum('compileMs'))} ms one at a time; then ${late(each)}`,
    `as generate compiles them (all ${together.compiled.pipelines} at once at load, ${together.helpers} compile helper${together.helpers === 1 ? '' : 's'}): ${ahead(together)}${fmt(together.compiled.ms)} ms after the load; then ${late(together)}`,
    `the request after it: vision ${fmt(together.request.visionMs)} ms, prefill ${fmt(together.request.prefillMs)} ms, first token ${fmt(together.request.firstTokenMs)} ms`,
  ].join('\n');
}
