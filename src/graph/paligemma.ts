// PaliGemma = SigLIP → projector → Gemma. This file merges images and text into one sequence per
// request (each image's tokens in order, then the text, as Hugging Face fills image k's features
// into the k-th run of image tokens), lays out a (left-padded) batch, and runs the prefill and the
// decode steps up to the next-token logits. Choosing tokens and streaming them live in generate.ts.

import { releaseDestroyed, type CompileStats, type Gpu, type Recording, type Step } from '../device.js';
import { prepareWeights, unprepared } from '../kernels/matmul.js';
import type { LoadedCheckpoint } from '../loader/checkpoint.js';
import type { PaliGemmaConfig } from '../loader/config.js';
import type { GpuWeight } from '../weights.js';
import { Gemma, type Batch } from './gemma.js';
import { attachAdapters, type LoraAdapter } from './lora.js';
import type { GenerationTimings } from './generate.js';
import { Projector } from './projector.js';
import { Siglip } from './siglip.js';

export class ContextError extends Error {
  override name = 'ContextError';
}

export interface SequenceInput {
  /**
   * The sequence's images, [n, 3, S, S] f32 in [-1, 1] (see image/preprocess.ts): one image, or
   * several one after the other (a multi-image question, a short video's frames), n ≥ 1.
   */
  pixels: Float32Array;
  /** Text ids after the image tokens: <bos> + prompt + "\n". */
  textIds: number[];
}

/** Buffers sized for one request shape, reused until a request needs more. */
interface Plan {
  batch: number;
  length: number;
  maxNew: number;
  gemma: Gemma;
  /** The residual stream: [batch·length, hidden] in prefill, [batch, hidden] in decode. */
  x: GPUBuffer;
  ids: GPUBuffer;
  positions: GPUBuffer;
  /** Final-normed hidden states of every prefill row. */
  normed: GPUBuffer;
  /** Final-normed hidden state of each sequence's newest position. */
  last: GPUBuffer;
  logits: GPUBuffer;
  /** The decode step, recorded on first use (the same work for every token of this plan). */
  decodeStep?: Recording;
  /** The batch length and vision batch whose pipelines compileFor built. */
  compiledFor?: string;
}

/** Buffers of the vision pass, sized for the images of one request (grown when more come). */
interface VisionPlan {
  /** Images of the whole batch, in sequence order. */
  images: number;
  /** Images per SigLIP pass (all of them unless their activations exceed a binding). */
  chunk: number;
  /** [chunk, 3, S, S] */
  pixels: GPUBuffer;
  /** SigLIP's output [images·N, visionHidden]. */
  out: GPUBuffer;
  /** One pass's output when the images take several passes. */
  chunkOut?: GPUBuffer;
  /** Projector output [images·N, hidden]. */
  features: GPUBuffer;
}

/** Text tokens of precompile's stand-in prompt (<bos>, a task, a newline: a few; any length compiles the same kernels). */
const PRECOMPILE_TEXT = 8;

export class PaliGemma {
  readonly config: PaliGemmaConfig;
  readonly vision: Siglip;
  readonly projector: Projector;
  private visionPlan: VisionPlan | undefined;
  /**
   * Ablation: attend causally inside the prefix too, as causal-only runtimes wrongly do (the
   * outputs then differ from PaliGemma's; tests use it to prove the prefix is bidirectional).
   */
  causalPrefix = false;
  /** What the LM head soft-caps its logits by (0: none); see capLogits. */
  private logitSoftcap: number;
  private weightsPrepared = false;
  private plan: Plan | undefined;
  private current: Batch | undefined;
  /** Images per sequence of the current batch. */
  private imageCounts: number[] = [];
  /** Tokens so far per sequence (padded), i.e. the cache row of the next token. */
  private length = 0;
  /**
   * The most images one SigLIP pass takes (default: every image of the batch, as far as the
   * device's binding size allows). Benches lower it to 1 to compare with one pass per image.
   */
  maxVisionBatch = Infinity;
  private activeAdapters: readonly LoraAdapter[] = [];
  private adaptersMerged = false;
  private detachAdapters: () => void = () => {};
  /** Keep the queries that attentionMap() needs (one small copy per layer and step); set before generating. */
  recordQueries = false;

