/**
 * bf16 conversions used while streaming F16/F32 checkpoints to the GPU. bf16 is the top
 * half of an f32, so F32 -> bf16 is a rounding shift (round to nearest, ties to even) and
 * F16 -> bf16 goes through the exact f16 -> f32 widening first. NaNs stay NaN (the quiet
 * bit is forced so rounding cannot turn a NaN into an infinity); infinities stay infinite.
 */

/** bf16 bits of the f32 with bits `u` (round to nearest even). */
export function f32BitsToBf16(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x0040) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f32 bits of the f16 with bits `h` (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal f16: normalise the mantissa (every f16 subnormal is a normal f32).
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

let f16Table: Uint16Array | null = null;

/** f16 bits -> bf16 bits, all 65536 values precomputed once (128 KiB). */
export function f16ToBf16Table(): Uint16Array {
  if (!f16Table) {
    f16Table = new Uint16Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f32BitsToBf16(f16BitsToF32Bits(h));
  }
  return f16Table;
}

/**
 * Convert `count` elements at the start of `buf` (an aligned, whole ArrayBuffer-backed
 * staging array) to bf16 in place; returns the number of output bytes (count * 2).
 * In place is safe: output element i is written after input elements <= i were read.
 */
export function toBf16InPlace(buf: Uint8Array, dtype: 'BF16' | 'F16' | 'F32', count: number): number {
  if (dtype === 'F32') {
    const src = new Uint32Array(buf.buffer, buf.byteOffset, count);
    const dst = new Uint16Array(buf.buffer, buf.byteOffset, count);
    for (let i = 0; i < count; i++) dst[i] = f32BitsToBf16(src[i]!);
  } else if (dtype === 'F16') {
    const table = f16ToBf16Table();
    const v = new Uint16Array(buf.buffer, buf.byteOffset, count);
    for (let i = 0; i < count; i++) v[i] = table[v[i]!]!;
  }
  return count * 2;
}
