// Every intermediate the golden fixtures hold, from one run (batch of one sequence, one image or
// several): what `paligemma dump` writes and what the fixture tests compare with the Hugging Face
// reference.

import { generate } from './generate.js';
import type { PaliGemma, SequenceInput } from './paligemma.js';

export interface DumpTensor {
  name: string;
  shape: number[];
  data: Float32Array | BigInt64Array;
}

export interface DumpOptions extends SequenceInput {
  maxNewTokens: number;
  /** Which prefill rows get logits: the text rows (default), all, or the last. */
  logitsRows?: 'text' | 'all' | 'last';
}

/** Logits of rows [first, first+count) of the prefill's final-normed states, chunked to fit a binding. */
async function prefillLogits(model: PaliGemma, first: number, count: number): Promise<Float32Array> {
  const gpu = model.gpu;
  const { hiddenSize: d, vocabSize: v } = model.config.text;
  const out = new Float32Array(count * v);
  const chunk = Math.max(1, Math.min(count, Math.floor(gpu.limits.maxStorageBufferBindingSize / (v * 4))));
  const rows = gpu.buffer(chunk * d * 4, 'dump.rows');
  const logits = gpu.buffer(chunk * v * 4, 'dump.logits');
  try {
    for (let r = 0; r < count; r += chunk) {
      const m = Math.min(chunk, count - r);
      const step = gpu.step('dump.logits');
      step.copy(model.prefillHidden, (first + r) * d * 4, rows, 0, m * d * 4);
      model.logitsOf(step, rows, logits, m);
      step.end();
      out.set(await gpu.readF32(logits, 0, m * v), r * v);
    }
  } finally {
    rows.destroy();
    logits.destroy();
  }
  return out;
}

/** First index of the maximum of each row (as torch.argmax). */
function argmaxRows(logits: Float32Array, rows: number, cols: number): BigInt64Array {
  const out = new BigInt64Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (logits[r * cols + c]! > logits[r * cols + best]!) best = c;
    out[r] = BigInt(best);
  }
  return out;
}

function concat(rows: Float32Array[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(r, i * width));
  return out;
}

export async function dumpRun(model: PaliGemma, opts: DumpOptions): Promise<DumpTensor[]> {
  const cfg = model.config;
  const gpu = model.gpu;
  const v = cfg.text.vocabSize;
  const genLogits: Float32Array[] = [];
  const generation = generate(model, [{ pixels: opts.pixels, textIds: opts.textIds }], {
    maxNewTokens: opts.maxNewTokens,
    stopIds: model.stopIds,
    onLogits: async (logits) => {
      genLogits.push(await gpu.readF32(logits, 0, v));
    },
  });
  const [generated] = await generation.run();
  // Hugging Face's output ends with the stop id when generation stopped on it (greedy: the last row's argmax).
  const ids = generated!.slice();
  if (genLogits.length > ids.length) ids.push(Number(argmaxRows(genLogits.at(-1)!, 1, v)[0]));

  const images = model.imagesIn(opts);
  const n = images * cfg.numImageTokens;
  const size = cfg.vision.imageSize;
  const length = n + opts.textIds.length;
  const d = cfg.text.hiddenSize;
  const dv = cfg.vision.hiddenSize;
  const all = await prefillLogits(model, 0, length);
  const first = opts.logitsRows === 'all' ? 0 : opts.logitsRows === 'last' ? length - 1 : n;
  return [
    { name: 'pixel_values', shape: [images, 3, size, size], data: opts.pixels },
    { name: 'vision_last_hidden_state', shape: [images, cfg.numImageTokens, dv], data: await gpu.readF32(model.visionOut, 0, n * dv) },
    { name: 'image_features', shape: [images, cfg.numImageTokens, d], data: await gpu.readF32(model.imageFeatures, 0, n * d) },
    { name: 'final_hidden_states', shape: [1, length, d], data: await gpu.readF32(model.prefillHidden, 0, length * d) },
    { name: 'prefill_logits', shape: [length - first, v], data: all.slice(first * v) },
    { name: 'prefill_logits_rows', shape: [length - first], data: BigInt64Array.from({ length: length - first }, (_, i) => BigInt(first + i)) },
    { name: 'prefill_argmax', shape: [length], data: argmaxRows(all, length, v) },
    { name: 'gen_logits', shape: [genLogits.length, v], data: concat(genLogits, v) },
    { name: 'generated_ids', shape: [ids.length], data: BigInt64Array.from(ids, BigInt) },
    { name: 'input_ids', shape: [1, length], data: BigInt64Array.from([...new Array<number>(n).fill(cfg.imageTokenId), ...opts.textIds], BigInt) },
  ];
}