  constructor(readonly gpu: Gpu, readonly checkpoint: LoadedCheckpoint) {
    this.config = checkpoint.config;
    this.logitSoftcap = this.config.text.finalLogitSoftcap;
    const v = this.config.vision;
    this.vision = new Siglip(gpu, v, checkpoint.weights);
    this.projector = new Projector(checkpoint.weights);
  }

  /**
   * Whether the logits are soft-capped by text_config.final_logit_softcapping (PaliGemma 2; no cap
   * in PaliGemma 1's config). On by default, as in Hugging Face 4.45's Gemma2ForCausalLM, which the
   * fixtures come from; off as in HF ≥ 4.52's PaliGemmaForConditionalGeneration and big_vision's
   * transfer configs (docs/paligemma2.md). Greedy ids are the same either way; sampling is not.
   */
  get capLogits(): boolean {
    return this.logitSoftcap > 0;
  }

  set capLogits(on: boolean) {
    this.logitSoftcap = on ? this.config.text.finalLogitSoftcap : 0;
    // Recorded and compiled with the other LM head.
    if (this.plan) {
      this.plan.decodeStep = undefined;
      this.plan.compiledFor = undefined;
    }
  }

  /** The LoRA adapters applied (graph/lora.ts): none by default. */
  get adapters(): readonly LoraAdapter[] {
    return this.activeAdapters;
  }

  /** Whether the active adapters are merged into f32 copies of their weights (setAdapters' `merge`). */
  get merged(): boolean {
    return this.adaptersMerged;
  }

  /**
   * Applies these LoRA adapters from the next prefill on (their deltas add up), replacing those
   * before; [] is the base model. The base weights stay as loaded. `merge`: fold them into float32
   * copies of the weights they touch (faster matmuls for 4 bytes per element of those weights,
   * docs/lora.md). Not while a generation runs: the Pipeline's queue switches between batches.
   */
  setAdapters(adapters: readonly LoraAdapter[], opts: { merge?: boolean } = {}): void {
    const merge = !!opts.merge && adapters.length > 0;
    const same = merge === this.adaptersMerged && adapters.length === this.activeAdapters.length && adapters.every((a, i) => a === this.activeAdapters[i]);
    if (same) return;
    this.detachAdapters();
    // Recorded and compiled with the other adapters' kernels and buffers.
    if (this.plan) {
      this.plan.decodeStep = undefined;
      this.plan.compiledFor = undefined;
    }
    // The base model until the new ones are attached (if that throws, it stays so).
    this.detachAdapters = () => {};
    this.activeAdapters = [];
    this.adaptersMerged = false;
    this.detachAdapters = attachAdapters(this.gpu, this.checkpoint.weights, adapters, merge);
    this.activeAdapters = [...adapters];
    this.adaptersMerged = merge;
  }

  /** The ids generation stops on: every eos_token_id of config.json and of generation_config.json (PaliGemma 2 mix: 1 and 107). */
  get stopIds(): number[] {
    return [...new Set([...this.config.eosIds, ...(this.checkpoint.generation?.eosIds ?? [])])];
  }

  /** The longest sequence (image tokens + text + generated) the model accepts. */
  get contextLength(): number {
    return this.config.text.maxPositionEmbeddings;
  }

  /** How many images a sequence holds ([n, 3, S, S] pixel values), or a ContextError saying what is wrong with them. */
  imagesIn(input: SequenceInput): number {
    const size = this.config.vision.imageSize;
    const plane = 3 * size * size;
    const n = input.pixels.length / plane;
    if (!(Number.isInteger(n) && n >= 1)) {
      throw new ContextError(`pixel values must be [3, ${size}, ${size}] per image ([n, 3, ${size}, ${size}]: a whole multiple of ${plane} floats), got ${input.pixels.length} floats`);
    }
    return n;
  }

