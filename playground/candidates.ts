// The sampling settings of the Prompt card, and the candidate view: for a clicked token, the most
// probable tokens of the distribution its step draws from under the settings shown now (the
// sampler's own kernels on the logits row kept from that step: src/graph/candidates.ts).

import type { Sampling, ResolvedSampling } from '../src/graph/generate.js';
import type { StepCandidates } from '../src/graph/candidates.js';
import { el } from './dom.js';

export interface SamplingInputs {
  doSample: HTMLInputElement;
  temperature: HTMLInputElement;
  topK: HTMLInputElement;
  topP: HTMLInputElement;
  penalty: HTMLInputElement;
  seed: HTMLInputElement;
}

/** The settings as typed, checked (a bad value names its field). */
export function readSampling(ui: SamplingInputs): Required<Sampling> {
  const num = (input: HTMLInputElement, name: string, ok: (x: number) => boolean, rule: string) => {
    const x = Number(input.value);
    if (input.value.trim() === '' || !ok(x)) throw new Error(`sampling: ${name} must be ${rule}, got "${input.value}"`);
    return x;
  };
  return {
    doSample: ui.doSample.checked,
    temperature: num(ui.temperature, 'temperature', (x) => Number.isFinite(x) && x >= 0, 'a number ≥ 0'),
    topK: num(ui.topK, 'top-k', (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0 (0 = no limit)'),
    topP: num(ui.topP, 'top-p', (x) => x >= 0 && x <= 1, 'in [0, 1] (1 = no limit)'),
    repetitionPenalty: num(ui.penalty, 'repetition penalty', (x) => Number.isFinite(x) && x > 0, 'a number > 0 (1 = off)'),
    seed: num(ui.seed, 'seed', (x) => Number.isSafeInteger(x), 'an integer'),
  };
}

/** Shows a model's defaults (its generation_config.json, then Hugging Face's). */
export function fillSampling(ui: SamplingInputs, s: ResolvedSampling): void {
  ui.doSample.checked = s.doSample;
  ui.temperature.value = String(s.temperature);
  ui.topK.value = String(s.topK);
  ui.topP.value = String(s.topP);
  ui.penalty.value = String(s.repetitionPenalty);
  ui.seed.value = String(s.seed);
}

export function describeSampling(s: ResolvedSampling): string {
  const penalty = s.repetitionPenalty !== 1 ? `, repetition penalty ${s.repetitionPenalty}` : '';
  return s.doSample && s.temperature > 0 ? `sampling at temperature ${s.temperature}, top-k ${s.topK || 'off'}, top-p ${s.topP}${penalty}` : `greedy${penalty} (softmax at temperature 1 shown)`;
}

/** One row per candidate (the token the run chose marked), with data-id / data-p for tests. */
export function renderCandidates(table: HTMLTableElement, c: StepCandidates, chosen: number, piece: (id: number) => string): void {
  const head = el('tr', {}, el('th', {}, 'token'), el('th', { className: 'num' }, 'id'), el('th', { className: 'num' }, 'probability'), el('th', {}, ''));
  const top = c.top[0]?.p ?? 1;
  const rows = c.top.map(({ id, p }) => {
    const bar = el('div', { className: 'bar' });
    bar.style.width = `${(100 * p) / top}%`;
    const tr = el(
      'tr',
      { className: id === chosen ? 'chosen' : '' },
      el('td', {}, piece(id).replace(/▁/g, '␣'), id === chosen ? ' ← chosen' : ''),
      el('td', { className: 'num' }, String(id)),
      el('td', { className: 'num' }, `${(100 * p).toFixed(p >= 0.001 ? 2 : 4)} %`),
      el('td', { className: 'bar-cell' }, bar),
    );
    tr.dataset.id = String(id);
    tr.dataset.p = String(p);
    return tr;
  });
  table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
}
