// Sampling one token from one logits row on the GPU (no logits readback), exactly as Hugging
// Face's generate(do_sample=True) over the whole vocabulary: repetition penalty, temperature,
// top-k (any k; every tie with the k-th kept), top-p (sorted ascending, drop the tokens whose
// cumulative probability is ≤ 1 − p, keep at least one), then the inverse CDF of the softmax of
// what is left at a uniform u ∈ [0, 1) from the caller's seeded generator.
//
// Nothing is sorted: each threshold is a key found by a radix search, 8 bits per pass over the
// row (radix-histogram + radix-pick, four passes each for top-k and top-p, only for the filters
// that are on); then sample-chunks and sample-draw pick the token. sampleProbs writes the whole
// distribution the draw picks from. temperature ≤ 0 is greedy (argmax of the penalised logits).

import type { Binding, Step } from '../device.js';
import { argmax } from './argmax.js';
import { radixHistogram } from './radix-histogram.js';
import { radixPick } from './radix-pick.js';
import { CHUNK, chunkCount, MAX_COLS, STATE_WORDS, type CutMode } from './sample-common.js';
import { sampleChunks } from './sample-chunks.js';
import { sampleDraw } from './sample-draw.js';
import { sampleProbsKernel } from './sample-probs.js';
import { sampleScores } from './sample-scores.js';

export interface SamplingSettings {
  /** ≤ 0: greedy. */
  temperature: number;
  /** Keep the k largest scores and every tie with the k-th (0 = off). */
  topK: number;
  /** Keep the most probable tokens whose cumulative probability reaches p (1 = off). */
  topP: number;
  /** Hugging Face's repetition_penalty (1 = off); needs `seen`. */
  repetitionPenalty?: number;
}

export interface Row extends SamplingSettings {
  logits: Binding;
  cols: number;
  /** Bitset of the ids already in the sequence (seen-mark.ts), when the penalty is on. */
  seen?: Binding;
}

interface Scratch {
  cols: number;
  z: GPUBuffer;
  chunks: GPUBuffer;
  hist: GPUBuffer;
  state: GPUBuffer;
  id: GPUBuffer;
}
const scratches = new WeakMap<object, Scratch>();

function scratch(step: Step, cols: number): Scratch {
  const gpu = step.gpu;
  let s = scratches.get(gpu);
  if (!s || s.cols < cols) {
    // Buffers of earlier rows may still be referenced by recorded work: dropped, not destroyed.
    for (const b of s ? [s.z, s.chunks, s.hist, s.state, s.id] : []) gpu.forgetBuffer(b);
    const n = chunkCount(cols);
    s = {
      cols,
      z: gpu.buffer(n * CHUNK * 4, 'sample scores'), // whole chunks: read four at a time
      chunks: gpu.buffer(n * 16, 'sample chunks'),
      hist: gpu.buffer(n * 256 * 12, 'sample histogram'),
      state: gpu.buffer(STATE_WORDS * 4, 'sample state'),
      id: gpu.buffer(4, 'sample id'),
    };
    scratches.set(gpu, s);
  }
  return s;
}

function check(a: Row): void {
  const bad = (what: string) => new Error(`sample: ${what}`);
  if (!(Number.isInteger(a.cols) && a.cols >= 1 && a.cols <= MAX_COLS)) throw bad(`cols must be an integer in [1, ${MAX_COLS}], got ${a.cols}`);
  if (!Number.isFinite(a.temperature)) throw bad(`temperature must be a finite number, got ${a.temperature}`);
  if (!(Number.isInteger(a.topK) && a.topK >= 0)) throw bad(`top-k must be an integer ≥ 0, got ${a.topK}`);
  if (!(a.topP >= 0 && a.topP <= 1)) throw bad(`top-p must be in [0, 1], got ${a.topP}`);
  const r = a.repetitionPenalty ?? 1;
  if (!(Number.isFinite(r) && r > 0)) throw bad(`repetition penalty must be a positive number, got ${r}`);
  if (r !== 1 && !a.seen) throw bad('a repetition penalty needs the bitset of the ids already in the sequence');
}

/** Scores and the top-k / top-p thresholds into the scratch state; returns how far the filters ran. */
function filter(step: Step, a: Row, s: Scratch): CutMode {
  const { cols } = a;
  const penalty = a.repetitionPenalty ?? 1;
  sampleScores(step, { logits: a.logits, cols, temperature: a.temperature, penalty, seen: a.seen, z: s.z, chunks: s.chunks });
  const nChunks = chunkCount(cols);
  const k = a.topK > 0 && a.topK < cols ? a.topK : 0;
  const pass = (filter: 'top-k' | 'top-p', floored: boolean) => {
    for (const shift of [24, 16, 8, 0]) {
      radixHistogram(step, { z: s.z, chunks: s.chunks, state: s.state, hist: s.hist, cols, shift, mass: filter === 'top-p', floored });
      radixPick(step, { hist: s.hist, state: s.state, nChunks, shift, filter, k, removable: Math.fround(1 - a.topP) });
    }
  };
  if (k > 0) pass('top-k', false);
  if (a.topP < 1) pass('top-p', k > 0);
  const mode: CutMode = a.topP < 1 ? 2 : k > 0 ? 1 : 0;
  sampleChunks(step, { z: s.z, state: s.state, chunks: s.chunks, cols, mode });
  return mode;
}

/** Writes one sampled token id (u32) to out[0]. */
export function sample(step: Step, a: Row & { uniform: number; out: Binding }): void {
  check(a);
  const s = scratch(step, a.cols);
  if (a.temperature <= 0) {
    const penalised = (a.repetitionPenalty ?? 1) !== 1;
    if (penalised) sampleScores(step, { logits: a.logits, cols: a.cols, temperature: 1, penalty: a.repetitionPenalty!, seen: a.seen, z: s.z, chunks: s.chunks });
    argmax(step, { x: penalised ? s.z : a.logits, rows: 1, cols: a.cols, out: a.out });
    return;
  }
  const mode = filter(step, a, s);
  sampleDraw(step, { z: s.z, state: s.state, chunks: s.chunks, out: a.out, cols: a.cols, mode, uniform: a.uniform });
}

/** `count` draws from one row and setting, one per uniform (an f32 buffer), ids to out[0 … count). */
export function sampleMany(step: Step, a: Row & { uniforms: Binding; count: number; out: Binding }): void {
  check(a);
  if (a.temperature <= 0) throw new Error('sample: several draws need a temperature > 0 (≤ 0 is greedy)');
  const s = scratch(step, a.cols);
  const mode = filter(step, a, s);
  sampleDraw(step, { z: s.z, state: s.state, chunks: s.chunks, out: a.out, cols: a.cols, mode, uniform: { uniforms: a.uniforms, count: a.count } });
}

/** probs[0 … cols) = the distribution sample() draws from for this row and setting (temperature > 0). */
export function sampleProbs(step: Step, a: Row & { probs: Binding }): void {
  check(a);
  if (a.temperature <= 0) throw new Error('sample: the distribution needs a temperature > 0 (≤ 0 is greedy)');
  const s = scratch(step, a.cols);
  const mode = filter(step, a, s);
  sampleDraw(step, { z: s.z, state: s.state, chunks: s.chunks, out: s.id, cols: a.cols, mode, uniform: 0 });
  sampleProbsKernel(step, { z: s.z, state: s.state, chunks: s.chunks, probs: a.probs, cols: a.cols, mode });
}