  /** Checks a request against the context and returns its left-padded layout. */
  layout(inputs: SequenceInput[], maxNewTokens: number): Batch {
    if (inputs.length === 0) throw new ContextError('no input sequences');
    const n = this.config.numImageTokens;
    const images = inputs.map((s) => this.imagesIn(s));
    for (const s of inputs) {
      if (s.textIds.length === 0) throw new ContextError('text ids must start with <bos>');
      const bad = s.textIds.find((id) => !Number.isInteger(id) || id < 0 || id >= this.config.text.vocabSize);
      if (bad !== undefined) throw new ContextError(`token id ${bad} is outside the vocabulary (${this.config.text.vocabSize})`);
    }
    const lengths = inputs.map((s, b) => images[b]! * n + s.textIds.length);
    const length = Math.max(...lengths);
    if (length + maxNewTokens > this.contextLength) {
      const b = lengths.indexOf(length);
      const k = images[b]!;
      throw new ContextError(
        `prompt too long: ${length} tokens (${k} image${k === 1 ? '' : 's'} × ${n} image tokens + ${length - k * n} text) + ${maxNewTokens} new tokens exceed the model's context of ${this.contextLength}`,
      );
    }
    return { size: inputs.length, length, pads: lengths.map((l) => length - l), prefixLen: this.causalPrefix ? 0 : length };
  }

  private ensurePlan(batch: Batch, maxNew: number): Plan {
    const p = this.plan;
    if (p && p.batch === batch.size && p.length >= batch.length && p.length + p.maxNew >= batch.length + maxNew) return p;
    this.destroyPlan();
    const t = this.config.text;
    const rows = batch.size * batch.length;
    const g = this.gpu;
    this.plan = {
      batch: batch.size,
      length: batch.length,
      maxNew,
      gemma: new Gemma(g, t, this.checkpoint.weights, rows, batch.length + maxNew, batch.size),
      x: g.buffer(rows * t.hiddenSize * 4, 'x'),
      ids: g.buffer(rows * 4, 'ids'),
      positions: g.buffer(rows * 4, 'positions'),
      normed: g.buffer(rows * t.hiddenSize * 4, 'normed'),
      last: g.buffer(batch.size * t.hiddenSize * 4, 'last'),
      logits: g.buffer(batch.size * t.vocabSize * 4, 'logits'),
    };
    return this.plan;
  }

  /** Vision buffers for `images` images in all, passed through SigLIP `maxImages` at a time. */
  private ensureVision(images: number): VisionPlan {
    if (!(this.maxVisionBatch >= 1)) throw new RangeError(`maxVisionBatch must be ≥ 1, got ${this.maxVisionBatch}`);
    const chunk = Math.min(images, this.vision.maxImages, Math.floor(this.maxVisionBatch));
    const p = this.visionPlan;
    if (p && p.images === images && p.chunk === chunk) return p;
    this.destroyVision();
    const v = this.config.vision;
    const rows = images * this.config.numImageTokens;
    this.vision.reserve(chunk);
    const g = this.gpu;
    this.visionPlan = {
      images,
      chunk,
      pixels: g.buffer(chunk * 3 * v.imageSize * v.imageSize * 4, 'pixels'),
      out: g.buffer(rows * v.hiddenSize * 4, 'vision.out'),
      chunkOut: chunk < images ? g.buffer(chunk * this.config.numImageTokens * v.hiddenSize * 4, 'vision.chunk') : undefined,
      features: g.buffer(rows * this.config.text.hiddenSize * 4, 'image_features'),
    };
    return this.visionPlan;
  }

