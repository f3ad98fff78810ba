// Many callers, one model: requests wait in a fair queue, and those waiting when the GPU frees up
// share the next left-padded batch. Each caller streams only its own tokens, can cancel alone, and
// fails alone. Why a running batch takes no newcomers (no continuous batching): docs/concurrency.md.

import { GpuError } from './device.js';
import { DEFAULT_MAX_NEW, generate, noTimings, resolveSampling, type GeneratedToken, type GenerateOptions, type Generation, type GenerationTimings, type ResolvedSampling } from './graph/generate.js';
import type { LoraAdapter } from './graph/lora.js';
import type { PaliGemma, SequenceInput } from './graph/paligemma.js';

/** One caller's generation through the queue: its own sequences, numbered from 0, and only its tokens. */
export class QueuedGeneration implements AsyncIterable<GeneratedToken> {
  /** Generated ids per sequence (stop ids excluded). */
  readonly ids: number[][];
  readonly sampling: ResolvedSampling;
  private readonly tokens: GeneratedToken[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  /** Consumers waiting for the next token (more than one may iterate). */
  private wakers: (() => void)[] = [];
  private batch: Generation | undefined;
  /** @internal Set by the queue: takes this call out of the queue, or out of the batch it runs in. */
  withdraw: () => void = () => {};

  constructor(readonly size: number, sampling: ResolvedSampling) {
    this.ids = Array.from({ length: size }, () => []);
    this.sampling = sampling;
  }

  /** The timings of the batch this request ran in (zero until it starts). */
  get timings(): GenerationTimings {
    return this.batch?.timings ?? noTimings();
  }

  /** Sequences in the batch this request runs in, its own included (0 until it starts). */
  get batchSize(): number {
    return this.batch?.ids.length ?? 0;
  }

  /** Whether no more tokens will come (all generated, failed or cancelled). */
  get settled(): boolean {
    return this.ended || this.failure !== undefined;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GeneratedToken> {
    let next = 0;
    let finished = false;
    try {
      for (;;) {
        // A failure (an abort included) ends the stream at once, before tokens still buffered.
        if (this.failure) throw this.failure.error;
        if (next < this.tokens.length) yield this.tokens[next++]!;
        else if (this.ended) break;
        else await new Promise<void>((r) => this.wakers.push(r));
      }
      finished = true;
    } finally {
      // A consumer that leaves the loop early (break, return) no longer wants the rest.
      if (!finished) this.cancel();
    }
  }

  /** Ends this call now: it leaves the queue or its batch, and its stream ends after the tokens so far. */
  cancel(): void {
    if (this.settled) return;
    this.withdraw();
    this.end();
  }

  /** Runs to the end and returns the ids per sequence. */
  async run(): Promise<number[][]> {
    for await (const _ of this) {
      /* tokens are collected in this.ids */
    }
    return this.ids;
  }

  /** @internal The batch it runs in. */
  started(batch: Generation): void {
    this.batch = batch;
  }

  /** @internal */
  push(token: GeneratedToken): void {
    this.ids[token.sequence]!.push(token.id);
    this.tokens.push(token);
    this.wakeUp();
  }

  /** @internal */
  end(): void {
    if (this.settled) return;
    this.ended = true;
    this.wakeUp();
  }

  /** @internal */
  fail(error: unknown): void {
    if (this.settled) return;
    this.failure = { error };
    this.wakeUp();
  }

  private wakeUp(): void {
    for (const w of this.wakers.splice(0)) w();
  }
}

interface Job {
  inputs: SequenceInput[];
  opts: GenerateOptions;
  maxNew: number;
  stop: Set<number>;
  /** The LoRA adapters it runs with (those set when it was submitted), merged or not. */
  adapters: readonly LoraAdapter[];
  merge: boolean;
  /** Jobs share a batch only when every setting but the seed and the length matches, adapters included. */
  key: string;
  out: QueuedGeneration;
  /** Removes the abort listener. */
  detach: () => void;
}

let soloKeys = 0;

export class RequestQueue {
  private readonly queue: Job[] = [];
  private busy = false;
  /** Set once the device is lost: every later request gets it. */
  private broken: GpuError | undefined;
  /** The LoRA adapters requests submitted from now on run with (the model switches between batches). */
  adapters: readonly LoraAdapter[] = [];
  /** Whether they run merged into f32 copies of their weights (PaliGemma.setAdapters). */
  mergeAdapters = false;

  /** `maxBatch`: the most sequences merged into one batch (each costs KV cache and activations). */
  constructor(readonly model: PaliGemma, public maxBatch = 8) {}

  /** Requests waiting for the GPU (not counting the batch that runs). */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Queues one caller's sequences (checked now: a request the model cannot take throws here and
   * never enters the queue) and returns its stream. They run as one batch, with others if the
   * settings match and room is left.
   */
  submit(inputs: SequenceInput[], opts: GenerateOptions = {}): QueuedGeneration {
    this.throwIfBroken();
    const maxNew = opts.maxNewTokens ?? DEFAULT_MAX_NEW;
    this.model.layout(inputs, maxNew);
    const sampling = resolveSampling(opts, this.model.checkpoint.generation);
    const stop = new Set(opts.stopIds ?? this.model.stopIds);
    const { seed: _, ...shared } = sampling;
    const adapters = this.adapters;
    const merge = this.mergeAdapters && adapters.length > 0;
    const lora = adapters.map((a) => a.id);
    const key = opts.onLogits ? `solo ${soloKeys++}` : JSON.stringify({ shared, stop: [...stop].sort((a, b) => a - b), runAhead: opts.runAhead !== false, lora, merge });
    const out = new QueuedGeneration(inputs.length, sampling);
    const signal = opts.signal;
    const job: Job = { inputs, opts, maxNew, stop, key, adapters, merge, out, detach: () => signal?.removeEventListener('abort', onAbort) };
    const onAbort = () => {
      out.withdraw();
      out.fail(signal!.reason);
    };
    out.withdraw = () => {
      job.detach();
      const i = this.queue.indexOf(job);
      if (i >= 0) this.queue.splice(i, 1);
    };
    if (signal?.aborted) {
      out.fail(signal.reason);
      return out;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    this.queue.push(job);
    if (!this.busy) {
      this.busy = true;
      void this.drain();
    }
    return out;
  }

  private throwIfBroken(): void {
    if (!this.broken && this.model.gpu.lost !== undefined) this.broken = lostError(this.model.gpu.lost);
    if (this.broken) throw this.broken;
  }

  private async drain(): Promise<void> {
    do {
      // A task's turn before each batch: callers in the same tick (Promise.all over requests) and
      // those that answer the end of their previous request with a new one join it.
      await new Promise((r) => setTimeout(r, 0));
      if (this.queue.length) await this.runBatch(this.take());
    } while (this.queue.length);
    this.busy = false;
  }

  /** The oldest job, and after it (in arrival order) those that can share its batch. */
  private take(): Job[] {
    const head = this.queue.shift()!;
    const jobs = [head];
    let size = head.inputs.length;
    for (const job of [...this.queue]) {
      if (job.key !== head.key || size + job.inputs.length > this.maxBatch || !this.fits([...jobs, job])) continue;
      jobs.push(job);
      size += job.inputs.length;
      this.queue.splice(this.queue.indexOf(job), 1);
    }
    return jobs;
  }

  private fits(jobs: Job[]): boolean {
    try {
      this.model.layout(jobs.flatMap((j) => j.inputs), Math.max(...jobs.map((j) => j.maxNew)));
      return true;
    } catch {
      return false;
    }
  }

  /** Runs one batch to its end; never throws (each job's outcome goes to its caller). */
  private async runBatch(jobs: Job[]): Promise<void> {
    try {
      this.model.setAdapters(jobs[0]!.adapters, { merge: jobs[0]!.merge });
    } catch (e) {
      for (const job of jobs) {
        job.detach();
        job.out.fail(e);
      }
      return;
    }
    const head = jobs[0]!.opts;
    const owner: { job: Job; local: number }[] = jobs.flatMap((job) => job.inputs.map((_, local) => ({ job, local })));
    const seeds = jobs.flatMap((j) => j.inputs.map((_, b) => j.out.sampling.seed + b));
    const batch = generate(
      this.model,
      jobs.flatMap((j) => j.inputs),
      {
        ...head,
        maxNewTokens: Math.max(...jobs.map((j) => j.maxNew)),
        // Stop ids and lengths are each caller's: the queue ends their sequences itself.
        stopIds: [],
        seeds,
        padsSeen: false,
        signal: undefined,
        onToken: undefined,
      },
    );
    const live = new Map<Job, Set<number>>();
    let first = 0;
    for (const job of jobs) {
      const rows = job.inputs.map((_, b) => first + b);
      first += rows.length;
      live.set(job, new Set(rows));
      job.out.started(batch);
      job.out.withdraw = () => {
        job.detach();
        for (const s of live.get(job)!) batch.stop(s);
        live.get(job)!.clear();
      };
    }
    const endSequence = (job: Job, s: number) => {
      batch.stop(s);
      const rows = live.get(job)!;
      rows.delete(s);
      if (rows.size === 0) {
        job.detach();
        job.out.end();
      }
    };
    try {
      for await (const t of batch) {
        const { job, local } = owner[t.sequence]!;
        if (job.out.settled) continue;
        if (job.stop.has(t.id)) {
          endSequence(job, t.sequence);
          continue;
        }
        const token = { sequence: local, id: t.id, index: job.out.ids[local]!.length };
        job.out.push(token);
        try {
          job.opts.onToken?.(token);
        } catch (e) {
          job.out.withdraw();
          job.out.fail(e);
          continue;
        }
        if (job.out.ids[local]!.length >= job.maxNew) endSequence(job, t.sequence);
      }
      for (const job of jobs) {
        job.detach();
        job.out.end();
      }
    } catch (e) {
      const lost = this.model.gpu.lost;
      const error = lost !== undefined ? (this.broken ??= lostError(lost)) : e;
      for (const job of jobs) {
        job.detach();
        job.out.fail(error);
      }
      if (lost !== undefined) {
        for (const job of this.queue.splice(0)) {
          job.detach();
          job.out.fail(error);
        }
      }
    }
  }
}

function lostError(reason: string): GpuError {
  return new GpuError(`GPU device lost (${reason}): this model's buffers are gone; load the model again on a new device`);
}
