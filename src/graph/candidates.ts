// The distribution one generation step draws its token from, and its most probable tokens: for the
// playground's candidate view and anyone checking a run. The probabilities come from the sampler's
// own kernels (sampleProbs: the same scores, thresholds and masses as the draw), on a logits row
// kept from that step; the tokens the penalty counts are the input row and the tokens before it.

import type { Gpu } from '../device.js';
import { sampleProbs } from '../kernels/sample.js';
import { seenBits } from '../kernels/seen-mark.js';
import type { PaliGemmaConfig } from '../loader/config.js';
import { inputRow, type ResolvedSampling } from './generate.js';

export interface Candidate {
  id: number;
  p: number;
}

export interface StepCandidates {
  /** The most probable tokens, most probable first (ties: lower id first). */
  top: Candidate[];
  /** How many tokens have p > 0 (what top-k and top-p kept). */
  kept: number;
  /**
   * Whether the step samples; greedy steps take the argmax, and `top` is then the softmax of the
   * penalised logits at temperature 1 with no top-k / top-p (what the argmax is taken of).
   */
  sampled: boolean;
}

/**
 * The `n` most probable tokens of a step whose logits were `logits` (one row of the vocabulary),
 * under `s`; `textIds`: the sequence's text ids (<bos> + prompt + "\n"); `before`: the tokens
 * generated before this step.
 */
export async function stepCandidates(
  gpu: Gpu,
  cfg: PaliGemmaConfig,
  logits: Float32Array,
  s: ResolvedSampling,
  textIds: readonly number[],
  before: readonly number[],
  n: number,
): Promise<StepCandidates> {
  const cols = logits.length;
  if (cols !== cfg.text.vocabSize) throw new Error(`candidates: a logits row has ${cols} values, the vocabulary ${cfg.text.vocabSize}`);
  const sampled = s.doSample && s.temperature > 0;
  const settings = sampled ? { temperature: s.temperature, topK: s.topK, topP: s.topP } : { temperature: 1, topK: 0, topP: 1 };
  const penalised = s.repetitionPenalty !== 1;
  const row = gpu.upload(logits, 'candidates logits');
  const seen = penalised ? gpu.upload(seenBits([...inputRow(cfg, textIds, 0), ...before], cols), 'candidates seen ids') : undefined;
  const probs = gpu.buffer(cols * 4, 'candidates probs');
  try {
    const step = gpu.step('candidates');
    sampleProbs(step, { logits: row, cols, ...settings, repetitionPenalty: s.repetitionPenalty, seen, probs });
    step.end();
    const p = await gpu.readF32(probs, 0, cols, 'candidates');
    let kept = 0;
    const top: Candidate[] = [];
    for (let id = 0; id < cols; id++) {
      const q = p[id]!;
      if (q <= 0) continue;
      kept++;
      // A short sorted list: most rows keep far more tokens than are shown.
      if (top.length === n && q <= top[n - 1]!.p) continue;
      let at = top.length;
      while (at > 0 && top[at - 1]!.p < q) at--;
      top.splice(at, 0, { id, p: q });
      if (top.length > n) top.pop();
    }
    return { top, kept, sampled };
  } finally {
    for (const b of [row, probs, ...(seen ? [seen] : [])]) (gpu.forgetBuffer(b), b.destroy());
  }
}
