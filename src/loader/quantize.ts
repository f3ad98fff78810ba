// Quantization at load (docs/quantization.md): bf16 rows in, rows of codes and f32 scales out, in the
// layout the kernels read (weights.ts quantRow). Computed on the host in doubles, never on the GPU:
// bf16 weights land exactly on x.5 ties hundreds of times in a checkpoint (round half to even, not
// Math.round), and a float32 division moves codes against the float64 rule.

import { QUANT_RULES, quantRow, type Quantization } from '../weights.js';

/** bf16 bits → value, for all 65536 words (256 KiB, built once). */
let bf16Values: Float32Array | undefined;
function bf16Table(): Float32Array {
  if (!bf16Values) {
    const bits = new Uint32Array(65536);
    for (let i = 0; i < 65536; i++) bits[i] = i << 16;
    bf16Values = new Float32Array(bits.buffer);
  }
  return bf16Values;
}

/** Round half to even (numpy's rint) of a finite double. */
export function rint(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Quantizes `rows` rows of K bf16 words (`src`, row r at element r·K) into `dst`, row r at byte
 * r·dstStride: codes (int8: byte k; int4: nibble k % 2 of byte k / 2, low first), zero up to the
 * scales, then the f32 scales (little-endian), zero to the row's last texel. For every block:
 * scale = f32(max|w| / qmax), q = clip(rint(w / scale), qmin, qmax) with the division in float64;
 * an all-zero block has scale 0 and codes 0.
 */
export function quantizeRows(q: Quantization, src: Uint16Array, rows: number, K: number, dst: Uint8Array, dstStride: number): void {
  const { qmax, qmin, group, bits } = QUANT_RULES[q];
  const layout = quantRow(q, K);
  if (dstStride < layout.bytes) throw new Error(`quantizeRows: a stride of ${dstStride} bytes is less than a row's ${layout.bytes}`);
  if (src.length < rows * K || dst.length < (rows - 1) * dstStride + layout.bytes) throw new Error(`quantizeRows: ${rows} rows of ${K} do not fit the arrays`);
  const values = bf16Table();
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  const block = group === 0 ? K : group;
  const scaleAt = layout.codeTexels * 16;
  for (let r = 0; r < rows; r++) {
    const s0 = r * K;
    const d0 = r * dstStride;
    dst.fill(0, d0, d0 + layout.bytes);
    for (let g = 0, k0 = 0; k0 < K; g++, k0 += block) {
      const k1 = Math.min(K, k0 + block);
      let max = 0;
      for (let k = k0; k < k1; k++) {
        const a = Math.abs(values[src[s0 + k]!]!);
        if (a > max) max = a;
      }
      const scale = Math.fround(max / qmax);
      dv.setFloat32(d0 + scaleAt + 4 * g, scale, true);
      if (scale === 0) continue;
      for (let k = k0; k < k1; k++) {
        let c = rint(values[src[s0 + k]!]! / scale);
        c = c > qmax ? qmax : c < qmin ? qmin : c;
        if (bits === 8) dst[d0 + k] = c & 0xff;
        else dst[d0 + (k >> 1)] = dst[d0 + (k >> 1)]! | ((c & 0xf) << ((k & 1) * 4));
      }
    }
  }
}

/** The dequantized values f32(q · scale) of `rows` rows of K laid out by quantizeRows (references, accuracy reports). */
export function dequantizeRows(q: Quantization, src: Uint8Array, rows: number, K: number, srcStride = quantRow(q, K).bytes): Float32Array {
  const layout = quantRow(q, K);
  const block = QUANT_RULES[q].group || K;
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    const s0 = r * srcStride;
    for (let k = 0; k < K; k++) {
      const scale = dv.getFloat32(s0 + layout.codeTexels * 16 + 4 * Math.floor(k / block), true);
      const b = src[s0 + (QUANT_RULES[q].bits === 8 ? k : k >> 1)]!;
      const c = QUANT_RULES[q].bits === 8 ? (b << 24) >> 24 : (((b >> ((k & 1) * 4)) & 0xf) << 28) >> 28;
      out[r * K + k] = Math.fround(c * scale);
    }
  }
  return out;
}
