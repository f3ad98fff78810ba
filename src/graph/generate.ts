// Token generation: greedy by default, or temperature / top-k / top-p sampling with a seed, on the
// GPU — only the chosen ids come back. Tokens are yielded as they come; each sequence stops at an
// end-of-sequence id, the whole batch at max new tokens or when every sequence has stopped.

import type { CompileStats, Gpu, Step } from '../device.js';
import { argmax } from '../kernels/argmax.js';
import { sample } from '../kernels/sample.js';
import { markSeen, seenBits, seenWords } from '../kernels/seen-mark.js';
import type { PaliGemmaConfig } from '../loader/config.js';
import type { GenerationConfig } from '../loader/extra-config.js';
import type { PaliGemma, SequenceInput } from './paligemma.js';

/** max_new_tokens when not given (Hugging Face's max_length default of 20, counted in new tokens). */
export const DEFAULT_MAX_NEW = 20;

/** A sequence's input row as Hugging Face's repetition penalty sees it: left pads, image tokens, text. */
export function inputRow(cfg: PaliGemmaConfig, textIds: readonly number[], pads: number): number[] {
  return [...Array<number>(pads).fill(cfg.padId), ...Array<number>(cfg.numImageTokens).fill(cfg.imageTokenId), ...textIds];
}

/**
 * How tokens are chosen, as Hugging Face's generate() takes it. Each field left out comes from the
 * checkpoint's generation_config.json, else from Hugging Face's defaults (see resolveSampling).
 */
export interface Sampling {
  /** Sample instead of taking the argmax (default: on when temperature > 0 is given, else the config's do_sample). */
  doSample?: boolean;
  /** Divides the logits (default 1); ≤ 0 means greedy. */
  temperature?: number;
  /** Keep the k most likely tokens and every tie with the k-th (0 = no limit; default 50). */
  topK?: number;
  /** Keep the most likely tokens whose probabilities add up to p (1 = no limit; default 1). */
  topP?: number;
  /** Hugging Face's repetition_penalty over every id already in the sequence, prompt included (1 = off; also applies greedily). */
  repetitionPenalty?: number;
  /** Sequence b of a batch draws from its own stream seeded seed + b (so its draws do not depend on the others). */
  seed?: number;
}

/** Every sampling setting decided: what a run used, to reproduce it. */
export type ResolvedSampling = Required<Sampling>;

/** The caller's settings, then the checkpoint's generation_config.json, then Hugging Face's defaults. */
export function resolveSampling(opts: Sampling, config: GenerationConfig | null = null): ResolvedSampling {
  const doSample = opts.doSample ?? (opts.temperature !== undefined ? opts.temperature > 0 : (config?.doSample ?? false));
  return {
    doSample,
    temperature: opts.temperature ?? config?.temperature ?? 1,
    topK: opts.topK ?? config?.topK ?? 50,
    topP: opts.topP ?? config?.topP ?? 1,
    repetitionPenalty: opts.repetitionPenalty ?? config?.repetitionPenalty ?? 1,
    seed: opts.seed ?? 0,
  };
}

export interface GenerateOptions extends Sampling {
  maxNewTokens?: number;
  /** Ids that end a sequence (default: the config's <eos>). */
  stopIds?: number[];
  signal?: AbortSignal;
  /** Called for every token as it comes, like the async iterator. */
  onToken?: (t: GeneratedToken) => void;
  /** CPU time of the calling thread in ms, for `cpuMsPerDecodeStep` (Node: src/node/thread-cpu.ts). */
  threadCpuMs?: () => number | undefined;
  /**
   * Record and submit each decode step before reading the previous token's ids (default true).
   * False waits for every token first: slower, but each step's GPU work then ends before the next
   * is submitted (per-step profiling). A logits callback implies false.
   */
  runAhead?: boolean;
  /** Called after each step with the logits buffer the tokens were chosen from (for dumps). */
  onLogits?: (logits: GPUBuffer, step: number) => Promise<void>;
  /** Each sequence's seed instead of seed + b (the Pipeline's queue keeps every request's own seeds). */
  seeds?: number[];
  /**
   * Whether the repetition penalty counts a sequence's left pads as seen ids, as Hugging Face does in a
   * padded batch (default true). The Pipeline's queue turns it off: a request's tokens then do not
   * depend on the requests it happens to be batched with.
   */
  padsSeen?: boolean;
}

