// A run against a golden fixture folder (checkpoint/, expected.safetensors, expected.json: the
// layout of the project's test fixtures, made by the real Hugging Face code in float32). The fixture
// tests and `paligemma selfcheck --fixture DIR` share it, so a new adapter can be checked in the field.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from '../device.js';
import { dumpRun, type DumpTensor } from '../graph/dump.js';
import { PaliGemma } from '../graph/paligemma.js';
import { loadCheckpointFromDir } from '../loader/node.js';
import { parseSafetensors } from '../loader/safetensors.js';
import { quantizeFor } from '../graph/weights.js';
import { loadLoraFromDir } from './load-model.js';
import { texturesFor } from '../graph/weights.js';
import { QUANTIZATIONS, type Quantization } from '../weights.js';

export type Expected = Map<string, { shape: number[]; data: Float32Array | BigInt64Array | Uint8Array | Int8Array }>;

/** The float tensors every fixture holds, compared within 1e-5·max|ref|. */
export const GOLDEN_FLOAT_TENSORS = ['vision_last_hidden_state', 'image_features', 'final_hidden_states', 'prefill_logits', 'gen_logits'];
/** The id tensors, compared exactly. */
export const GOLDEN_ID_TENSORS = ['input_ids', 'prefill_argmax', 'generated_ids'];

export function readExpected(file: string): Expected {
  const bytes = new Uint8Array(readFileSync(file));
  const header = parseSafetensors(file, bytes);
  const out: Expected = new Map();
  for (const [name, t] of header.tensors) {
    const raw = bytes.slice(header.dataStart + t.begin, header.dataStart + t.end).buffer;
    const data = t.dtype === 'F32' ? new Float32Array(raw) : t.dtype === 'I64' ? new BigInt64Array(raw) : t.dtype === 'I8' ? new Int8Array(raw) : new Uint8Array(raw);
    out.set(name, { shape: t.shape, data });
  }
  return out;
}

/** max|cand − ref| / max|ref| (NaN anywhere gives Infinity). */
export function normErr(cand: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (cand.length !== ref.length) throw new Error(`length ${cand.length} != ${ref.length}`);
  let err = 0;
  let max = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(cand[i]! - ref[i]!);
    if (!(d <= err)) err = Number.isNaN(d) ? Infinity : d;
    max = Math.max(max, Math.abs(ref[i]!));
  }
  return max === 0 ? err : err / max;
}

export interface GoldenRun {
  model: PaliGemma;
  meta: { text_ids: number[]; max_new_tokens: number; prefill_logits_rows?: 'text' | 'all' | 'last'; image: { path: string }; cli_extra?: string[] };
  expected: Expected;
  got: Map<string, DumpTensor>;
}

/** The --quantize value among a fixture's extra command-line flags (expected.json cli_extra). */
function fixtureQuantize(extra: string[] = []): Quantization | undefined {
  const i = extra.indexOf('--quantize');
  if (i < 0) return undefined;
  const q = extra[i + 1];
  if (!(QUANTIZATIONS as readonly (string | undefined)[]).includes(q)) throw new Error(`expected.json: cli_extra has --quantize ${q}`);
  return q as Quantization;
}

/** The --lora folders among a fixture's extra flags, resolved against the fixture folder. */
function fixtureLora(dir: string, extra: string[] = []): string[] {
  return extra.flatMap((flag, i) => (flag === '--lora' ? [join(dir, extra[i + 1] ?? '')] : []));
}

/**
 * Loads the fixture's checkpoint as loadModel does (with `textures: false`, every weight into
 * buffers first whatever the plan; quantized and with the LoRA adapters its cli_extra says) and runs it on the fixture's
 * own pixel values and ids.
 */
export async function runGolden(gpu: Gpu, dir: string, opts: { textures?: boolean } = {}): Promise<GoldenRun> {
  const meta = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as GoldenRun['meta'];
  const textures = opts.textures === false ? undefined : texturesFor(gpu);
  const quantize = quantizeFor(fixtureQuantize(meta.cli_extra));
  const model = new PaliGemma(gpu, await loadCheckpointFromDir(join(dir, 'checkpoint'), gpu.device, { textures, quantize }));
  const adapters = [];
  for (const d of fixtureLora(dir, meta.cli_extra)) adapters.push(await loadLoraFromDir(model, d));
  model.setAdapters(adapters);
  const expected = readExpected(join(dir, 'expected.safetensors'));
  const tensors = await dumpRun(model, {
    pixels: expected.get('pixel_values')!.data as Float32Array,
    textIds: meta.text_ids,
    maxNewTokens: meta.max_new_tokens,
    logitsRows: meta.prefill_logits_rows,
  });
  return { model, meta, expected, got: new Map(tensors.map((t) => [t.name, t])) };
}

export interface GoldenCheck {
  floats: { name: string; err: number; ok: boolean }[];
  ids: { name: string; ok: boolean }[];
  ok: boolean;
}

export function compareGolden(run: GoldenRun, tol = 1e-5): GoldenCheck {
  const floats = GOLDEN_FLOAT_TENSORS.map((name) => {
    const ref = run.expected.get(name)!;
    const cand = run.got.get(name);
    const sameShape = !!cand && cand.shape.join() === ref.shape.join();
    const err = sameShape ? normErr(cand.data as Float32Array, ref.data as Float32Array) : Infinity;
    return { name, err, ok: err <= tol };
  });
  const ids = GOLDEN_ID_TENSORS.map((name) => {
    const a = run.got.get(name)?.data as ArrayLike<unknown> | undefined;
    const b = run.expected.get(name)!.data as ArrayLike<unknown>;
    return { name, ok: !!a && a.length === b.length && Array.from(a).every((v, i) => v === b[i]) };
  });
  return { floats, ids, ok: floats.every((f) => f.ok) && ids.every((i) => i.ok) };
}