  /** Once: Linear weights move into the layout the adapter's matmul kernels read fastest. */
  private async prepareWeights(gemma: Gemma): Promise<void> {
    if (this.weightsPrepared) return;
    await prepareWeights(this.gpu, this.linearWeights(gemma));
    this.weightsPrepared = true;
  }

  private linearWeights(gemma: Gemma): GpuWeight[] {
    return [...this.vision.linearWeights(), ...this.projector.linearWeights(), ...gemma.linearWeights()];
  }

  private get encoded(): VisionPlan {
    if (!this.visionPlan || !this.current) throw new Error('prefill() first');
    return this.visionPlan;
  }

  private get active(): { plan: Plan; batch: Batch } {
    if (!this.plan || !this.current) throw new Error('prefill() first');
    return { plan: this.plan, batch: this.current };
  }

  /**
   * Encodes the images (every image of the batch through SigLIP at once, as far as the bindings
   * allow), merges them with the scaled text embeddings (image features enter unscaled), and runs
   * every layer over the whole prefix; leaves next-token logits of each sequence in `logits`.
   * `alsoCompile` records the work that follows on the logits (generate's token choice), so that
   * its pipelines compile with the others, before anything runs.
   */
  async prefill(inputs: SequenceInput[], maxNewTokens: number, timings?: GenerationTimings, alsoCompile?: (step: Step, logits: GPUBuffer) => void): Promise<Batch> {
    const { batch, counts, plan, vision } = await this.prepare(inputs, maxNewTokens);
    const { numImageTokens: n, imageTokenId, padId } = this.config;
    const ids = new Uint32Array(batch.size * batch.length);
    const positions = new Uint32Array(batch.size * batch.length);
    inputs.forEach((s, b) => {
      const base = b * batch.length;
      const pad = batch.pads[b]!;
      const imageTokens = counts[b]! * n;
      ids.fill(padId, base, base + pad);
      ids.fill(imageTokenId, base + pad, base + pad + imageTokens);
      ids.set(s.textIds, base + pad + imageTokens);
      // Hugging Face numbers positions from 1, pads included (a uniform shift per sequence).
      for (let i = 0; i < batch.length; i++) positions[base + i] = i + 1;
    });
    this.gpu.write(plan.ids, ids);
    this.gpu.write(plan.positions, positions);

    const compiled = await this.compileFor(plan, vision, batch, alsoCompile);

    const t0 = performance.now();
    const plane = 3 * this.config.vision.imageSize ** 2;
    const images = inputs.flatMap((s, b) => Array.from({ length: counts[b]! }, (_, i) => s.pixels.subarray(i * plane, (i + 1) * plane)));
    for (let first = 0; first < images.length; first += vision.chunk) {
      const count = Math.min(vision.chunk, images.length - first);
      for (let i = 0; i < count; i++) this.gpu.write(vision.pixels, images[first + i]!, i * plane * 4);
      const step = this.gpu.step('vision');
      this.encodeImages(step, vision, first, count);
      step.end();
    }
    await this.gpu.finish('vision', images.length * this.visionFlops());
    const t1 = performance.now();

    const step = this.gpu.step('prefill');
    this.encodePrefill(step, plan, vision, batch);
    step.end();
    await this.gpu.finish('prefill', this.prefillFlops(batch.size * batch.length));
    if (timings) {
      timings.compileMs = compiled.ms;
      timings.compiledPipelines = compiled.pipelines;
      timings.visionMs = t1 - t0;
      timings.prefillMs = performance.now() - t1;
    }
    this.current = batch;
    this.length = batch.length;
    return batch;
  }

  /** What prefill and precompile share: the layout, its buffers, the weights in their kernels' layout. */
  private async prepare(inputs: SequenceInput[], maxNewTokens: number): Promise<{ batch: Batch; counts: number[]; plan: Plan; vision: VisionPlan }> {
    const batch = this.layout(inputs, maxNewTokens);
    const counts = inputs.map((s) => this.imagesIn(s));
    const plan = this.ensurePlan(batch, maxNewTokens);
    const vision = this.ensureVision(counts.reduce((a, b) => a + b, 0));
    this.imageCounts = counts;
    await this.prepareWeights(plan.gemma);
    plan.gemma.recordQueries(this.recordQueries ? maxNewTokens : 0);
    return { batch, counts, plan, vision };
  }