export interface GeneratedToken {
  sequence: number;
  id: number;
  /** 0-based index among this sequence's generated tokens. */
  index: number;
}

export interface GenerationTimings {
  /** Pipelines compiled before this generation's first step (0 when the model had them all), and the time to build them (creation and the compile wait). */
  compiledPipelines: number;
  compileMs: number;
  /** Host work of the request before the vision pass (layout, buffers, uploads), pipeline builds excluded. */
  setupMs: number;
  visionMs: number;
  prefillMs: number;
  /** From the end of the prefill to the first ids on the CPU: the token choice, its readback, the run-ahead step's encoding. */
  firstChoiceMs: number;
  /** From the call to the first ids: setup, compile wait, vision, prefill and first choice. */
  firstTokenMs: number;
  decodeMs: number;
  decodeSteps: number;
  /** Main-thread CPU time per decode step (encoding, and polling while waiting); NaN when unknown. */
  cpuMsPerDecodeStep: number;
  /** Wall time per decode step spent recording and submitting it (the CPU's share of a token). */
  encodeMsPerDecodeStep: number;
}

/** Timings before anything ran. */
export function noTimings(): GenerationTimings {
  return { compiledPipelines: 0, compileMs: 0, setupMs: 0, visionMs: 0, prefillMs: 0, firstChoiceMs: 0, firstTokenMs: 0, decodeMs: 0, decodeSteps: 0, cpuMsPerDecodeStep: NaN, encodeMsPerDecodeStep: 0 };
}

