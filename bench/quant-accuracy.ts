// How far int8 / int4 weights move PaliGemma from its bf16 self: per tensor family, the relative
// RMS error of the dequantized weights (read from the checkpoint on the host, quantized by the
// loader's own rule); over greedy steps, the logits of the quantized model teacher-forced on the
// bf16 model's tokens against the bf16 logits (max |Δ| / max |bf16| and top-1 agreement).

import type { PaliGemma } from '../src/graph/paligemma.js';
import { dumpRun } from '../src/graph/dump.js';
import { isQuantizedWeight } from '../src/graph/weights.js';
import { toBf16InPlace } from '../src/loader/bf16.js';
import { planCheckpoint } from '../src/loader/layout.js';
import { NodeFileSource } from '../src/loader/node.js';
import { dequantizeRows, quantizeRows } from '../src/loader/quantize.js';
import { readIntoTarget } from '../src/loader/source.js';
import { matrixShape, quantRow, type Quantization } from '../src/weights.js';

export interface WeightError {
  family: string;
  format: Quantization;
  tensors: number;
  elements: number;
  /** sqrt(Σ(w − deq)²) / sqrt(Σw²) over the family's sampled tensors. */
  relRms: number;
}

const FAMILIES: [string, RegExp][] = [
  ['siglip attention q/k/v/out', /vision_model\.encoder\.layers\.\d+\.self_attn\./],
  ['siglip mlp fc1/fc2', /vision_model\.encoder\.layers\.\d+\.mlp\./],
  ['projector', /^multi_modal_projector\./],
  ['gemma attention q/k/v/o', /language_model\.model\.layers\.\d+\.self_attn\./],
  ['gemma mlp gate/up/down', /language_model\.model\.layers\.\d+\.mlp\./],
  ['embedding = LM head', /embed_tokens|lm_head/],
];

/** Rows of a tensor read at most per chunk (bounded host memory on any checkpoint). */
const CHUNK_ELEMS = 1 << 22;

/**
 * Relative RMS weight error per family over the first and last layer's tensors (and the first
 * `embedRows` rows of the embedding), for each format.
 */
export async function weightErrors(dir: string, formats: Quantization[], embedRows = 16384): Promise<WeightError[]> {
  const source = new NodeFileSource(dir);
  try {
    const plan = await planCheckpoint(source);
    const layers = (re: RegExp) => {
      const names = [...plan.tensors.keys()].filter((n) => isQuantizedWeight(n) && re.test(n));
      const idx = names.map((n) => Number(/layers\.(\d+)\./.exec(n)?.[1] ?? 0));
      const keep = new Set([Math.min(...idx), Math.max(...idx)]);
      return names.filter((_, i) => keep.has(idx[i]!));
    };
    const out: WeightError[] = [];
    for (const [family, re] of FAMILIES) {
      const names = layers(re);
      const sums = new Map(formats.map((f) => [f, { err: 0, ref: 0 }]));
      let elements = 0;
      for (const name of names) {
        const t = plan.tensors.get(name)!;
        const [N, K] = matrixShape(t.shape);
        const rows = name.includes('embed') || name.includes('lm_head') ? Math.min(N, embedRows) : N;
        const item = t.dtype === 'F32' ? 4 : 2;
        const per = Math.max(1, Math.floor(CHUNK_ELEMS / K));
        for (let r = 0; r < rows; r += per) {
          const n = Math.min(per, rows - r);
          const bytes = new Uint8Array(n * K * item);
          await readIntoTarget(source, t.file, t.offset + r * K * item, bytes);
          toBf16InPlace(bytes, t.dtype, n * K);
          const words = new Uint16Array(bytes.buffer, 0, n * K);
          const w = new Float32Array(Uint32Array.from(words, (h) => h << 16).buffer);
          for (const f of formats) {
            const layout = quantRow(f, K);
            const q = new Uint8Array(n * layout.bytes);
            quantizeRows(f, words, n, K, q, layout.bytes);
            const deq = dequantizeRows(f, q, n, K);
            const s = sums.get(f)!;
            for (let i = 0; i < w.length; i++) {
              s.err += (w[i]! - deq[i]!) ** 2;
              s.ref += w[i]! ** 2;
            }
          }
          elements += n * K;
        }
      }
      for (const f of formats) {
        const s = sums.get(f)!;
        out.push({ family, format: f, tensors: names.length, elements, relRms: Math.sqrt(s.err / s.ref) });
      }
    }
    return out;
  } finally {
    await source.close?.();
  }
}

/** Logits of the rows that predict each of `steps` greedy tokens after `prompt`, teacher-forced on `ids`. */
export async function forcedLogits(model: PaliGemma, pixels: Float32Array, prompt: number[], ids: number[]): Promise<Float32Array> {
  const textIds = [...prompt, ...ids.slice(0, -1)];
  const t = await dumpRun(model, { pixels, textIds, maxNewTokens: 1, logitsRows: 'text' });
  const all = t.find((x) => x.name === 'prefill_logits')!.data as Float32Array;
  const v = model.config.text.vocabSize;
  return all.slice(all.length - ids.length * v);
}

export interface LogitAgreement {
  steps: number;
  /** max |logit − bf16 logit| / max |bf16 logit| over all steps' rows. */
  maxRelDiff: number;
  /** Steps whose argmax equals the bf16 model's argmax on the same row. */
  top1Agree: number;
}

export function compareLogits(got: Float32Array, ref: Float32Array, vocab: number): LogitAgreement {
  const steps = ref.length / vocab;
  let maxDiff = 0;
  let maxRef = 0;
  let agree = 0;
  for (let s = 0; s < steps; s++) {
    let a = s * vocab;
    let b = s * vocab;
    for (let c = s * vocab; c < (s + 1) * vocab; c++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[c]! - ref[c]!));
      maxRef = Math.max(maxRef, Math.abs(ref[c]!));
      if (got[c]! > got[a]!) a = c;
      if (ref[c]! > ref[b]!) b = c;
    }
    if (a === b) agree++;
  }
  return { steps, maxRelDiff: maxDiff / maxRef, top1Agree: agree };
}
