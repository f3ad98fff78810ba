// The runtime as users meet it: image + prompt in, text (and boxes / mask codewords) out.
// Shared by the CLI, the Node API and the browser playground.

import type { PaliGemma, SequenceInput } from './graph/paligemma.js';
import { generate, type GenerateOptions, type Generation } from './graph/generate.js';
import type { RgbImage } from './image/decode.js';
import { preprocessImage } from './image/preprocess.js';
import type { PreprocessorConfig } from './loader/extra-config.js';
import { parseDetections, parseSegmentations, type Detection, type Segmentation } from './tasks.js';
import type { PaliGemmaTokenizer } from './tokenizer/tokenizer.js';

export interface Request {
  image: RgbImage;
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

export class Pipeline {
  constructor(
    readonly model: PaliGemma,
    readonly tokenizer: PaliGemmaTokenizer,
    readonly preprocessor: PreprocessorConfig | null = null,
  ) {}

  /** Pixels [3, S, S] exactly as Hugging Face's processor makes them. */
  pixels(image: RgbImage): Float32Array {
    const p = this.preprocessor;
    return preprocessImage(image.rgb, image.width, image.height, this.model.config.vision.imageSize, {
      mean: p?.mean,
      std: p?.std,
      rescale: p?.rescaleFactor,
    });
  }

  input(r: Request): SequenceInput {
    const textIds = r.ids ?? this.tokenizer.encodePrompt(r.prompt ?? '');
    return { pixels: this.pixels(r.image), textIds };
  }

  /** Starts generating for one or more requests (a left-padded batch); iterate it to stream tokens. */
  generate(requests: Request[], opts: GenerateOptions = {}): Generation {
    const stopIds = opts.stopIds ?? [this.model.config.eosId];
    return generate(
      this.model,
      requests.map((r) => this.input(r)),
      { ...opts, stopIds },
    );
  }

  /** Text and task results for what a generation produced. */
  results(requests: Request[], ids: number[][]): Result[] {
    return requests.map((r, i) => {
      const text = this.tokenizer.decode(ids[i]!);
      const { width, height } = r.image;
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