/** mulberry32: the seeded uniform source for sampling. */
function uniforms(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Generation implements AsyncIterable<GeneratedToken> {
  readonly timings: GenerationTimings = noTimings();
  /** Generated ids per sequence (stop ids excluded). */
  readonly ids: number[][];
  /** The settings tokens are chosen with (the options, the checkpoint's generation config, HF's defaults). */
  readonly sampling: ResolvedSampling;
  /** Per sequence: ended (a stop id, or stop()); its tokens are no longer yielded. */
  private readonly done: boolean[];

  constructor(
    private readonly model: PaliGemma,
    private readonly inputs: SequenceInput[],
    private readonly opts: GenerateOptions = {},
  ) {
    this.ids = inputs.map(() => []);
    this.done = inputs.map(() => false);
    this.sampling = resolveSampling(opts, model.checkpoint.generation);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GeneratedToken> {
    const { model, opts } = this;
    const gpu = model.gpu;
    const cfg = model.config;
    const maxNew = opts.maxNewTokens ?? DEFAULT_MAX_NEW;
    const stop = new Set(opts.stopIds ?? model.stopIds);
    const s = this.sampling;
    const random = this.inputs.map((_, b) => uniforms(opts.seeds?.[b] ?? s.seed + b));
    const vocab = cfg.text.vocabSize;
    const t0 = performance.now();
    const size = this.inputs.length;
    // Two id buffers: while the ids of step k are read back, step k + 1 already writes the other.
    const chosen = [gpu.buffer(size * 4, 'chosen.0'), gpu.buffer(size * 4, 'chosen.1')] as const;
    const choice = new TokenChoice(gpu, s, size, vocab);
    const seen = choice.seen;
    // The token choice from `logits` into `out`; `draw` false only records it (no random number used).
    const choose = (step: Step, logits: GPUBuffer, out: GPUBuffer, draw: boolean) => choice.record(step, logits, out, draw ? (b) => random[b]!() : undefined);
    const select = (out: GPUBuffer) => {
      const step = gpu.step('select');
      choose(step, model.logits, out, true);
      step.end();
    };
    // The next token needs no id on the CPU (the chosen ids stay on the GPU), so the next decode
    // step is recorded and submitted before this token's ids are read: the GPU never waits for the
    // readback and the encoding. When a sequence stops at <eos>, that one step is thrown away.
    // A logits callback must see each step's logits before the next overwrites them: no run-ahead.
    const runAhead = !opts.onLogits && opts.runAhead !== false;
    let encodeMs = 0;
    const next = (k: number) => {
      const t = performance.now();
      model.decode(chosen[k % 2]);
      select(chosen[(k + 1) % 2]);
      encodeMs += performance.now() - t;
    };
    const done = this.done;
    let decodeStart = 0;
    let cpu0: number | undefined;
    try {
      // The token choice's pipelines compile with the model's, before anything runs.
      const batch = await model.prefill(this.inputs, maxNew, this.timings, (step, logits) => choose(step, logits, chosen[0], false));
      const prefillEnd = performance.now();
      if (seen) {
        this.inputs.forEach((input, b) => {
          const pads = opts.padsSeen === false ? 0 : batch.pads[b]!;
          gpu.write(seen, seenBits(inputRow(cfg, input.textIds, pads), vocab), b * seenWords(vocab) * 4);
        });
      }
      select(chosen[0]);
      for (let k = 0; k < maxNew; k++) {
        opts.signal?.throwIfAborted();
        if (done.every(Boolean)) break;
        if (opts.onLogits) await opts.onLogits(model.logits, k);
        // The first token waits for the token choice alone (the prefill was awaited), not a decode step:
        // guessed as one, its wait slept ≈ 0.9 of a decode step (0.6 s on lavapipe's 3B) before polling.
        const work = k === 0 ? size * vocab : model.decodeFlops(size);
        const pending = gpu.read(chosen[k % 2], 0, size * 4, k === 0 ? 'first-token' : 'decode-token', work);
        const last = k === maxNew - 1;
        if (runAhead && !last) next(k);
        const ids = new Uint32Array(await pending);
        if (k === 0) {
          decodeStart = performance.now();
          const tm = this.timings;
          tm.firstTokenMs = decodeStart - t0;
          tm.firstChoiceMs = decodeStart - prefillEnd;
          tm.setupMs = prefillEnd - t0 - tm.compileMs - tm.visionMs - tm.prefillMs;
          cpu0 = opts.threadCpuMs?.();
        } else {
          this.timings.decodeSteps++;
        }
        for (let b = 0; b < size; b++) {
          if (done[b]) continue;
          const id = ids[b]!;
          if (stop.has(id)) {
            done[b] = true;
            continue;
          }
          const token = { sequence: b, id, index: this.ids[b]!.length };
          this.ids[b]!.push(id);
          opts.onToken?.(token);
          yield token;
        }
        if (done.every(Boolean) || last) break;
        if (!runAhead) next(k);
      }
    } finally {
      if (this.timings.decodeSteps > 0) {
        this.timings.decodeMs = performance.now() - decodeStart;
        const cpu1 = opts.threadCpuMs?.();
        this.timings.cpuMsPerDecodeStep = cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / this.timings.decodeSteps : NaN;
        this.timings.encodeMsPerDecodeStep = encodeMs / this.timings.decodeSteps;
      }
      // WebGPU defers freeing until submitted work (a run-ahead step) is done.
      for (const b of chosen) (gpu.forgetBuffer(b), b.destroy());
      choice.destroy();
    }
  }

  /**
   * Ends one sequence now: none of its tokens are yielded from here on, and the run ends at the next
   * step once no sequence is left (a caller that cancels one request of a shared batch).
   */
  stop(sequence: number): void {
    if (!(sequence >= 0 && sequence < this.done.length)) throw new RangeError(`no sequence ${sequence} in the batch`);
    this.done[sequence] = true;
  }

  /** Runs to the end and returns the ids per sequence. */
  async run(): Promise<number[][]> {
    for await (const _ of this) {
      /* tokens are collected in this.ids */
    }
    return this.ids;
  }
}

/**
 * How each sequence's next id is chosen from its logits: argmax (greedy, no penalty) or the sampler
 * (temperature, top-k, top-p, repetition penalty over the ids in `seen`), recorded into steps.
 */
class TokenChoice {
  /** The repetition penalty's ids per sequence (one bit per vocabulary id), with a penalty only. */
  readonly seen: GPUBuffer | undefined;
  private readonly pick: GPUBuffer;
  private readonly greedy: boolean;
  private readonly words: number;

  constructor(
    private readonly gpu: Gpu,
    private readonly s: ResolvedSampling,
    private readonly size: number,
    private readonly vocab: number,
  ) {
    this.greedy = !s.doSample || s.temperature <= 0;
    this.words = seenWords(vocab);
    this.pick = gpu.buffer(4, 'pick');
    this.seen = s.repetitionPenalty !== 1 ? gpu.buffer(size * this.words * 4, 'seen ids') : undefined;
  }

  /** Sequence b's id from row b of `logits` into out[b]; `uniform(b)` is its draw (none: only recorded, to compile). */
  record(step: Step, logits: GPUBuffer, out: GPUBuffer, uniform?: (b: number) => number): void {
    const { s, size, vocab, words, seen } = this;
    if (this.greedy && !seen) {
      argmax(step, { x: logits, rows: size, cols: vocab, out });
    } else {
      for (let b = 0; b < size; b++) {
        const row = { buffer: logits, offset: b * vocab * 4, size: vocab * 4 };
        const seenRow = seen && { buffer: seen, offset: b * words * 4, size: words * 4 };
        const temperature = this.greedy ? 0 : s.temperature;
        sample(step, { logits: row, cols: vocab, temperature, topK: s.topK, topP: s.topP, repetitionPenalty: s.repetitionPenalty, seen: seenRow, uniform: uniform?.(b) ?? 0, out: this.pick });
        step.copy(this.pick, 0, out, b * 4, 4);
      }
    }
    if (seen) markSeen(step, { ids: out, seen, rows: size, words });
  }

  destroy(): void {
    for (const b of [this.pick, ...(this.seen ? [this.seen] : [])]) (this.gpu.forgetBuffer(b), b.destroy());
  }
}

/**
 * Compiles every pipeline a request of this shape will run — one sequence per entry of `images`
 * (its image count), `opts` as generate() takes them — without running anything; the request then
 * compiles nothing. lavapipe compiles on its own threads: call it, let it submit (one turn of the
 * event loop), and do other work (a tokenizer to parse) while it compiles. Not during a generation.
 * `ahead`: while the weights still stream (loadCheckpoint's beforeStream), without the device's
 * queue (Gpu.compileAhead); a precompile after the load then finds the pipelines compiled.
 */
export async function precompile(model: PaliGemma, images: number[], opts: GenerateOptions = {}, when: { ahead?: boolean } = {}): Promise<CompileStats> {
  const gpu = model.gpu;
  const choice = new TokenChoice(gpu, resolveSampling(opts, model.checkpoint.generation), images.length, model.config.text.vocabSize);
  const out = gpu.buffer(images.length * 4, 'precompile ids');
  try {
    return await model.precompile(images, opts.maxNewTokens ?? DEFAULT_MAX_NEW, (step, logits) => choice.record(step, logits, out), when);
  } finally {
    gpu.forgetBuffer(out);
    out.destroy();
    choice.destroy();
  }
}

export function generate(model: PaliGemma, inputs: SequenceInput[], opts: GenerateOptions = {}): Generation {
  return new Generation(model, inputs, opts);
}