  /**
   * Compiles what a prefill of these sequences (their image counts, a short prompt) and its decode
   * steps run, and `alsoCompile`'s work on the logits, without running anything (graph/generate.ts
   * precompile). The kernels do not depend on the prompt's length: a longer one only grows the buffers.
   */
  async precompile(images: number[], maxNewTokens: number, alsoCompile?: (step: Step, logits: GPUBuffer) => void, opts: { ahead?: boolean } = {}): Promise<CompileStats> {
    const plane = 3 * this.config.vision.imageSize ** 2;
    const textIds = new Array<number>(PRECOMPILE_TEXT).fill(this.config.padId);
    const inputs = images.map((k) => ({ pixels: new Float32Array(k * plane), textIds }));
    // Ahead of the weights' values, only where none has to move: moving one reads it, and the kernels depend on where it lies.
    if (opts.ahead && unprepared(this.gpu, this.linearWeights(this.ensurePlan(this.layout(inputs, maxNewTokens), maxNewTokens).gemma)).length) return { pipelines: 0, ms: 0 };
    const { batch, plan, vision } = await this.prepare(inputs, maxNewTokens);
    return this.compileFor(plan, vision, batch, alsoCompile, opts.ahead);
  }

  /**
   * Images first..first+count−1 (in vision.pixels) through SigLIP as one batch, into their rows of
   * the vision output; after the last, every image through the projector in one GEMM.
   */
  private encodeImages(step: Step, vision: VisionPlan, first: number, count: number): void {
    const n = this.config.numImageTokens;
    const bytes = n * this.config.vision.hiddenSize * 4;
    if (vision.chunkOut) {
      this.vision.encode(step, vision.pixels, vision.chunkOut, count);
      step.copy(vision.chunkOut, 0, vision.out, first * bytes, count * bytes);
    } else {
      this.vision.encode(step, vision.pixels, vision.out, count);
    }
    if (first + count === vision.images) this.projector.project(step, vision.out, vision.features, vision.images * n);
  }

  /** Text embeddings with each sequence's image features in its image rows, every Gemma layer, the last rows' logits. */
  private encodePrefill(step: Step, plan: Plan, vision: VisionPlan, batch: Batch): void {
    const n = this.config.numImageTokens;
    const rowBytes = this.config.text.hiddenSize * 4;
    const rows = batch.size * batch.length;
    plan.gemma.embedTokens(step, plan.ids, plan.x, rows);
    let image = 0;
    for (let b = 0; b < batch.size; b++) {
      const k = this.imageCounts[b]!;
      step.copy(vision.features, image * n * rowBytes, plan.x, (b * batch.length + batch.pads[b]!) * rowBytes, k * n * rowBytes);
      image += k;
    }
    plan.gemma.prefill(step, plan.x, plan.positions, batch);
    plan.gemma.finalNormalize(step, plan.x, plan.normed, rows);
    for (let b = 0; b < batch.size; b++) {
      step.copy(plan.normed, ((b + 1) * batch.length - 1) * rowBytes, plan.last, b * rowBytes, rowBytes);
    }
    plan.gemma.logits(step, plan.last, plan.logits, batch.size, this.logitSoftcap);
  }

  /** One token per sequence from plan.ids through every layer to the next logits. */
  private encodeDecode(step: Step, plan: Plan, batch: Batch): void {
    plan.gemma.embedTokens(step, plan.ids, plan.x, batch.size);
    plan.gemma.decode(step, plan.x, plan.positions, batch, this.length);
    plan.gemma.finalNormalize(step, plan.x, plan.last, batch.size);
    plan.gemma.logits(step, plan.last, plan.logits, batch.size, this.logitSoftcap);
  }

