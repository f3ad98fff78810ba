// The CPU-adapter (lavapipe) matmul: bf16, int8 or int4 weights in an rgba32uint texture
// (weight-texture.ts, weight-format.ts), every lane owns R rows × C columns of the output. Per
// texel of K a lane fetches C texels (16 B = 8 bf16, 16 int8 or 32 int4 codes each, the cheapest
// wide load llvmpipe has) and for each 8-wide slice of it reads the R rows' 8 activations at
// addresses that are the same for every lane. llvmpipe (Mesa 25.0) still loads those lane by lane,
// with a bounds check each (GALLIVM_DEBUG=asm: 8 scalar loads and inserts per vec4 component), so
// with `broadcast` the subgroup's 8 lanes load different vec4s and subgroupBroadcast shares them:
// above 4 rows lane r loads both halves of rows r, r + 8, …, at 4 rows or fewer lane l half l % 2
// of row l / 2 (a whole slice of every row in one load). No shared memory, no barriers. R = 16
// serves GEMM (each bf16 texel feeds 128 FMAs), R = M ≤ 8 serves decode (each weight byte read
// once). Decode reads x from a uniform copy when it fits 64 KiB (uniformX).
// Needs K % 4 == 0 (x is read as vec4); a K that ends inside a texel (the patch embedding,
// K = 588 = 73.5 bf16 texels) meets the zero padding of its last texel only where x has elements.
// The weights and x's copy are read-only storage textures (READ_TEXTURE): llvmpipe loads their texels
// as images, not through a call into its sampling code as for sampled textures — one process, the
// three kinds alternately: 256×1152² 0.67×, 256×4304×1152 0.73×, 260×2048² 0.72× the time with both
// read so (x alone sampled: 0.76× / 0.85× / 0.82×), decode GEMVs 0.4–0.65× (bench/README.md).

import type { Binding, Step, Storage } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import type { WeightFormat } from '../weights.js';
import { P, UNIFORM_X_FLOATS, UNIFORM_X_ROWS, epilogueBindings, epilogueKey, epilogueKinds, epilogueWgsl, shapeParams, uniformX, uniformXRows, type Epilogue, type MatmulBuffers, type MatmulShape } from './matmul-common.js';
import { decodeSlice, elementsPerTexel, formatWgsl, rowWgsl, scaleKind, slicesPerTexel } from './weight-format.js';
import { kvTexture } from './kv-texture.js';
import { BLOCK_TEXELS, READ_TEXTURE, fitsTexture, scratchTexture, texelsPerRow, type WeightTexture } from './weight-texture.js';
import { wgsl } from './wgsl.js';

export interface TextureTiling {
  /** Output rows per lane (= subgroup size with broadcast). */
  rows: number;
  /** Output columns per lane. */
  cols: number;
  /** Lanes per workgroup. */
  lanes: number;
  broadcast: boolean;
}

