// Quantization at load (docs/quantization.md): bf16 rows in, rows of codes and f32 scales out, in the
// layout the kernels read (weights.ts quantRow). Computed on the host in doubles, never on the GPU:
// bf16 weights land exactly on x.5 ties hundreds of times in a checkpoint (round half to even, not
// Math.round), and a float32 division moves codes against the float64 rule.

import { QUANT_RULES, quantRow, type Quantization } from '../weights.js';
import { QUANTIZE_WASM } from './quantize-wasm.js';

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

/** 1.5 · 2⁵²: adding and subtracting it rounds a double of magnitude < 2⁵¹ to an integer, half to even. */
const RINT = 6755399441055744;

/** Round half to even (numpy's rint) of a double of magnitude < 2⁵¹: the FPU's own rounding, not Math.round's half up. */
export function rint(v: number): number {
  return v + RINT - RINT;
}

/** The code of w / scale (float64 division, round half to even, clipped). */
function code(w: number, scale: number, qmin: number, qmax: number): number {
  const r = rint(w / scale);
  return r > qmax ? qmax : r < qmin ? qmin : r;
}

/**
 * Quantizes `rows` rows of K bf16 words (`src`, row r at element r·K) into `dst`, row r at byte
 * r·dstStride, as quantizeRowsJs defines: through WebAssembly SIMD (quantize.wat, several times the speed
 * of the JS loop) where the runtime has it, else through quantizeRowsJs.
 */
export function quantizeRows(q: Quantization, src: Uint16Array, rows: number, K: number, dst: Uint8Array, dstStride: number): void {
  const wasm = wasmQuantizer();
  if (!wasm) return quantizeRowsJs(q, src, rows, K, dst, dstStride);
  const layout = quantRow(q, K);
  checkRows(layout.bytes, src, rows, K, dst, dstStride);
  // src at 0, the rows (packed at their own size) after it, 16-byte aligned.
  const out = Math.ceil((rows * K * 2) / 16) * 16;
  const need = out + rows * layout.bytes;
  if (wasm.memory.buffer.byteLength < need) wasm.memory.grow(Math.ceil((need - wasm.memory.buffer.byteLength) / 65536));
  const mem = new Uint8Array(wasm.memory.buffer);
  new Uint16Array(wasm.memory.buffer, 0, rows * K).set(src.subarray(0, rows * K));
  wasm.quantize(QUANT_RULES[q].bits, 0, rows, K, out, layout.bytes, layout.codeTexels * 16, layout.bytes);
  if (dstStride === layout.bytes) dst.set(mem.subarray(out, need));
  else for (let r = 0; r < rows; r++) dst.set(mem.subarray(out + r * layout.bytes, out + (r + 1) * layout.bytes), r * dstStride);
}

type WasmQuantizer = {
  memory: WebAssembly.Memory;
  quantize: (bits: number, src: number, rows: number, K: number, dst: number, stride: number, scaleAt: number, rowBytes: number) => void;
};
/** undefined: not tried yet; null: this runtime cannot run it. */
let wasmInstance: WasmQuantizer | null | undefined;
/**
 * The WebAssembly quantizer, or null where this runtime cannot run it (quantizeRows then runs the
 * JS rule): no WebAssembly SIMD, or a page whose Content-Security-Policy refuses to compile
 * WebAssembly (script-src without 'wasm-unsafe-eval' throws a CompileError here).
 */
export function wasmQuantizer(): WasmQuantizer | null {
  if (wasmInstance === undefined) {
    const bytes = Uint8Array.from(atob(QUANTIZE_WASM), (c) => c.charCodeAt(0));
    try {
      wasmInstance = WebAssembly.validate(bytes) ? (new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as WasmQuantizer) : null;
    } catch {
      wasmInstance = null;
    }
  }
  return wasmInstance;
}

function checkRows(rowBytes: number, src: Uint16Array, rows: number, K: number, dst: Uint8Array, dstStride: number): void {
  if (dstStride < rowBytes) throw new Error(`quantizeRows: a stride of ${dstStride} bytes is less than a row's ${rowBytes}`);
  if (src.length < rows * K || dst.length < (rows - 1) * dstStride + rowBytes) throw new Error(`quantizeRows: ${rows} rows of ${K} do not fit the arrays`);
}

/**
 * The rule as plain JS, the definition quantize.wat follows byte for byte: rows as quantizeRows
 * lays them out, codes (int8: byte k; int4: nibble k % 2 of byte k / 2, low first), zero up to the
 * scales, then the f32 scales (little-endian), zero to the row's last texel. For every block:
 * scale = f32(max|w| / qmax), q = clip(rint(w / scale), qmin, qmax) with the division in float64;
 * an all-zero block has scale 0 and codes 0. (Streams the whole checkpoint at load: the loops are
 * kept plain for V8 — max|w| compares bf16 magnitude bits as integers, no per-element branches
 * on the format.)
 */
export function quantizeRowsJs(q: Quantization, src: Uint16Array, rows: number, K: number, dst: Uint8Array, dstStride: number): void {
  const { qmax, qmin, group, bits } = QUANT_RULES[q];
  const layout = quantRow(q, K);
  checkRows(layout.bytes, src, rows, K, dst, dstStride);
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
      // |w| orders as its bf16 bits without the sign (finite weights).
      let maxBits = 0;
      for (let k = s0 + k0; k < s0 + k1; k++) {
        const m = src[k]! & 0x7fff;
        if (m > maxBits) maxBits = m;
      }
      const scale = Math.fround(values[maxBits]! / qmax);
      dv.setFloat32(d0 + scaleAt + 4 * g, scale, true);
      if (scale === 0) continue;
      if (bits === 8) quantize8(src, s0 + k0, s0 + k1, dst, d0 + k0, scale, values);
      else quantize4(src, s0 + k0, s0 + k1, dst, d0 + (k0 >> 1), scale, values, qmin, qmax);
    }
  }
}

function quantize8(src: Uint16Array, from: number, to: number, dst: Uint8Array, at: number, scale: number, values: Float32Array): void {
  for (let k = from, d = at; k < to; k++, d++) dst[d] = code(values[src[k]!]!, scale, -127, 127) & 0xff;
}

/** Groups start at even k (32 per group), so codes pair up into bytes; an odd count ends on a low nibble. */
function quantize4(src: Uint16Array, from: number, to: number, dst: Uint8Array, at: number, scale: number, values: Float32Array, qmin: number, qmax: number): void {
  let d = at;
  let k = from;
  for (; k + 1 < to; k += 2, d++) {
    dst[d] = (code(values[src[k]!]!, scale, qmin, qmax) & 0xf) | ((code(values[src[k + 1]!]!, scale, qmin, qmax) & 0xf) << 4);
  }
  if (k < to) dst[d] = code(values[src[k]!]!, scale, qmin, qmax) & 0xf;
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