  /**
   * Builds every pipeline the image, prefill and decode steps of this layout use (and `also`'s), by
   * recording them once, before any of them is submitted, and compiles them all in one wait
   * (Gpu.compile). Made mid-step, a pipeline waits for the work queued before it on lavapipe: the
   * LM head's, first needed at the end of the prefill, made the first prefill of the 3B model take
   * 89 s instead of 45. Compiled there, at its first dispatch, its time counted as vision or prefill.
   * `ahead`: beside the device while the weights stream (Gpu.compileAhead); a compileFor after the
   * load still records them, and finds them compiled.
   */
  private async compileFor(plan: Plan, vision: VisionPlan, batch: Batch, also?: (step: Step, logits: GPUBuffer) => void, ahead = false): Promise<CompileStats> {
    if (ahead) {
      return this.gpu.compileAhead((s) => {
        this.encodeAll(s, plan, vision, batch);
        also?.(s, plan.logits);
      });
    }
    const key = `${batch.length} ${vision.chunk} ${vision.images}`;
    const t0 = performance.now();
    const recordings: Recording[] = [];
    if (plan.compiledFor !== key) {
      recordings.push(
        this.gpu.record('compile', (s) => this.encodeAll(s, plan, vision, batch)),
      );
      plan.compiledFor = key;
    }
    if (also) recordings.push(this.gpu.record('compile', (s) => also(s, plan.logits)));
    const c = await this.gpu.compile(recordings);
    // A GPU's driver compiles in createComputePipeline, which recording calls: counted with the wait.
    return c.pipelines ? { pipelines: c.pipelines, ms: performance.now() - t0 } : c;
  }

  /** The last image pass, the prefill and a decode step: every kernel a request of this layout runs. */
  private encodeAll(step: Step, plan: Plan, vision: VisionPlan, batch: Batch): void {
    this.encodeImages(step, vision, vision.images - Math.min(vision.chunk, vision.images), Math.min(vision.chunk, vision.images));
    this.encodePrefill(step, plan, vision, batch);
    this.encodeDecode(step, plan, batch);
  }

  /** Next-token logits [batch, vocab] of the latest prefill or decode step. */
  get logits(): GPUBuffer {
    return this.active.plan.logits;
  }

  /** Final-normed hidden states of every prefill row [batch·length, hidden] (valid after prefill). */
  get prefillHidden(): GPUBuffer {
    return this.active.plan.normed;
  }

  /** Image features (projector output) [images·N, hidden] of the latest prefill: every image of every sequence, in order. */
  get imageFeatures(): GPUBuffer {
    return this.encoded.features;
  }

  /** SigLIP's output [images·N, visionHidden] of the latest prefill, in the order of imageFeatures. */
  get visionOut(): GPUBuffer {
    return this.encoded.out;
  }

  /** Images per sequence of the latest prefill (each takes numImageTokens positions, in order, before the text). */
  get images(): readonly number[] {
    if (!this.current) throw new Error('prefill() first');
    return this.imageCounts;
  }

  /** logits [rows, vocab] of final-normed rows (e.g. copies of `prefillHidden` rows). */
  logitsOf(step: Step, normed: GPUBuffer, out: GPUBuffer, rows: number): void {
    this.active.plan.gemma.logits(step, normed, out, rows, this.logitSoftcap);
  }

  /**
   * Feeds one token per sequence (`ids`: a u32 buffer of batch ids on the GPU, e.g. what the sampler
   * wrote) and leaves the next logits in `logits`.
   */
  decode(ids: GPUBuffer): void {
    const { plan, batch } = this.active;
    if (this.length >= plan.length + plan.maxNew) throw new ContextError('the KV cache is full (more tokens than planned)');
    this.gpu.write(plan.positions, new Uint32Array(batch.size).fill(this.length + 1));
    plan.gemma.setDecodeRow(this.length);
    const step = this.gpu.step('decode');
    // The recording reads the ids from plan.ids, whichever buffer the caller's ids are in.
    step.copy(ids, 0, plan.ids, 0, batch.size * 4);
    const record = (s: Step) => this.encodeDecode(s, plan, batch);
    if (plan.gemma.logsQueries) record(step);
    else step.replay((plan.decodeStep ??= this.gpu.record('decode', record)));
    step.end();
    this.length++;
  }