/**
 * Tilings measured best on lavapipe, in same-run interleaved A/B medians (bench/ab.ts).
 * GEMM (2026-12-03, Intel Xeon, against the 8 × 16 tiling it replaced): 16 rows × 8 columns per lane
 * (0.67–0.72× the time on the SigLIP and Gemma shapes), x shared by subgroupBroadcast where subgroups
 * are exactly 8 lanes. A texel load was then a call into llvmpipe's sampling code (≈ 200 instructions
 * for the 8 lanes, every live vector register saved around it), so more rows per texel pay: 24 and
 * 32 rows lose again to spilled accumulators. Rows of 16 KiB or more (K ≥ 8192: Gemma's down
 * projection) take 4 columns, 0.56–0.85× the time of 8 (fewer weight rows streamed at once), as does
 * the GEGLU pair, whose two weights double the accumulators (0.65× the 8 × 8 it replaced).
 * int8 and int4 keep 8 rows × 8 columns (a texel already feeds 2–4× the FMAs; 16 rows 0.96–1.05×),
 * as do 5–8 rows (8 columns 0.79–0.90× the time of 16).
 * Decode (M ≤ 4): 8 columns per lane (more texel fetches in flight per x load than
 * 4 or 2: M = 4 10.6 vs 5.6 GFLOP/s; k/v 1×2048×256 0.33 ms vs 0.42 with 2). 16 columns for one
 * row over a big weight were 0.88–0.93× the time of 8 on that AMD EPYC, but 1.48–1.53× on an Intel
 * Xeon of the same class (2026-12-02, bench/ab.ts: down, gate, LM head): 8 everywhere costs the one
 * at most 14 % and spares the other a third. Quantized decode: 8 columns (decode down projection
 * 0.82–0.85× the time of 16 for int8 and int4).
 * A decode batch (2 ≤ M ≤ 4) with subgroups of 8 (2026-12-02, AMD EPYC, bench/ab.ts, 3–7 rounds,
 * times against one row's): x by subgroupBroadcast took 4 rows from 1.76–1.85× to 1.40–1.52× (GEGLU
 * pair, gate, down, LM head), and 4 columns instead of 8 (fewer accumulators) to 1.25–1.45× for bf16;
 * int8 kept 8 columns (0.83× the time of the uniform-load kernel, 4 columns none better). One row
 * gains nothing from it (0.96–1.04×) and keeps its uniform copy.
 */
export function textureTiling(M: number, K: number, geglu: boolean, subgroupsOf8: boolean, format: WeightFormat = 'bf16'): TextureTiling {
  if (M > 8 && (format === 'bf16' || format === 'f32') && subgroupsOf8) return { rows: 16, cols: geglu || K >= 8192 ? 4 : 8, lanes: 16, broadcast: true };
  if (M > 4) return { rows: 8, cols: 8, lanes: 16, broadcast: subgroupsOf8 };
  if (M > 1 && subgroupsOf8) return { rows: M, cols: format === 'bf16' ? 4 : 8, lanes: 16, broadcast: true };
  return { rows: M, cols: 8, lanes: 16, broadcast: false };
}

// Everything is unrolled here in TypeScript: llvmpipe keeps loop-indexed private arrays in memory,
// and named scalars are what lets the R×C accumulators live in registers.

/**
 * WGSL: one lane's R rows × C columns (from column c0, of N) against the weight textures `texs`
 * (of L layers per column block) of format f, each into its own accumulators `${acc}${r}_${j}`: the column setup, the loop over whole
 * texels and, when K ends inside one, the `tail` elements of the last texel (a multiple of 4).
 * A texel holds S 8-element slices (bf16 1, int8 2, int4 4). Quantized codes meet x unscaled and
 * the scale comes after the sum it covers: int8's row scale once at the end, int4's group scale
 * once per texel (a group). A multiply per weight was most of int4's cost on lavapipe; the sums
 * differ from those of the dequantized weights by float32 rounding only.
 */
