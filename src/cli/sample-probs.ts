// `paligemma sample-probs`: the distribution the GPU sampler draws from, for each row of a logits
// file, written as float32 safetensors (to compare with Hugging Face's warpers).

import { resolveSampling } from '../graph/generate.js';
import { sampleProbs } from '../kernels/sample.js';
import { seenBits } from '../kernels/seen-mark.js';
import { parseSafetensors } from '../loader/safetensors.js';
import { requestGpu } from '../node/gpu.js';
import { writeSafetensors } from '../node/write-safetensors.js';
import { given, int, num, parse, parseIds, readInput, UsageError } from './args.js';

export const summary = 'write the probabilities a sampled token is drawn from, per logits row';

const USAGE = `usage: paligemma sample-probs --logits FILE.safetensors --out FILE.safetensors
        [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R --ids 2,1017,...]

  --logits FILE   a safetensors file with an F32 tensor 'logits' of [V] or [rows, V]
  --out FILE      writes 'probs' F32 [rows, V]: temperature → top-k → top-p → softmax, as
                  Hugging Face's generate(do_sample=True), through the same GPU kernels as sampling
  defaults        Hugging Face's: temperature 1, top-k 50 (0 = off), top-p 1 (off), penalty 1 (off)
  --ids           the ids already in the sequence, which the repetition penalty applies to`;

async function readLogits(file: string): Promise<{ rows: number; cols: number; data: Float32Array }> {
  const bytes = await readInput(file, 'logits');
  const header = parseSafetensors(file, bytes);
  const t = header.tensors.get('logits');
  if (!t) throw new UsageError(`${file}: no tensor named logits (has ${[...header.tensors.keys()].join(', ') || 'none'})`);
  if (t.dtype !== 'F32' || t.shape.length < 1 || t.shape.length > 2 || t.shape.includes(0)) {
    throw new UsageError(`${file}: logits must be F32 [V] or [rows, V], got ${t.dtype} [${t.shape}]`);
  }
  const cols = t.shape.at(-1)!;
  const rows = t.shape.length === 2 ? t.shape[0]! : 1;
  return { rows, cols, data: new Float32Array(bytes.slice(header.dataStart + t.begin, header.dataStart + t.end).buffer) };
}

export async function run(argv: string[]): Promise<number> {
  const { values: o } = parse(
    argv,
    {
      logits: { type: 'string' },
      out: { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      ids: { type: 'string' },
    },
    USAGE,
  );
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (!o.logits || !o.out) throw new UsageError(`--logits and --out are required\n\n${USAGE}`);
  const s = resolveSampling({
    doSample: true,
    temperature: given(o.temperature, (v) => num(v, 'temperature', 1)),
    topK: given(o['top-k'], (v) => int(v, 'top-k', 0)),
    topP: given(o['top-p'], (v) => num(v, 'top-p', 1, 0, 1)),
    repetitionPenalty: given(o['repetition-penalty'], (v) => num(v, 'repetition-penalty', 1)),
  });
  const ids = o.ids === undefined ? [] : parseIds(o.ids);
  if (s.repetitionPenalty !== 1 && o.ids === undefined) throw new UsageError('--repetition-penalty needs --ids, the ids already in the sequence');
  const { rows, cols, data } = await readLogits(o.logits);
  const bad = ids.find((id) => id >= cols);
  if (bad !== undefined) throw new UsageError(`--ids: ${bad} is outside the vocabulary of ${cols} tokens`);

  const gpu = await requestGpu();
  const logits = gpu.buffer(cols * 4, 'logits');
  const probs = gpu.buffer(cols * 4, 'probs');
  const seen = s.repetitionPenalty !== 1 ? gpu.upload(seenBits(ids, cols), 'seen ids') : undefined;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    gpu.write(logits, data.subarray(r * cols, (r + 1) * cols));
    const step = gpu.step('sample-probs');
    sampleProbs(step, { logits, cols, temperature: s.temperature, topK: s.topK, topP: s.topP, repetitionPenalty: s.repetitionPenalty, seen, probs });
    step.end();
    out.set(await gpu.readF32(probs), r * cols);
  }
  await writeSafetensors(o.out, [{ name: 'probs', shape: [rows, cols], data: out }]);
  const { temperature, topK, topP, repetitionPenalty } = s;
  console.error(`wrote probs [${rows}, ${cols}] to ${o.out} (${JSON.stringify({ temperature, top_k: topK, top_p: topP, repetition_penalty: repetitionPenalty })})`);
  return 0;
}
