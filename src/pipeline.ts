// The runtime as users meet it: image + prompt in, text (and boxes / mask codewords) out.
// Shared by the CLI, the Node API and the browser playground. Safe to call from many callers at
// once: requests queue and are batched (request-queue.ts, docs/concurrency.md).

import { loadLoraAdapter, type LoraAdapter } from './graph/lora.js';
import type { PaliGemma, SequenceInput } from './graph/paligemma.js';
import type { FileSource } from './loader/source.js';
import type { GenerateOptions } from './graph/generate.js';
import type { RgbImage } from './image/decode.js';
import { preprocessImage } from './image/preprocess.js';
import type { PreprocessorConfig } from './loader/extra-config.js';
import { RequestQueue, type QueuedGeneration } from './request-queue.js';
import { parseDetections, parseSegmentations, type Detection, type Segmentation } from './tasks.js';
import type { PaliGemmaTokenizer } from './tokenizer/tokenizer.js';

export interface Request {
  /**
   * The image, or several in one sequence (a multi-image question, a short video's frames): their
   * image tokens come in this order before the prompt. Boxes and masks are in the first image's pixels.
   */
  image: RgbImage | readonly RgbImage[];
  /** A task prompt ("caption en", "detect cat ; dog", …), tokenized as <bos> + prompt + "\n". */
  prompt?: string;
  /** Or the text ids directly (starting with <bos>). */
  ids?: number[];
}

export interface Result {
  ids: number[];
  /** Generated text, special tokens skipped, <loc>/<seg> kept (as Hugging Face decodes). */
  text: string;
  detections: Detection[];
  segmentations: Segmentation[];
}

/** A request's images as a list (one or several). */
export function imagesOf(image: Request['image']): readonly RgbImage[] {
  return 'rgb' in image ? [image] : image;
}

export class Pipeline {
  private readonly queue: RequestQueue;

  constructor(
    readonly model: PaliGemma,
    readonly tokenizer: PaliGemmaTokenizer,
    readonly preprocessor: PreprocessorConfig | null = null,
  ) {
    this.queue = new RequestQueue(model);
  }

  /** The most sequences that concurrent requests are merged into (default 8; each costs its KV cache and activations). */
  get maxBatch(): number {
    return this.queue.maxBatch;
  }

  set maxBatch(n: number) {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`maxBatch must be a whole number ≥ 1, got ${n}`);
    this.queue.maxBatch = n;
  }

  /**
   * The LoRA adapters that requests submitted from now on run with (their deltas add up; [] = the
   * base model). Requests already queued or running keep the adapters they were submitted with:
   * the queue switches the model between batches, and batches only requests with the same ones.
   * `merge`: fold them into float32 copies of the weights they touch (PaliGemma.setAdapters).
   */
  setAdapters(adapters: readonly LoraAdapter[], opts: { merge?: boolean } = {}): void {
    for (const a of adapters) {
      if (a.gpu !== this.model.gpu) throw new Error(`LoRA adapter ${a.name} was loaded on another device`);
      if (a.isDestroyed) throw new Error(`LoRA adapter ${a.name} was destroyed`);
    }
    this.queue.adapters = [...adapters];
    this.queue.mergeAdapters = !!opts.merge;
  }

  get adapters(): readonly LoraAdapter[] {
    return this.queue.adapters;
  }

  /** Whether requests submitted from now on run with their adapters merged (setAdapters' `merge`). */
  get adaptersMerged(): boolean {
    return this.queue.mergeAdapters && this.queue.adapters.length > 0;
  }

  /** Reads a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) for this model; setAdapters applies it. */
  loadAdapter(source: FileSource): Promise<LoraAdapter> {
    return loadLoraAdapter(this.model.gpu, this.model.checkpoint.weights, source);
  }

  /** Pixels [n, 3, S, S] of one image or several, exactly as Hugging Face's processor makes them. */
  pixels(image: RgbImage | readonly RgbImage[]): Float32Array {
    const p = this.preprocessor;
    const images = imagesOf(image);
    if (images.length === 0) throw new RangeError('a request needs at least one image');
    const size = this.model.config.vision.imageSize;
    const plane = 3 * size * size;
    const out = new Float32Array(images.length * plane);
    images.forEach((img, i) => out.set(preprocessImage(img.rgb, img.width, img.height, size, { mean: p?.mean, std: p?.std, rescale: p?.rescaleFactor }), i * plane));
    return out;
  }

  input(r: Request): SequenceInput {
    const textIds = r.ids ?? this.tokenizer.encodePrompt(r.prompt ?? '');
    return { pixels: this.pixels(r.image), textIds };
  }

  /**
   * Queues one or more requests (run as one left-padded batch, with other callers' requests when
   * they wait at the same time and use the same settings); iterate the result to stream this call's
   * tokens. A request the model cannot take (image, length) throws here, alone; `opts.signal` ends
   * this call at the next step without touching the others.
   */
  generate(requests: Request[], opts: GenerateOptions = {}): QueuedGeneration {
    return this.queue.submit(
      requests.map((r) => this.input(r)),
      opts,
    );
  }

  /** Text and task results for what a generation produced. */
  results(requests: Request[], ids: number[][]): Result[] {
    return requests.map((r, i) => {
      const text = this.tokenizer.decode(ids[i]!);
      const { width, height } = imagesOf(r.image)[0]!;
      const task = (r.prompt ?? '').trimStart().split(/\s+/, 1)[0];
      return {
        ids: ids[i]!,
        text,
        detections: task === 'detect' ? parseDetections(text, width, height) : [],
        segmentations: task === 'segment' ? parseSegmentations(text, width, height) : [],
      };
    });
  }

  /** Generates to the end. */
  async run(requests: Request[], opts: GenerateOptions = {}): Promise<Result[]> {
    const g = this.generate(requests, opts);
    return this.results(requests, await g.run());
  }
}