function block(t: TextureTiling, f: WeightFormat, xr: XRead, tail: number, texs: { tex: string; acc: string }[], N: string, L: string, wRow0 = '0u'): string {
  const { rows: R, cols: C } = t;
  const rs = [...Array(R).keys()];
  const cs = [...Array(C).keys()];
  const S = slicesPerTexel(f);
  const scale = scaleKind(f);
  // x's vec4 index of slice `sub` of texel t (E / 4 vec4s per texel; f32's texel is half a slice).
  const slice = (sub: number) => `${elementsPerTexel(f) / 4}u * t + ${2 * sub}u`;
  // x's vec4s of slice `sub` (both, or only the first with `half`) of every row of the block.
  // Per-row uniform bindings cannot be indexed by the lane: every lane reads them.
  const xLoad = (sub: number, half: boolean) => wgsl`
#if ${t.broadcast && xr !== 'rows' && R > 4}
    ${[...Array(Math.ceil(R / 8)).keys()].map((q) => wgsl`let mine${q} = ${xVec(xr, `m0 + sg + ${8 * q}u`, slice(sub))};
#if ${!half}
    let mine${q}_1 = ${xVec(xr, `m0 + sg + ${8 * q}u`, `${slice(sub)} + 1u`)};
#endif`).join('\n    ')}
    ${rs.map((r) => wgsl`let xa${r} = subgroupBroadcast(mine${r >> 3}, ${r % 8}u);
#if ${!half}
    let xb${r} = subgroupBroadcast(mine${r >> 3}_1, ${r % 8}u);
#endif`).join('\n    ')}
#elif ${t.broadcast && xr !== 'rows'}
    let mine = x[xrow(m0 + sg / 2u) + ${slice(sub)} + sg % 2u];
    ${rs.map((r) => wgsl`let xa${r} = subgroupBroadcast(mine, ${2 * r}u);
#if ${!half}
    let xb${r} = subgroupBroadcast(mine, ${2 * r + 1}u);
#endif`).join('\n    ')}
#else
    ${rs.map((r) => wgsl`let xa${r} = ${xAt(xr, r, slice(sub))};
#if ${!half}
    let xb${r} = ${xAt(xr, r, `${slice(sub)} + 1u`)};
#endif`).join('\n    ')}
#endif`;
  // Chained fma()s, not dot()s: a dot is 4 multiplies + 3 adds for llvmpipe, fma is one op.
  const fmaChain = (r: number, acc: string, half: boolean) =>
    ['x', 'y', 'z', 'w'].map((c) => `xa${r}.${c}, lo.${c}`).concat(half ? [] : ['x', 'y', 'z', 'w'].map((c) => `xb${r}.${c}, hi.${c}`))
      .reduce((inner, args) => `fma(${args}, ${inner})`, acc);
  // Texel x of column j's row (weight-texture.ts texelAt: blocks of BLOCK_TEXELS columns, L layers each).
  const load = (tex: string, j: number, x: string) => `textureLoad(${tex}, vec2u((${x}) % ${BLOCK_TEXELS}u, row${j}), layer${j} + (${x}) / ${BLOCK_TEXELS}u * ${L})`;
  // int4 sums a texel (one group) in its own accumulators, then adds it scaled.
  const sum = (acc: string) => (scale === 'texel' ? `g${acc}` : acc);
  // One slice against every column, from the texels texelLoads fetched.
  const fetch = (tex: string, acc: string, sub: number, half: boolean) =>
    cs.map((j) => {
      const [lo, hi] = decodeSlice(f, `v${tex}${j}`, sub);
      return wgsl`{
      let lo = ${lo};
#if ${!half}
      let hi = ${hi};
#endif
      ${rs.map((r) => `${sum(acc)}${r}_${j} = ${fmaChain(r, `${sum(acc)}${r}_${j}`, half)};`).join('\n      ')}
    }`;
    }).join('\n    ');
  // Every column's texel before any FMA: a texel load is a call that saves the live vector
  // registers around it, and between FMAs those were the accumulators (interleaved with them the
  // 8 × 16 bf16 GEMM took 1.3×, 8 × 8 1.2× the time; decode 1.03–1.06×). int4's scale: component
  // t % 4 of scale texel t / 4, loaded with each texel. Blocks of 4 texels sharing one scale load
  // (4 texels' code per loop) lost once the textures were read-only storage textures: one process,
  // 2026-12-03, int4 decode 0.76–0.79× the time without them (gate, down, o), Q/K/V in one dispatch
  // 0.70–0.75×, and that kernel compiled in 1.4 s instead of 5.2 (bench/README.md).
  const texelLoads = () => texs.flatMap((x) => cs.flatMap((j) => [
    `let v${x.tex}${j} = ${load(x.tex, j, 't')};`,
    ...(scale === 'texel' ? [`let s${x.tex}${j} = bitcast<f32>(${load(x.tex, j, 'ct + t / 4u')}[t % 4u]);`] : []),
  ])).join('\n    ');
  const each = (stmt: (acc: string, r: number, j: number, tex: string) => string, sep = ' ') =>
    texs.map((x) => rs.flatMap((r) => cs.map((j) => stmt(x.acc, r, j, x.tex))).join(sep)).join('\n  ');
  // The slices of `elems` elements of texel t, each in its own scope (a multiple of 4 elements).
  const texel = (elems: number) => wgsl`${texelLoads()}
#if ${scale === 'texel'}
    ${each((a, r, j) => `var g${a}${r}_${j} = 0.0;`)}
#endif
    ${[...Array(Math.ceil(elems / 8)).keys()].map((sub) => {
      const half = 8 * sub + 4 === elems;
      return `{
    ${xLoad(sub, half)}
    ${texs.map((x) => fetch(x.tex, x.acc, sub, half)).join('\n    ')}
    }`;
    }).join('\n    ')}
#if ${scale === 'texel'}
    ${each((a, r, j, tex) => `${a}${r}_${j} = fma(g${a}${r}_${j}, s${tex}${j}, ${a}${r}_${j});`)}
#endif`;
  const E = elementsPerTexel(f);
  return wgsl`let H = textureDimensions(${texs[0]!.tex}).y; // rows per layer
#if ${scale !== 'none'}
  let ct = codeTexels(p.K);
#endif
  // Columns past N fetch the last row (in bounds); their results are dropped. Weight rows from wRow0 on.
  ${cs.map((j) => `let n${j} = ${wRow0} + min(c0 + ${j}u, ${N} - 1u); let row${j} = n${j} % H; let layer${j} = n${j} / H;`).join('\n  ')}
#if ${scale === 'row'}
  ${texs.flatMap((x) => cs.map((j) => `let s${x.tex}${j} = bitcast<f32>(${load(x.tex, j, 'ct')}.x);`)).join('\n  ')}
#endif
  ${each((a, r, j) => `var ${a}${r}_${j} = 0.0;`)}
  for (var t = 0u; t < p.K / ${E}u; t++) {
    ${texel(E)}
  }
#if ${tail > 0}
  {
    let t = p.K / ${E}u;
    ${texel(tail)}
  }
#endif
#if ${scale === 'row'}
  ${each((a, r, j, tex) => `${a}${r}_${j} *= s${tex}${j};`)}
#endif`;
}

