// The quantizer alone against the fixtures' expected codes, scales and dequantized values (the
// real rule, computed by numpy in float64), and the layout rules it writes.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isQuantizedWeight } from '../src/graph/weights.js';
import { canonicalName } from '../src/loader/names.js';
import { quantizeRows, quantizeRowsJs, rint, wasmQuantizer } from '../src/loader/quantize.js';
import { QUANTIZE_WASM } from '../src/loader/quantize-wasm.js';
// @ts-expect-error: a plain .mjs script without types
import { compileWat, wasmSource } from '../scripts/build-wasm.mjs';
import { parseSafetensors } from '../src/loader/safetensors.js';
import { readExpected } from '../src/node/golden.js';
import { QUANT_RULES, quantRow, type Quantization } from '../src/weights.js';

/** The bf16 words of a checkpoint tensor, from whichever shard holds it. */
function checkpointWords(dir: string, name: string): { words: Uint16Array; shape: number[] } {
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const file = join(dir, index.weight_map[name]!);
  const bytes = new Uint8Array(readFileSync(file));
  const t = parseSafetensors(file, bytes).tensors.get(name)!;
  const h = parseSafetensors(file, bytes);
  expect(t.dtype).toBe('BF16');
  return { words: new Uint16Array(bytes.slice(h.dataStart + t.begin, h.dataStart + t.end).buffer), shape: t.shape };
}

/** Codes, scales and dequantized values read back from quantizeRows' layout. */
function unpack(q: Quantization, bytes: Uint8Array, N: number, K: number) {
  const row = quantRow(q, K);
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const codes = new Int8Array(N * K);
  const scales = new Float32Array(N * row.groups);
  const deq = new Float32Array(N * K);
  const block = QUANT_RULES[q].group || K;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < row.groups; g++) scales[n * row.groups + g] = dv.getFloat32(n * row.bytes + row.codeTexels * 16 + 4 * g, true);
    for (let k = 0; k < K; k++) {
      const b = bytes[n * row.bytes + (q === 'int8' ? k : k >> 1)]!;
      const c = q === 'int8' ? (b << 24) >> 24 : (((b >> ((k & 1) * 4)) & 0xf) << 28) >> 28;
      codes[n * K + k] = c;
      deq[n * K + k] = Math.fround(c * scales[n * row.groups + Math.floor(k / block)]!);
    }
  }
  return { codes, scales, deq };
}

describe.each(['int8', 'int4'] as const)('%s quantizer', (q) => {
  const fixture = join(__dirname, 'fixtures', `pg-tiny-v2048-224-${q}`);
  const expected = readExpected(join(fixture, 'quantized.safetensors'));
  const names = [...expected.keys()].filter((k) => k.endsWith('.q')).map((k) => k.slice(0, -2));

  it('fixture lists two tensors', () => expect(names.length).toBe(2));

  it.each(names.flatMap((n) => [[n, 'wasm'], [n, 'js']]))('%s (%s): codes, scales and dequantized values exactly as the reference', (name, impl) => {
    const { words, shape } = checkpointWords(join(fixture, 'checkpoint'), name);
    const [N, K] = shape as [number, number];
    const row = quantRow(q, K);
    const out = new Uint8Array(N * row.bytes);
    (impl === 'js' ? quantizeRowsJs : quantizeRows)(q, words, N, K, out, row.bytes);
    const got = unpack(q, out, N, K);
    expect(Array.from(got.codes)).toEqual(Array.from(expected.get(`${name}.q`)!.data as Int8Array));
    expect(Array.from(got.scales)).toEqual(Array.from(expected.get(`${name}.scale`)!.data as Float32Array));
    expect(Array.from(got.deq)).toEqual(Array.from(expected.get(`${name}.dequant`)!.data as Float32Array));
  });
});

describe('the rule', () => {
  it('rint rounds half to even, both signs', () => {
    // (+ 0: the sign of a zero code is nothing.)
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -3.5000001, 7.5, 126.5, -127.5].map((v) => rint(v) + 0)).toEqual([0, 2, 2, 0, -2, -2, 2, -4, 8, 126, -128]);
  });

  it('ties, clipping, an all-zero group and short last groups', () => {
    // One int4 row of K = 40: group 0 has max 7 (scale 1, ties 0.5 / 2.5 / -3.5), group 1 (8
    // elements) is all zero. One int8 row where the ±max maps to ±127.
    const bf = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16;
    const K = 40;
    const w = new Uint16Array(K);
    [7, 0.5, 2.5, -3.5, -7, 1.25].forEach((v, i) => (w[i] = bf(v)));
    const row = quantRow('int4', K);
    expect(row).toMatchObject({ codeTexels: 2, groups: 2, texels: 3, bytes: 48 });
    const out = new Uint8Array(row.bytes);
    quantizeRows('int4', w, 1, K, out, row.bytes);
    const got = unpack('int4', out, 1, K);
    expect(Array.from(got.codes.slice(0, 6))).toEqual([7, 0, 2, -4, -7, 1]);
    expect(Array.from(got.scales)).toEqual([1, 0]);
    expect(got.codes.slice(32).every((c) => c === 0)).toBe(true);

    const w8 = new Uint16Array([bf(-2), bf(1), bf(0), bf(2)]);
    const r8 = quantRow('int8', 4);
    const o8 = new Uint8Array(r8.bytes);
    quantizeRows('int8', w8, 1, 4, o8, r8.bytes);
    const g8 = unpack('int8', o8, 1, 4);
    expect(Array.from(g8.codes)).toEqual([-127, 64, 0, 127]); // 63.5 rounds to the even 64
    expect(g8.scales[0]).toBe(Math.fround(2 / 127));
  });

  it('quantizes every Linear weight but the patch embedding', () => {
    for (const n of ['vision_tower.vision_model.encoder.layers.3.self_attn.q_proj.weight', 'vision_tower.vision_model.encoder.layers.0.mlp.fc2.weight',
      'multi_modal_projector.linear.weight', 'language_model.model.layers.7.mlp.down_proj.weight', 'language_model.model.embed_tokens.weight', 'language_model.lm_head.weight']) {
      expect(isQuantizedWeight(canonicalName(n)), n).toBe(true);
    }
    for (const n of ['vision_tower.vision_model.embeddings.patch_embedding.weight', 'vision_tower.vision_model.embeddings.position_embedding.weight',
      'language_model.model.layers.0.input_layernorm.weight', 'multi_modal_projector.linear.bias', 'vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias']) {
      expect(isQuantizedWeight(canonicalName(n)), n).toBe(false);
    }
  });
});

