// The load report on the terminal.

import type { LoadReport } from './load.js';
import { adapterText, targetsText } from './report.js';
import { fmt, table } from './stats.js';

export function loadText(r: LoadReport): string {
  const m = r.machine;
  return [
    `${r.date}  ${m.cpu} (${m.cores} cores, ${m.memGiB} GiB), load ${m.load.join(' ')} → ${m.loadAfter?.join(' ') ?? '–'}`,
    adapterText(r.adapter),
    `model: ${r.model}`,
    `requests: ${r.promptTokens} prompt tokens (image included), ${r.maxNewTokens} new tokens each; batches of at most ${r.maxBatch}`,
    '',
    table(
      ['C', ...(r.rounds > 1 ? ['round'] : []), 'requests', 'batches', 'mean batch', 'wall s', 'tokens/s', 'decode tokens/s', 'first token p50 ms', 'p95', 'per token p50 ms', 'p95'],
      r.levels.map((l) => [
        String(l.concurrency), ...(r.rounds > 1 ? [String(l.round)] : []), String(l.requests), String(l.batches), fmt(l.meanBatch), fmt(l.wallSeconds), fmt(l.tokensPerSec), fmt(l.decodeTokensPerSec),
        fmt(l.firstTokenMs.p50), fmt(l.firstTokenMs.p95), fmt(l.perTokenMs.p50), fmt(l.perTokenMs.p95),
      ]),
    ),
    '',
    targetsText(r.targets),
  ].join('\n');
}