/**
 * Where a lane reads x: a storage buffer, a uniform copy (uniformX), one uniform copy per row
 * (uniformXRows; a decode batch whose x exceeds 64 KiB — a uniform load costs about half a storage
 * one on lavapipe, and the 4-row down projection took 1.97× one row's time from storage, 1.63× so),
 * or a texture copy (xTexture; GEMM tilings only).
 */
export type XRead = 'storage' | 'uniform' | 'rows' | 'texture';

/** WGSL: the vec4 at vec4 `index` of x's row `m` (rows past M read row M-1), from storage or the texture copy. */
function xVec(xr: XRead, m: string, index: string): string {
  return xr === 'texture' ? `bitcast<vec4f>(textureLoad(xt, vec2u((${index}) % ${BLOCK_TEXELS}u, xTexBase + min(${m}, p.M - 1u)), (${index}) / ${BLOCK_TEXELS}u * p.xL))` : `x[xrow(${m}) + ${index}]`;
}

/** WGSL: the vec4 of x at vec4 `index` of row r of the block. */
function xAt(xr: XRead, r: number, index: string): string {
  return xr === 'rows' ? `x${r}[${index}]` : `x[xrow(m0 + ${r}u) + ${index}]`;
}

/**
 * WGSL shared by both kernels: x's bindings (rows past the first, with 'rows', from binding
 * `moreRows` on) and row addressing, the format's decoding, the entry point's signature.
 */
