// The whole graph against the golden fixtures: tensors from the real Hugging Face code (float32)
// within 1e-5·max|ref|, generated ids identical, and the project's own image preprocessing.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dumpRun, type DumpTensor } from '../src/graph/dump.js';
import { PaliGemma } from '../src/graph/paligemma.js';
import { decodeImage } from '../src/image/decode.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { loadCheckpointFromDir } from '../src/loader/node.js';
import { parseSafetensors } from '../src/loader/safetensors.js';
import { absErrors, normErr, testGpu } from './helpers/gpu.js';

const FIXTURES = ['pg-tiny-fullvocab-224', 'pg-tiny-v2048-224-newnames', 'pg-tiny-v2048-224-sharded'];
const FLOAT_TENSORS = ['vision_last_hidden_state', 'image_features', 'final_hidden_states', 'prefill_logits', 'gen_logits'];

type Expected = Map<string, { shape: number[]; data: Float32Array | BigInt64Array | Uint8Array }>;

function readExpected(file: string): Expected {
  const bytes = new Uint8Array(readFileSync(file));
  const header = parseSafetensors(file, bytes);
  const out: Expected = new Map();
  for (const [name, t] of header.tensors) {
    const raw = bytes.slice(header.dataStart + t.begin, header.dataStart + t.end).buffer;
    const data = t.dtype === 'F32' ? new Float32Array(raw) : t.dtype === 'I64' ? new BigInt64Array(raw) : new Uint8Array(raw);
    out.set(name, { shape: t.shape, data });
  }
  return out;
}

const ids = (a: ArrayLike<bigint>) => Array.from(a, Number);

for (const name of FIXTURES) {
  describe(name, () => {
    const dir = join(__dirname, 'fixtures', name);
    const meta = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
    let model: PaliGemma;
    let expected: Expected;
    let got: Map<string, DumpTensor>;

    beforeAll(async () => {
      const gpu = await testGpu();
      const checkpoint = await loadCheckpointFromDir(join(dir, 'checkpoint'), gpu.device);
      model = new PaliGemma(gpu, checkpoint);
      expected = readExpected(join(dir, 'expected.safetensors'));
      const tensors = await dumpRun(model, {
        pixels: expected.get('pixel_values')!.data as Float32Array,
        textIds: meta.text_ids,
        maxNewTokens: meta.max_new_tokens,
        logitsRows: meta.prefill_logits_rows,
      });
      got = new Map(tensors.map((t) => [t.name, t]));
    });

    it.each(FLOAT_TENSORS)('%s within 1e-5·max|ref| of Hugging Face', (tensor) => {
      const ref = expected.get(tensor)!;
      const cand = got.get(tensor)!;
      expect(cand.shape).toEqual(ref.shape);
      const err = normErr(cand.data as Float32Array, ref.data as Float32Array);
      console.log(`${name} ${tensor}: max|err|/max|ref| = ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-5);
    });

    it('generates the same ids, and the same argmax at every prefill position', () => {
      expect(ids(got.get('generated_ids')!.data as BigInt64Array)).toEqual(ids(expected.get('generated_ids')!.data as BigInt64Array));
      expect(ids(got.get('input_ids')!.data as BigInt64Array)).toEqual(ids(expected.get('input_ids')!.data as BigInt64Array));
      expect(ids(got.get('prefill_argmax')!.data as BigInt64Array)).toEqual(ids(expected.get('prefill_argmax')!.data as BigInt64Array));
    });

    it('preprocesses the image like Hugging Face (≤ 4/255 max, ≤ 2e-3 mean abs error)', () => {
      const image = decodeImage(new Uint8Array(readFileSync(join(dir, meta.image.path))), meta.image.path);
      const size = model.config.vision.imageSize;
      const pixels = preprocessImage(image.rgb, image.width, image.height, size);
      const { max, mean } = absErrors(pixels, expected.get('pixel_values')!.data as Float32Array);
      console.log(`${name} pixel_values: max ${max.toExponential(2)}, mean ${mean.toExponential(2)}`);
      expect(max).toBeLessThanOrEqual(4 / 255);
      expect(mean).toBeLessThanOrEqual(2e-3);
    });
  });
}

describe('prefix-LM attention', () => {
  it('is bidirectional over the prefix: a causal-only prefix does not match Hugging Face', async () => {
    const dir = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded');
    const meta = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
    const gpu = await testGpu();
    const model = new PaliGemma(gpu, await loadCheckpointFromDir(join(dir, 'checkpoint'), gpu.device));
    const expected = readExpected(join(dir, 'expected.safetensors'));
    const run = async () => {
      const t = await dumpRun(model, { pixels: expected.get('pixel_values')!.data as Float32Array, textIds: meta.text_ids, maxNewTokens: 1 });
      return normErr(t.find((x) => x.name === 'final_hidden_states')!.data as Float32Array, expected.get('final_hidden_states')!.data as Float32Array);
    };
    expect(await run()).toBeLessThanOrEqual(1e-5);
    model.causalPrefix = true;
    const causal = await run();
    console.log(`causal-only prefix: final_hidden_states max|err|/max|ref| = ${causal.toExponential(2)}`);
    expect(causal).toBeGreaterThan(1e-2);
  });
});