describe('the WebAssembly quantizer', () => {
  it('is what Node runs, built from quantize.wat as committed', async () => {
    expect(wasmQuantizer()).not.toBeNull();
    const bytes: Buffer = await compileWat(join(__dirname, '../src/loader/quantize.wat'));
    expect(wasmSource(bytes)).toBe(readFileSync(join(__dirname, '../src/loader/quantize-wasm.ts'), 'utf8'));
    expect(QUANTIZE_WASM).toBe(bytes.toString('base64'));
  });

  it.each(['int8', 'int4'] as const)('%s: the same bytes as the JS rule on every kind of row', (q) => {
    // Seeded random rows at every K class (whole and short last groups, odd K, under one SIMD step),
    // planted x.5 ties, ±0 rows, the largest finite and subnormal magnitudes, and a stride with gap
    // bytes that must stay untouched.
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    const bf = (v: number) => ((f[0] = v), bits[0]! >>> 16);
    for (const K of [2048, 1152, 4304, 32, 40, 48, 56, 37, 7, 1]) {
      const rows = 24;
      const w = new Uint16Array(rows * K);
      for (let i = 0; i < w.length; i++) w[i] = bf((rand() - 0.5) * (i % 13 === 0 ? 3 : 0.05));
      // Row 1: max 127/128 with every other element on a tie of the int8 scale 1/128 (and int4's 7/8 ties).
      for (let k = 0; k < K; k++) w[K + k] = k === 0 ? bf(127 / 128) : bf(((k % 250) - 125 + 0.5) / 128);
      for (let k = 0; k < K; k++) w[2 * K + k] = k % 2 ? 0x8000 : 0;
      for (let k = 0; k < K; k++) w[3 * K + k] = k % 3 ? 0x7f7f : 0xff7f; // ±the largest finite bf16
      for (let k = 0; k < K; k++) w[4 * K + k] = (k * 7919) % 128 | (k % 2 ? 0x8000 : 0); // subnormals
      const stride = quantRow(q, K).bytes + 16;
      const a = new Uint8Array(rows * stride).fill(0xa5);
      const b = new Uint8Array(rows * stride).fill(0xa5);
      quantizeRowsJs(q, w, rows, K, a, stride);
      quantizeRows(q, w, rows, K, b, stride);
      expect(Buffer.from(b).equals(Buffer.from(a)), `K = ${K}`).toBe(true);
    }
  });

  it.each(['int8', 'int4'] as const)('%s: the same bytes as the JS rule next to every half, at every scale', (q) => {
    // The fast form multiplies by a float32 reciprocal and hands lanes near a half to the exact
    // form: plant, for each block, the bf16 words around every (n + ½)·scale (and the exact ties),
    // over block maxima from subnormal to the largest exponents (the fast form's scale bounds).
    const { qmin, qmax } = QUANT_RULES[q];
    const block = QUANT_RULES[q].group || 1280;
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    const bf = (v: number) => ((f[0] = v), bits[0]! >>> 16);
    const value = (w: number) => ((bits[0] = w << 16), f[0]!);
    let seed = 777;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const maxima = [2 ** -133, 2 ** -110, 2 ** -93.6, 2 ** -90, 1e-3, 0.0173, 0.75, 1, 3.3, 2 ** 90, 2 ** 93.4, 2 ** 110];
    for (let i = 0; i < 24; i++) maxima.push(2 ** (rand() * 60 - 40));
    const K = 1280;
    const w = new Uint16Array(maxima.length * K);
    maxima.forEach((m, r) => {
      const top = bf(m);
      const scale = Math.fround(value(top) / qmax);
      let k = r * K;
      for (let b0 = 0; b0 < K; b0 += block) {
        const end = r * K + Math.min(K, b0 + block);
        w[k++] = top | (rand() < 0.5 ? 0x8000 : 0);
        for (let n = qmin; n < qmax && k < end; n++) {
          const near = bf((n + 0.5) * scale);
          for (let d = -2; d <= 2 && k < end; d++) if (((near + d) & 0x7fff) <= top) w[k++] = (near + d) & 0xffff;
        }
        while (k < end) w[k++] = bf((rand() - 0.5) * value(top));
      }
    });
    const stride = quantRow(q, K).bytes;
    const a = new Uint8Array(maxima.length * stride);
    const b = new Uint8Array(maxima.length * stride);
    quantizeRowsJs(q, w, maxima.length, K, a, stride);
    quantizeRows(q, w, maxima.length, K, b, stride);
    for (let r = 0; r < maxima.length; r++) {
      expect(Buffer.from(b.subarray(r * stride, (r + 1) * stride)).equals(Buffer.from(a.subarray(r * stride, (r + 1) * stride))), `max ${maxima[r]}`).toBe(true);
    }
  });
});