function header(t: TextureTiling, f: WeightFormat, xr: XRead, moreRows: number): { decls: string; entry: string } {
  const uniform = (name: string, binding: number) => `@group(0) @binding(${binding}) var<uniform> ${name}: array<vec4f, ${UNIFORM_X_FLOATS / 4}>;`;
  return {
    decls: wgsl`
#if ${xr === 'storage'}
@group(0) @binding(0) var<storage, read> x: array<vec4f>;
#endif
#if ${xr === 'texture'}
@group(0) @binding(0) var xt: ${READ_TEXTURE};
#endif
#if ${xr === 'uniform'}
${uniform('x', 0)}
#endif
#if ${xr === 'rows'}
${[...Array(t.rows).keys()].map((r) => uniform(`x${r}`, r === 0 ? 0 : moreRows + r - 1)).join('\n')}
#endif
${formatWgsl}
${rowWgsl(f)}

// Where x's rows of this workgroup's batch entry start (matmulTexture's batch; 0 elsewhere).
var<private> xBase: u32 = 0u;
var<private> xTexBase: u32 = 0u;

// vec4 index of row m's first element; rows past M read row M-1 (their results are dropped).
fn xrow(m: u32) -> u32 { return (p.xOff + xBase + min(m, p.M - 1u) * p.ldx) / 4u; }`,
    entry: wgsl`@compute @workgroup_size(${t.lanes})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lane: u32
#if ${t.broadcast}
  , @builtin(subgroup_invocation_id) sg: u32
#endif
)`,
  };
}

/**
 * Each (row, column) of the block within M × N, written by one loop over the accumulators `accs`
 * (copied into private arrays) with WGSL from `store(m, n, values)`. The epilogue's code then
 * exists once instead of R × C times: inlined per accumulator, it was most of llvmpipe's compile
 * time (8 × 16 bf16 GEMM with bias and residual add: 60 s of CPU, 1.1 s as a loop; the same run time).
 */
function stores(t: TextureTiling, N: string, accs: string[], store: (m: string, n: string, values: string[]) => string): string {
  const { rows: R, cols: C } = t;
  const cells = [...Array(R * C).keys()];
  return `${accs.map((a) => `var ${a}_all: array<f32, ${R * C}>;
  ${cells.map((i) => `${a}_all[${i}] = ${a}${Math.floor(i / C)}_${i % C};`).join(' ')}`).join('\n  ')}
  for (var i = 0u; i < ${R * C}u; i++) {
    let m = m0 + i / ${C}u;
    let n = c0 + i % ${C}u;
    if (m < p.M && n < ${N}) { ${store('m', 'n', accs.map((a) => `${a}_all[i]`))} }
  }`;
}

// The matmul params, where x's rows lie and the batch entries' steps (TextureShape).
// wL / xL: the weight textures' and x texture's layers per column block.
const PX = { ...P, ldx: 'u32', xOff: 'u32', zx: 'u32', zw: 'u32', zm: 'u32', zn: 'u32', wL: 'u32', xL: 'u32' } as const;

export function textureWgsl(e: Epilogue, t: TextureTiling, f: WeightFormat, xr: XRead, tail: number): string {
  const up = e.geglu;
  const h = header(t, f, xr, (up ? 3 : 2) + epilogueKinds(e).length);
  const texs = up ? [{ tex: 'w', acc: 'a' }, { tex: 'wu', acc: 'u' }] : [{ tex: 'w', acc: 'a' }];
  return wgsl`
#if ${t.broadcast}
enable subgroups;
#endif
${paramsWgsl(PX)}
@group(0) @binding(1) var w: ${READ_TEXTURE};
#if ${up}
@group(0) @binding(2) var wu: ${READ_TEXTURE};
#endif
${epilogueWgsl(e, up ? 3 : 2)}
${h.decls}

${h.entry} {
  let m0 = wg.x * ${t.rows}u;
  let c0 = wg.y * ${t.lanes * t.cols}u + lane * ${t.cols}u;
  xBase = wg.z * p.zx;
  xTexBase = xBase / p.ldx; // the texture copy holds whole rows
  let zm = wg.z * p.zm;
  let zn = wg.z * p.zn;
  ${block(t, f, xr, tail, texs, 'p.N', 'p.wL', 'wg.z * p.zw')}
#if ${up}
  ${stores(t, 'p.N', ['a', 'u'], (m, n, [g, u]) => `store(zm + ${m}, zn + ${n}, ${g}, ${u});`)}
#else
  ${stores(t, 'p.N', ['a'], (m, n, [g]) => `store(zm + ${m}, zn + ${n}, ${g}, 0.0);`)}
#endif
}`;
}