  /**
   * Where generated token `token` of `sequence` looked: the attention probabilities of one head of
   * `layer` (from the query that chose the token) over the sequence's positions, padding removed —
   * image patches first (numImageTokens per image, image by image: see `images`), then the text and
   * the tokens generated before it.
   * Needs `recordQueries` set before the prefill; valid until the next prefill.
   */
  async attentionMap(layer: number, head: number, token: number, sequence = 0): Promise<Float64Array> {
    const { plan, batch } = this.active;
    const t = this.config.text;
    if (!(layer >= 0 && layer < t.numLayers && head >= 0 && head < t.numHeads)) throw new RangeError(`no layer ${layer} / head ${head}`);
    if (!(sequence >= 0 && sequence < batch.size)) throw new RangeError(`no sequence ${sequence} in the batch`);
    // Token k was chosen by the query at cache row length-1+k, which exists once k decode steps ran.
    if (!(token >= 0 && token <= this.length - batch.length)) throw new RangeError(`token ${token} was not generated`);
    const pad = batch.pads[sequence]!;
    const keys = batch.length + token;
    const weights = await plan.gemma.attentionWeights(layer, head, token, sequence, keys, pad);
    return weights.subarray(pad);
  }

  /** Multiply-adds ×2 of one image through SigLIP and the projector. */
  visionFlops(): number {
    const v = this.config.vision;
    const n = v.numPatches;
    const perLayer = 2 * n * v.hiddenSize * (4 * v.hiddenSize + 2 * v.intermediateSize) + 4 * n * n * v.hiddenSize;
    return v.numLayers * perLayer + 2 * n * v.hiddenSize * (3 * v.patchSize * v.patchSize + this.config.text.hiddenSize);
  }

  private textParamsPerLayer(): number {
    const t = this.config.text;
    return t.hiddenSize * (t.numHeads + 2 * t.numKvHeads) * t.headDim + t.numHeads * t.headDim * t.hiddenSize + 3 * t.hiddenSize * t.intermediateSize;
  }

  /** FLOPs of a Gemma prefill over `rows` rows (attention included, logits of one row per sequence). */
  prefillFlops(rows: number): number {
    const t = this.config.text;
    return 2 * rows * t.numLayers * this.textParamsPerLayer() + 4 * rows * rows * t.numHeads * t.headDim * t.numLayers;
  }

  /** FLOPs of one decode step for `batch` sequences (all layers and the LM head). */
  decodeFlops(batch: number): number {
    const t = this.config.text;
    return 2 * batch * (t.numLayers * this.textParamsPerLayer() + t.vocabSize * t.hiddenSize);
  }

  destroyPlan(): void {
    const p = this.plan;
    if (!p) return;
    p.gemma.destroy();
    for (const b of [p.x, p.ids, p.positions, p.normed, p.last, p.logits]) b.destroy();
    this.plan = undefined;
    this.current = undefined;
    this.destroyVision();
  }

  private destroyVision(): void {
    const v = this.visionPlan;
    if (!v) return;
    for (const b of [v.pixels, v.out, v.chunkOut, v.features]) {
      if (!b) continue;
      this.gpu.forgetBuffer(b);
      b.destroy();
    }
    this.visionPlan = undefined;
  }

  /** Frees the model's own buffers (plans, activations, the vision encoder's); the weights are the checkpoint's (destroyWeights). */
  destroy(): void {
    this.destroyPlan();
    this.vision.destroy();
    releaseDestroyed(this.gpu.device);
  }
}
