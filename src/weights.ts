// A weight on the GPU as the loader leaves it, split along dim 0 into shards that each fit one
// storage binding. bf16: raw bf16 (two per u32, little-endian, bit for bit as in the checkpoint).
// int8 / int4 (quantized at load, docs/quantization.md): each row is its codes, then its f32
// scales, in 16-byte texels (quantRow), the same bytes in a buffer shard and in a weight texture.
// f32: plain float32 rows, made at run time only (a LoRA adapter merged into a weight, docs/lora.md).

export interface WeightShard {
  buffer: GPUBuffer;
  /** First row (index along dim 0) held by this shard. */
  rowStart: number;
  rows: number;
}

/** The formats a weight is loaded in: the checkpoint's bf16, or codes and scales made at load. */
export type LoadFormat = 'bf16' | Quantization;

/** How a weight's elements are stored: a load format, or float32 (a LoRA adapter merged in at run time). */
export type WeightFormat = LoadFormat | 'f32';

export interface GpuWeight {
  name: string;
  shape: number[];
  dtype: WeightFormat;
  shards: WeightShard[];
}

/**
 * A weight seen as the matrix the matmul kernels read, [dim 0, product of the rest]: a conv
 * kernel [out, c, kh, kw] is, byte for byte, the Linear weight [out, c·kh·kw].
 */
export function matrixShape(shape: readonly number[]): [number, number] {
  return [shape[0] ?? 1, shape.slice(1).reduce((a, b) => a * b, 1)];
}

export type Quantization = 'int8' | 'int4';
export const QUANTIZATIONS: readonly Quantization[] = ['int8', 'int4'];

/** The rule of a format (docs/quantization.md): code range and elements per scale (0: the whole row). */
export interface QuantRule {
  bits: 8 | 4;
  qmax: number;
  qmin: number;
  group: number;
}

export const QUANT_RULES: Record<Quantization, QuantRule> = {
  int8: { bits: 8, qmax: 127, qmin: -127, group: 0 },
  int4: { bits: 4, qmax: 7, qmin: -8, group: 32 },
};

/** Where a quantized row of K elements keeps what: all counts in 16-byte texels unless named. */
export interface QuantRow {
  /** Codes per texel: 16 (int8) or 32 (int4, one group). */
  codesPerTexel: number;
  codeTexels: number;
  /** Scales per row (ceil(K / group), 1 for int8), 4 per texel after the codes. */
  groups: number;
  /** Texels per row: codeTexels + ceil(groups / 4). */
  texels: number;
  bytes: number;
}

export function quantRow(q: Quantization, K: number): QuantRow {
  const rule = QUANT_RULES[q];
  const codesPerTexel = 128 / rule.bits;
  const codeTexels = Math.ceil(K / codesPerTexel);
  const groups = rule.group === 0 ? 1 : Math.ceil(K / rule.group);
  const texels = codeTexels + Math.ceil(groups / 4);
  return { codesPerTexel, codeTexels, groups, texels, bytes: texels * 16 };
}

/** Bytes one row of an [N, K] weight takes on the GPU in format f (bf16 and f32 rows are not padded). */
export function rowBytes(f: WeightFormat, K: number): number {
  return f === 'bf16' ? K * 2 : f === 'f32' ? K * 4 : quantRow(f, K).bytes;
}