const PM = { M: 'u32', K: 'u32', N0: 'u32', N1: 'u32', N2: 'u32', G1: 'u32', G2: 'u32', ldx: 'u32', xOff: 'u32', L0: 'u32', L1: 'u32', L2: 'u32' } as const;

// Weights sharing x (Q, K, V), each into its own output: workgroups [G_i, G_i+1) compute weight i,
// so every branch is uniform over a workgroup.
export function textureManyWgsl(parts: number, t: TextureTiling, f: WeightFormat, xr: XRead, tail: number): string {
  const h = header(t, f, xr, 1 + 2 * parts);
  const is = [...Array(parts).keys()];
  const start = (i: number) => (i === 0 ? '0u' : `p.G${i}`);
  return wgsl`
#if ${t.broadcast}
enable subgroups;
#endif
${paramsWgsl(PM)}
${is.map((i) => `@group(0) @binding(${1 + i}) var w${i}: ${READ_TEXTURE};`).join('\n')}
${is.map((i) => `@group(0) @binding(${1 + parts + i}) var<storage, read_write> out${i}: array<f32>;`).join('\n')}
${h.decls}

${h.entry} {
  let m0 = wg.y * ${t.rows}u;
  ${is.map((i) => `if (wg.x >= ${start(i)}${i < parts - 1 ? ` && wg.x < p.G${i + 1}` : ''}) {
    let c0 = (wg.x - ${start(i)}) * ${t.lanes * t.cols}u + lane * ${t.cols}u;
    ${block(t, f, xr, tail, [{ tex: `w${i}`, acc: 'a' }], `p.N${i}`, `p.L${i}`)}
    ${stores(t, `p.N${i}`, ['a'], (m, n, [g]) => `out${i}[${m} * p.N${i} + ${n}] = ${g};`)}
  }`).join(' else ')}
}`;
}

/**
 * Checks K and the format against the weight textures and returns what both kernels' code depends
 * on besides the epilogue: the format, where x is read, the elements of a last partial texel, and
 * the pipeline-name key of both.
 */
function shapeVariant(who: string, t: TextureTiling, M: number, K: number, ws: WeightTexture[], strided = false, xTextured = false): { f: WeightFormat; xr: XRead; tail: number; key: string } {
  if (K % 4 !== 0) throw new Error(`${who}: K=${K} is not a multiple of 4`);
  const f = ws[0]!.format;
  for (const w of ws) {
    if (w.format !== f) throw new Error(`${who}: weight textures of formats ${f} and ${w.format} in one dispatch`);
    // Wider rows are a scratch texture's (scratchTexture): the kernel reads the texels of K only.
    if (texelsPerRow(f, K) > w.W) throw new Error(`${who}: K=${K} but a weight texture has ${w.W} texels per row`);
  }
  // Rows per binding only where the block is the whole batch (decode: rows = M, one workgroup row).
  const xr: XRead = xTextured ? 'texture' : t.broadcast || strided ? 'storage' : M * K <= UNIFORM_X_FLOATS ? 'uniform' : t.rows === M && M <= UNIFORM_X_ROWS && K <= UNIFORM_X_FLOATS ? 'rows' : 'storage';
  const tail = K % elementsPerTexel(f);
  return { f, xr, tail, key: `${f}-${t.rows}x${t.cols}x${t.lanes}${t.broadcast ? 'b' : ''}${{ storage: '', uniform: 'u', rows: 'ur', texture: 'xt' }[xr]}${tail ? `t${tail}` : ''}` };
}

