// How the matmul and embedding kernels read each weight format (weights.ts): bf16 as the
// checkpoint has it, the int8 / int4 codes and f32 scales made at load, or float32 (a merged LoRA
// adapter, docs/lora.md; a texel holds 4 of them, half a slice). A format is WGSL that
// turns a 16-byte texel (a vec4u, from a texture or a buffer) into 8-element slices of unscaled
// codes, and says where a row keeps its scales; a kernel multiplies the codes by their scale
// (f32(q)·scale is exactly the dequantized weight the rule defines) before its FMAs.

import { QUANT_RULES, type WeightFormat } from '../weights.js';
import { texelLoadWgsl } from './weight-texture.js';
import { wgsl } from './wgsl.js';

/** WGSL for all formats: bf16 halves and sign-extended int8 / int4 lanes of a u32, as f32. */
export const formatWgsl = /* wgsl */ `
fn lo16(w: u32) -> f32 { return bitcast<f32>(w << 16u); }
fn hi16(w: u32) -> f32 { return bitcast<f32>(w & 0xffff0000u); }
fn i8x4(w: u32) -> vec4f { return vec4f(bitcast<vec4i>(vec4u(w) << vec4u(24u, 16u, 8u, 0u)) >> vec4u(24u)); }
fn i4lo(w: u32) -> vec4f { return vec4f(bitcast<vec4i>(vec4u(w) << vec4u(28u, 24u, 20u, 16u)) >> vec4u(28u)); }
fn i4hi(w: u32) -> vec4f { return vec4f(bitcast<vec4i>(vec4u(w) << vec4u(12u, 8u, 4u, 0u)) >> vec4u(28u)); }`;

/** Elements per 16-byte texel. */
export function elementsPerTexel(f: WeightFormat): number {
  return f === 'bf16' ? 8 : f === 'f32' ? 4 : 128 / QUANT_RULES[f].bits;
}

/** 8-element slices per texel: 1 (bf16; f32, whose texel is the first half of one), 2 (int8), 4 (int4). */
export function slicesPerTexel(f: WeightFormat): number {
  return Math.max(1, elementsPerTexel(f) / 8);
}

/** WGSL [lo, hi]: elements 0–3 and 4–7 of slice `sub` of texel `v` (a vec4u), unscaled (f32: lo only, the texel's 4). */
export function decodeSlice(f: WeightFormat, v: string, sub: number): [string, string] {
  if (f === 'f32') return [`bitcast<vec4f>(${v})`, ''];
  if (f === 'bf16') return [`vec4f(lo16(${v}.x), hi16(${v}.x), lo16(${v}.y), hi16(${v}.y))`, `vec4f(lo16(${v}.z), hi16(${v}.z), lo16(${v}.w), hi16(${v}.w))`];
  const c = 'xyzw';
  if (f === 'int8') return [`i8x4(${v}.${c[2 * sub]})`, `i8x4(${v}.${c[2 * sub + 1]})`];
  return [`i4lo(${v}.${c[sub]})`, `i4hi(${v}.${c[sub]})`];
}

/**
 * Where a quantized row keeps the scale of code texel t: 'row' (int8: one scale, component 0 of the
 * texel after the codes) or 'texel' (int4: one group of 32 per code texel, its scale in component
 * t % 4 of texel codeTexels + t / 4). bf16 has none.
 */
export function scaleKind(f: WeightFormat): 'none' | 'row' | 'texel' {
  return f === 'bf16' || f === 'f32' ? 'none' : QUANT_RULES[f].group === 0 ? 'row' : 'texel';
}

/** The quantization rule of a format with codes and scales (int8, int4); none for bf16 and f32. */
function ruleOf(f: WeightFormat) {
  return f === 'bf16' || f === 'f32' ? undefined : QUANT_RULES[f];
}

/** WGSL `fn codeTexels(K: u32) -> u32` and `fn rowTexels(K: u32) -> u32` of a quantized format (weights.ts quantRow). */
export function rowWgsl(f: WeightFormat): string {
  const rule = ruleOf(f);
  const per = elementsPerTexel(f);
  const groups = rule?.group ? `(K + ${rule.group - 1}u) / ${rule.group}u` : '1u';
  return wgsl`
#if ${rule !== undefined}
fn codeTexels(K: u32) -> u32 { return (K + ${per - 1}u) / ${per}u; }
fn rowTexels(K: u32) -> u32 { return codeTexels(K) + (${groups} + 3u) / 4u; }
#endif`;
}

/**
 * WGSL \`fn ${'${w}'}At(n: u32, k: u32) -> f32\`: element (n, k) of weight rows of K = p.K held in the u32
 * array \`w\` (bf16, f32: row n at element n·K; quantized: row n at texel n·rowTexels(K), dequantized).
 * The element-wise read of the portable kernels (any K).
 */
export function elementAt(f: WeightFormat, w: string, K = 'p.K'): string {
  const rowWords = f === 'f32' ? K : `rowTexels(${K}) * 4u`;
  return wgsl`
#if ${f === 'bf16'}
fn ${w}At(n: u32, k: u32) -> f32 {
  let e = n * ${K} + k;
  let word = ${w}[e >> 1u];
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (e & 1u) == 1u));
}
#else
${rowElement(f, w, K, (i) => `${w}[n * ${rowWords} + ${i}]`)}
#endif`;
}

/**
 * WGSL \`fn ${'${tex}'}At(n: u32, k: u32) -> f32\`: element (n, k) of a weight texture (weight-texture.ts)
 * of rows of K = p.K and L layers per column block, dequantized: the element-wise read of kernels
 * that are not the matmul's loop. The kernel includes weight-texture.ts's texelAtWgsl.
 */
export function textureElementAt(f: WeightFormat, tex: string, L: string, K = 'p.K'): string {
  return `${texelLoadWgsl(tex, L)}
${rowElement(f, tex, K, (i) => `${tex}Texel((${i}) / 4u, n)[(${i}) % 4u]`)}`;
}

/** WGSL \`fn ${'${name}'}At(n, k)\` from \`word(i)\`, WGSL for u32 word i of row n in the texel layout (a bf16 row padded to whole texels). */
function rowElement(f: WeightFormat, name: string, K: string, word: (i: string) => string): string {
  // The code width and scale index of a quantized format (evaluated, unused, for the others).
  const rule = ruleOf(f);
  const bits = rule?.bits ?? 32;
  const per = 32 / bits;
  const scale = rule?.group ? `k / ${rule.group}u` : '0u';
  return wgsl`fn ${name}At(n: u32, k: u32) -> f32 {
#if ${f === 'f32'}
  return bitcast<f32>(${word('k')});
#elif ${f === 'bf16'}
  let word = ${word('k >> 1u')};
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (k & 1u) == 1u));
#else
  let word = ${word(`k / ${per}u`)};
  let q = bitcast<i32>(word << (${32 - bits}u - ${bits}u * (k % ${per}u))) >> ${32 - bits}u;
  return f32(q) * bitcast<f32>(${word(`codeTexels(${K}) * 4u + ${scale}`)});
#endif
}`;
}
