// `paligemma dump`: every intermediate the golden fixtures hold, as float32 safetensors, so a run
// can be compared tensor by tensor with the Hugging Face reference.

import { dumpRun } from '../graph/dump.js';
import { decodeImage } from '../image/decode.js';
import { parseSafetensors } from '../loader/safetensors.js';
import { loadModel } from '../node/load-model.js';
import { writeSafetensors } from '../node/write-safetensors.js';
import { checkLoraMerge, int, parse, quantization, parseIds, readInput, UsageError } from './args.js';
import { downloadProgress } from './progress.js';

export const summary = 'write the intermediate tensors of one run (for comparison with Hugging Face)';

const USAGE = `usage: paligemma dump --model DIR|ID (--image FILE [--image FILE ...] | --pixel-values FILE.safetensors)
        (--prompt TEXT | --ids 2,1017,53,108) --max-new-tokens N --out FILE.safetensors
        [--logits-rows text|all|last] [--tokenizer FILE] [--quantize int8|int4] [--uncapped-logits]
        [--lora DIR ... [--lora-merge]]

  --model: a folder, or a Hub model id (ORG/NAME[@REVISION], from the Hugging Face cache or downloaded; docs/hub.md)
  one sequence; several --image (or pixel_values [n, 3, S, S]) put n images before the text, in order`;

async function pixelValues(file: string, size: number): Promise<Float32Array> {
  const bytes = await readInput(file, 'pixel values');
  const header = parseSafetensors(file, bytes);
  const t = header.tensors.get('pixel_values');
  if (!t) throw new UsageError(`${file}: no tensor named pixel_values`);
  const [n, ...image] = t.shape;
  if (t.dtype !== 'F32' || t.shape.length !== 4 || !(n! >= 1) || image.join(',') !== `3,${size},${size}`) {
    throw new UsageError(`${file}: pixel_values must be F32 [n, 3, ${size}, ${size}] (n images, n ≥ 1), got ${t.dtype} [${t.shape}]`);
  }
  const data = bytes.slice(header.dataStart + t.begin, header.dataStart + t.end);
  return new Float32Array(data.buffer);
}

export async function run(argv: string[]): Promise<number> {
  const { values: o } = parse(
    argv,
    {
      model: { type: 'string' },
      image: { type: 'string', multiple: true },
      'pixel-values': { type: 'string' },
      prompt: { type: 'string' },
      ids: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      out: { type: 'string' },
      'logits-rows': { type: 'string' },
      tokenizer: { type: 'string' },
      adapter: { type: 'string' },
      quantize: { type: 'string' },
      lora: { type: 'string', multiple: true },
      'lora-merge': { type: 'boolean' },
      'uncapped-logits': { type: 'boolean' },
    },
    USAGE,
  );
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (!o.model || !o.out) throw new UsageError(`--model and --out are required\n\n${USAGE}`);
  if (Boolean(o.image) === Boolean(o['pixel-values'])) throw new UsageError(`give exactly one of --image and --pixel-values\n\n${USAGE}`);
  if (Boolean(o.prompt !== undefined) === Boolean(o.ids)) throw new UsageError(`give exactly one of --prompt and --ids\n\n${USAGE}`);
  const rowsMode = o['logits-rows'] ?? 'text';
  if (rowsMode !== 'text' && rowsMode !== 'all' && rowsMode !== 'last') throw new UsageError(`--logits-rows must be text, all or last, got '${rowsMode}'`);
  const maxNew = int(o['max-new-tokens'], 'max-new-tokens', 1, 1);
  const quantize = quantization(o.quantize);
  checkLoraMerge(o['lora-merge'], o.lora);

  const download = downloadProgress();
  const { pipeline } = await loadModel(o.model, { tokenizer: o.tokenizer, adapter: o.adapter, quantize, lora: o.lora, loraMerge: o['lora-merge'], hub: { onProgress: download.onProgress } }).finally(download.done);
  const model = pipeline.model;
  // PaliGemma 2: the logits of transformers >= 4.52 (no final soft-cap), docs/paligemma2.md.
  if (o['uncapped-logits']) model.capLogits = false;
  const size = model.config.vision.imageSize;
  const pixels = o.image
    ? pipeline.pixels(await Promise.all(o.image.map(async (f) => decodeImage(await readInput(f, 'image'), f))))
    : await pixelValues(o['pixel-values']!, size);
  const textIds = o.ids ? parseIds(o.ids) : pipeline.tokenizer.encodePrompt(o.prompt!);

  const tensors = await dumpRun(model, { pixels, textIds, maxNewTokens: maxNew, logitsRows: rowsMode });
  await writeSafetensors(o.out, tensors);
  const ids = tensors.find((t) => t.name === 'generated_ids')!.data;
  console.error(`wrote ${tensors.length} tensors to ${o.out} (generated ${[...ids].join(',')})`);
  return 0;
}