/** x's bindings of a dispatch: the binding in front, and with 'rows' those of rows past the first, which go last. */
function xBindings(step: Step, xr: XRead, x: Binding, M: number, K: number): { first: Binding; more: Binding[] } {
  if (xr === 'storage') return { first: x, more: [] };
  if (xr === 'uniform') return { first: uniformX(step, x, M * K), more: [] };
  const [first, ...more] = uniformXRows(step, x, M, K);
  return { first: first!, more };
}

/** The binding kind x is read through. */
function xKind(xr: XRead): Storage {
  return xr === 'storage' ? 'read' : xr === 'texture' ? 'texture' : 'uniform';
}

/**
 * x copied into a scratch texture for a GEMM tiling (rows > 4 shared by subgroupBroadcast): its
 * per-lane loads were ≈ 27 % of the 16-row kernel's time, and a texel fetch costs less (same-process
 * A/B, wall time with the copy: 256×1152×4304 0.87×, 260×2048² 0.94×, 260×16384×2048 0.94×, GEGLU
 * 260×2048×16384 0.91× the time). kv-texture.ts puts the rows in: by copyBufferToTexture where rows
 * are a multiple of 256 bytes (K % 64 == 0), else its kernel (SigLIP's fc2, K = 4304, and the patch
 * embedding's 588: 0.93× / 0.89× the time from storage, kernel included). The kernel writes a texel
 * in ≈ 25 ns and the texture saves ≈ 10 % of the GEMM, so it pays for N ≥ 1024 columns (Gemma's
 * P·V, 256 columns over 260 keys: the kernel 3.3 ms against the GEMM's 15–18) and 2^26
 * multiply-adds (a dispatch costs ≈ 0.1–0.3 ms). Rows within one texture layer only.
 */
function xTexture(step: Step, t: TextureTiling, x: Binding, M: number, K: number, N: number): WeightTexture | undefined {
  if (!t.broadcast || t.rows <= 4 || !fitsTexture(step.gpu.limits, [M, K], Infinity, 'f32')) return undefined;
  if (K % 64 !== 0 && (N < 1024 || M * K * N < 2 ** 26)) return undefined;
  const tex = scratchTexture(step.gpu, 'matmul x', M, K);
  if (tex.H < M) return undefined;
  kvTexture(step, { src: x, base: 0, stride: K, keys: M, headDim: K, transpose: false, out: tex });
  return tex;
}

/** A texture matmul's shape; x's rows may lie `ldx` floats apart from float `xOff` on (multiples of 4; default K and 0). */
export interface TextureShape extends MatmulShape {
  ldx?: number;
  xOff?: number;
  /**
   * `count` products of this shape in one dispatch (attention's heads): entry z reads x from float
   * z·x on, weight rows from z·w on, and writes out rows z·outRows and columns z·outCols further.
   * No bias or LoRA term (those index by column).
   */
  batch?: { count: number; x: number; w: number; outRows: number; outCols: number };
}

export function matmulTexture(step: Step, b: Omit<MatmulBuffers, 'w' | 'up'>, w: WeightTexture, up: WeightTexture | undefined, s: TextureShape, e: Epilogue, t: TextureTiling): void {
  const ldx = s.ldx ?? s.K;
  const xOff = s.xOff ?? 0;
  const z = s.batch ?? { count: 1, x: 0, w: 0, outRows: 0, outCols: 0 };
  if (ldx % 4 !== 0 || xOff % 4 !== 0 || ldx < s.K) throw new Error(`matmulTexture: x rows ${ldx} floats apart from ${xOff} on for K=${s.K} (multiples of 4, at least K)`);
  if (z.count > 1 && (z.x % 4 !== 0 || e.bias || e.lora || e.loraUp)) throw new Error('matmulTexture: a batch steps x by multiples of 4 floats and has no bias or LoRA term');
  if (up && (up.H !== w.H || up.L !== w.L)) throw new Error(`matmulTexture: gate and up textures of different layouts (${w.H} / ${up.H} rows a layer, ${w.L} / ${up.L} layers a block)`);
  const strided = ldx !== s.K || xOff !== 0 || z.count > 1;
  // x of a batch goes into the texture as one copy where its entries are whole rows apart.
  const whole = ldx === s.K && xOff === 0 && z.x % s.K === 0;
  const xt = whole ? xTexture(step, t, b.x, (z.count - 1) * (z.x / s.K) + s.M, s.K, s.N) : undefined;
  const { f, xr, tail, key } = shapeVariant('matmulTexture', t, s.M, s.K, up ? [w, up] : [w], strided, xt !== undefined);
  const xs = xt ? { first: xt.view, more: [] } : xBindings(step, xr, b.x, s.M, s.K);
  const k = step.gpu.kernel({
    name: `matmul-texture-${epilogueKey(e)}-${key}`,
    bindings: [xKind(xr), 'texture', ...(e.geglu ? (['texture'] as const) : []), ...epilogueKinds(e), ...xs.more.map(() => 'uniform' as const)],
    code: () => textureWgsl(e, t, f, xr, tail),
  });
  const bindings = [xs.first, w.view, ...(e.geglu ? [up!.view] : []), ...epilogueBindings(step.gpu, b), ...xs.more];
  const u = params({ ...shapeParams(s, e), ldx, xOff, zx: z.x, zw: z.w, zm: z.outRows, zn: z.outCols, wL: w.L, xL: xt?.L ?? 0 }, PX);
  // Row blocks along x, which llvmpipe runs first: the workgroups in flight share weight columns
  // (a few hundred KiB) and stream x, instead of sharing x and streaming the whole weight once per
  // row block — 0.88–0.91× the time on SigLIP's GEMMs, 0.97–1.0× on Gemma's (bench/README.md).
  step.dispatch(k, bindings, u, [Math.ceil(s.M / t.rows), Math.ceil(s.N / (t.lanes * t.cols)), z.count]);
}

/**
 * outs[i][M, N_i] = x · w_iᵀ for up to three weight textures sharing x (Q, K, V): one dispatch,
 * each weight on its own range of workgroups. For decode-sized M (the unrolled code grows with the
 * tiling and the weight count).
 */
export function matmulTextureMany(step: Step, x: Binding, ws: WeightTexture[], outs: Binding[], Ns: number[], M: number, K: number, t: TextureTiling): void {
  const parts = ws.length;
  if (parts < 1 || parts > 3 || outs.length !== parts || Ns.length !== parts) throw new Error(`matmulTextureMany: 1 to 3 weights with one output and N each, got ${parts}`);
  const { f, xr, tail, key } = shapeVariant('matmulTextureMany', t, M, K, ws);
  const xs = xBindings(step, xr, x, M, K);
  const k = step.gpu.kernel({
    name: `matmul-texture-many${parts}-${key}`,
    bindings: [xKind(xr), ...ws.map(() => 'texture' as const), ...outs.map(() => 'write' as const), ...xs.more.map(() => 'uniform' as const)],
    code: () => textureManyWgsl(parts, t, f, xr, tail),
  });
  const groups = Ns.map((n) => Math.ceil(n / (t.lanes * t.cols)));
  const G = groups.map((_, i) => groups.slice(0, i).reduce((a, b) => a + b, 0));
  const p = params({ M, K, N0: Ns[0]!, N1: Ns[1] ?? 0, N2: Ns[2] ?? 0, G1: G[1] ?? 0, G2: G[2] ?? 0, ldx: K, xOff: 0, L0: ws[0]!.L, L1: ws[1]?.L ?? 0, L2: ws[2]?.L ?? 0 }, PM);
  step.dispatch(k, [xs.first, ...ws.map((w) => w.view), ...outs, ...xs.more], p, [groups.reduce((a, b) => a + b, 0), Math.ceil(M / t.rows)]);
}
