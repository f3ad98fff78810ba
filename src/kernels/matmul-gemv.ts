// Portable GEMV for GPUs (decode, M = 1, and batched decode, M ≤ 8): each output column gets 32
// lanes (8 columns per 256-lane workgroup; a whole workgroup for long rows), which stride over K with 16-byte loads of 8 bf16 when
// K % 8 == 0, so neighbouring lanes read neighbouring words (coalesced) and every lane has K/256
// loads in flight. The M rows' sums stay in registers and are reduced across the lanes with
// subgroup shuffles where subgroups are at least 32 wide, then (or else) through workgroup memory. One
// column per workgroup (the first design) left the 257216-column LM head at 25 % of an H200's
// bandwidth: a quarter of a million workgroups, each reading 4 KB. Decode is bandwidth-bound, so
// each weight byte is read once for all M rows.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import type { WeightFormat } from '../weights.js';
import { P, bf16At, epilogueBindings, epilogueKey, epilogueKinds, epilogueWgsl, shapeParams, type Epilogue, type MatmulBuffers, type MatmulShape } from './matmul-common.js';
import { decodeSlice, elementAt, formatWgsl, rowWgsl, scaleKind } from './weight-format.js';
import { wgsl } from './wgsl.js';

const WG = 256;
/** Lanes that shuffles reduce (where subgroups are at least this wide). */
const SHUFFLE = 32;
export const GEMV_MAX_ROWS = 8;

export interface Opts {
  rows: number;
  /** K % 8 == 0: weights read as vec4<u32>. */
  vec: boolean;
  /** Subgroups of at least SHUFFLE lanes: reduce with shuffles first. */
  shuffle: boolean;
  /** Lanes per output column: 32, or the whole workgroup for long rows (see lanesFor). */
  lanes: number;
  /** x is RMS-normalised with (1 + nw) on the fly (Gemma's pre-norm folded into the GEMV). */
  norm: boolean;
  format: WeightFormat;
}

/**
 * Long rows (the MLP's down projection, K = 16384) get a whole workgroup per column: with 32 lanes
 * its 2048 columns made only 256 workgroups, too few to hide an H200's memory latency (1.0 TB/s
 * measured against 3 TB/s for the gate/up GEMV). Short rows get 32 lanes, 8 columns per workgroup.
 */
function lanesFor(K: number): number {
  return K >= 8192 ? WG : 32;
}

function optsFor(step: Step, M: number, K: number, norm: boolean, format: WeightFormat): Opts {
  const gpu = step.gpu;
  const info = gpu.adapterInfo as { subgroupMinSize?: number } | undefined;
  return { rows: M, vec: K % 8 === 0, shuffle: gpu.features.subgroups && (info?.subgroupMinSize ?? 0) >= SHUFFLE, lanes: lanesFor(K), norm, format };
}

const optsKey = (o: Opts) => `${o.format}-r${o.rows}${o.vec ? 'v' : ''}${o.shuffle ? 's' : ''}-l${o.lanes}${o.norm ? '-n' : ''}`;

/** The WGSL type of a weight binding: 8 bf16 per vec4u on the vector path, else u32 words (quantized rows are read a word at a time). */
const wType = (o: Opts) => (o.vec && (o.format === 'bf16' || o.format === 'f32') ? 'array<vec4u>' : 'array<u32>');

/**
 * WGSL reading slice t (elements 8t … 8t+7) of column n of weight `w` into vec4fs `a`, `b` on the
 * vector path: `before` goes ahead of the loop over t, `read` inside it.
 */
function sliceReader(o: Opts, w: string, a: string, b: string): { before: string; read: string } {
  const f = o.format;
  if (f === 'f32') {
    // Two texels of 4 floats per slice.
    return { before: '', read: `let ${a} = bitcast<vec4f>(${w}[n * (p.K / 4u) + 2u * t]);\n      let ${b} = bitcast<vec4f>(${w}[n * (p.K / 4u) + 2u * t + 1u]);` };
  }
  if (f === 'bf16') {
    const [lo, hi] = decodeSlice(f, `${w}v`, 0);
    return { before: '', read: `let ${w}v = ${w}[n * (p.K / 8u) + t];\n      let ${a} = ${lo};\n      let ${b} = ${hi};` };
  }
  const row = `let ${w}r = n * rowTexels(p.K) * 4u;\n    let ${w}c = ${w}r + codeTexels(p.K) * 4u;`;
  if (scaleKind(f) === 'row') {
    return {
      before: `${row}\n    let ${w}s = bitcast<f32>(${w}[${w}c]);`,
      read: `let ${a} = i8x4(${w}[${w}r + 2u * t]) * ${w}s;\n      let ${b} = i8x4(${w}[${w}r + 2u * t + 1u]) * ${w}s;`,
    };
  }
  return {
    before: row,
    read: `let ${w}q = ${w}[${w}r + t];\n      let ${w}s = bitcast<f32>(${w}[${w}c + t / 4u]);\n      let ${a} = i4lo(${w}q) * ${w}s;\n      let ${b} = i4hi(${w}q) * ${w}s;`,
  };
}

/** Gemma's RMSNorm weight (bf16, used as 1 + w) and epsilon, folded into a GEMV that reads x. */
export interface GemvNorm {
  w: Binding;
  eps: number;
}

const PN = { ...P, eps: 'f32' } as const;

/**
 * WGSL (in main, before the loop): inv[r] = 1/sqrt(mean(x[r]²) + eps) for the R rows, summed by the
 * whole workgroup (uniform control flow); every workgroup recomputes it from x (K floats, cached).
 */
function normPrelude(o: Opts): string {
  return wgsl`
#if ${o.norm}
  var inv: array<f32, ${o.rows}>;
  for (var r = 0u; r < ${o.rows}u; r++) {
    var ss = 0.0;
#if ${o.vec}
    for (var t = lid; t < p.K / 4u; t += ${WG}u) { let v = x[r * p.K / 4u + t]; ss += dot(v, v); }
#else
    for (var k = lid; k < p.K; k += ${WG}u) { let v = x[r * p.K + k]; ss += v * v; }
#endif
    nrm[lid] = ss;
    workgroupBarrier();
    for (var d = ${WG / 2}u; d > 0u; d >>= 1u) {
      if (lid < d) { nrm[lid] += nrm[lid + d]; }
      workgroupBarrier();
    }
    inv[r] = inverseSqrt(nrm[0] / f32(p.K) + p.eps);
    workgroupBarrier();
  }
#endif`;
}

export function gemvWgsl(e: Epilogue, o: Opts): string {
  const up = e.geglu;
  const R = o.rows;
  const nb = up ? 3 : 2;
  return wgsl`${header(o)}
${paramsWgsl(o.norm ? PN : P)}
@group(0) @binding(0) var<storage, read> x: ${o.vec ? 'array<vec4f>' : 'array<f32>'};
@group(0) @binding(1) var<storage, read> w: ${wType(o)};
#if ${up}
@group(0) @binding(2) var<storage, read> wu: ${wType(o)};
#endif
#if ${o.norm}
@group(0) @binding(${nb}) var<storage, read> nw: ${o.vec ? 'array<vec4u>' : 'array<u32>'};
#endif
${epilogueWgsl(e, o.norm ? nb + 1 : nb)}
#if ${!o.vec}
${elementAt(o.format, 'w')}
#if ${up}
${elementAt(o.format, 'wu')}
#endif
#endif

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${columnOf(o, 'p.N')}
  ${normPrelude(o)}
  var acc: array<f32, ${R}>;
#if ${up}
  var accu: array<f32, ${R}>;
#endif
  if (live) {
    ${loop(o, 'w', up ? 'wu' : undefined)}
  }
  for (var r = 0u; r < ${R}u; r++) {
    let g = reduce(acc[r], lid);
#if ${up}
    let u = reduce(accu[r], lid);
    if (live && lane == 0u) { store(r, n, g, u); }
#else
    if (live && lane == 0u) { store(r, n, g, 0.0); }
#endif
  }
}`;
}

/** WGSL: the partial sums of column n of weight \`w\` (and \`wu\`) over this lane's share of K, into acc (accu). */
function loop(o: Opts, w: string, wu?: string): string {
  const R = o.rows;
  const up = wu !== undefined;
  const rw = sliceReader(o, w, 'wf0', 'wf1');
  // Built in every variant (the tag evaluates all interpolations), used with a second weight only.
  const ru = sliceReader(o, wu ?? 'wu', 'uf0', 'uf1');
  return wgsl`
#if ${o.vec}
    ${rw.before}
#if ${up}
    ${ru.before}
#endif
    for (var t = lane; t < p.K / 8u; t += ${o.lanes}u) {
      ${rw.read}
#if ${up}
      ${ru.read}
#endif
#if ${o.norm}
      let nv = nw[t];
      let ns0 = vec4f(1.0) + vec4f(lo16(nv.x), hi16(nv.x), lo16(nv.y), hi16(nv.y));
      let ns1 = vec4f(1.0) + vec4f(lo16(nv.z), hi16(nv.z), lo16(nv.w), hi16(nv.w));
#endif
      for (var r = 0u; r < ${R}u; r++) {
        let xb = (r * p.K) / 4u + 2u * t;
#if ${o.norm}
        let x0 = x[xb] * inv[r] * ns0;
        let x1 = x[xb + 1u] * inv[r] * ns1;
#else
        let x0 = x[xb];
        let x1 = x[xb + 1u];
#endif
        acc[r] += dot(x0, wf0) + dot(x1, wf1);
#if ${up}
        accu[r] += dot(x0, uf0) + dot(x1, uf1);
#endif
      }
    }
#else
    for (var k = lane; k < p.K; k += ${o.lanes}u) {
      let wv = ${w}At(n, k);
#if ${up}
      let uv = ${wu}At(n, k);
#endif
      for (var r = 0u; r < ${R}u; r++) {
#if ${o.norm}
        let xv = x[r * p.K + k] * inv[r] * (1.0 + bf16_nw(k));
#else
        let xv = x[r * p.K + k];
#endif
        acc[r] = fma(xv, wv, acc[r]);
#if ${up}
        accu[r] = fma(xv, uv, accu[r]);
#endif
      }
    }
#endif`;
}

/** WGSL: the enables, bf16 unpacking and \`fn reduce\` every GEMV kernel here uses. */
function header(o: Opts): string {
  // Sum of v over the column's lanes, valid in its lane 0. Every lane of the workgroup calls it
  // (columns past N included), so the barriers are uniform.
  const L = o.lanes;
  const first = o.shuffle ? Math.min(SHUFFLE, L) : 1;
  return wgsl`
#if ${o.shuffle}
enable subgroups;
#endif
${formatWgsl}
${rowWgsl(o.format)}
#if ${o.norm}
var<workgroup> nrm: array<f32, ${WG}>;
#if ${!o.vec}
${bf16At('nw')}
#endif
#endif
#if ${L > first || !o.shuffle}
var<workgroup> red: array<f32, ${WG}>;
#endif
fn reduce(v: f32, lid: u32) -> f32 {
  var s = v;
#if ${o.shuffle}
  for (var d = ${first / 2}u; d > 0u; d >>= 1u) { s += subgroupShuffleXor(s, d); }
#endif
#if ${L > first}
  // Partial sums of ${first}-lane groups through workgroup memory.
  red[lid] = s;
  workgroupBarrier();
  for (var d = ${L / 2}u; d >= ${first}u; d >>= 1u) {
    if (lid % ${L}u < d) { red[lid] += red[lid + d]; }
    workgroupBarrier();
  }
  s = red[lid];
  workgroupBarrier();
#endif
  return s;
}`;
}

/** WGSL: col (this lane group's output column), n (clamped to a real one), live, lane. */
function columnOf(o: Opts, count: string): string {
  return `let lane = lid % ${o.lanes}u;
  let col = (wg.x + wg.y * nwg.x) * ${WG / o.lanes}u + lid / ${o.lanes}u;
  let live = col < ${count};
  let n = min(col, ${count} - 1u);`;
}

/** out (+)= epilogue(x · wᵀ); with `norm`, x is RMS-normalised first (rows of K, Gemma's 1 + w). */
export function matmulGemv(step: Step, b: MatmulBuffers, s: MatmulShape, e: Epilogue, f: WeightFormat, norm?: GemvNorm): void {
  if (s.M > GEMV_MAX_ROWS) throw new Error(`matmulGemv: M=${s.M} > ${GEMV_MAX_ROWS}`);
  const gpu = step.gpu;
  const o = optsFor(step, s.M, s.K, !!norm, f);
  const k = gpu.kernel({
    name: `matmul-gemv-${epilogueKey(e)}-${optsKey(o)}`,
    bindings: ['read', 'read', ...(e.geglu ? (['read'] as const) : []), ...(norm ? (['read'] as const) : []), ...epilogueKinds(e)],
    code: () => gemvWgsl(e, o),
  });
  const bindings = [b.x, b.w, ...(e.geglu ? [b.up!] : []), ...(norm ? [norm.w] : []), ...epilogueBindings(gpu, b)];
  const groups = Math.ceil(s.N / (WG / o.lanes));
  const y = Math.ceil(groups / gpu.limits.maxComputeWorkgroupsPerDimension);
  const p = norm ? params({ ...shapeParams(s, e), eps: norm.eps }, PN) : params(shapeParams(s, e), P);
  step.dispatch(k, bindings, p, [Math.ceil(groups / y), y]);
}

const PM = { M: 'u32', K: 'u32', N0: 'u32', N1: 'u32', N2: 'u32', eps: 'f32' } as const;

export function gemvManyWgsl(parts: number, o: Opts): string {
  const R = o.rows;
  const idx = [...Array(parts).keys()];
  const ends = idx.map((i) => idx.slice(0, i + 1).map((j) => `p.N${j}`).join(' + '));
  const starts = idx.map((i) => (i === 0 ? '0u' : `(${ends[i - 1]!})`));
  // Column col belongs to weight i when starts[i] ≤ col < ends[i]; the choice is per 32-lane group.
  const branch = (body: (i: number) => string) =>
    idx.map((i) => `${i === 0 ? '' : ' else '}${i === parts - 1 ? '' : `if (col < ${ends[i]}) `}{\n      ${body(i)}\n    }`).join('');
  return wgsl`${header(o)}
${paramsWgsl(PM)}
@group(0) @binding(0) var<storage, read> x: ${o.vec ? 'array<vec4f>' : 'array<f32>'};
${idx.map((i) => `@group(0) @binding(${1 + i}) var<storage, read> w${i}: ${wType(o)};`).join('\n')}
${idx.map((i) => `@group(0) @binding(${1 + parts + i}) var<storage, read_write> out${i}: array<f32>;`).join('\n')}
#if ${o.norm}
@group(0) @binding(${1 + 2 * parts}) var<storage, read> nw: ${o.vec ? 'array<vec4u>' : 'array<u32>'};
#endif
#if ${!o.vec}
${idx.map((i) => elementAt(o.format, `w${i}`)).join('\n')}
#endif

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${columnOf(o, ends[parts - 1]!)}
  ${normPrelude(o)}
  var acc: array<f32, ${R}>;
  if (live) {
    ${branch((i) => `let n = col - ${starts[i]};\n      ${loop(o, `w${i}`)}`)}
  }
  for (var r = 0u; r < ${R}u; r++) {
    let g = reduce(acc[r], lid);
    if (live && lane == 0u) {
      ${branch((i) => `out${i}[r * p.N${i} + col - ${starts[i]}] = g;`)}
    }
  }
}`;
}

/**
 * outs[i][M, Ns[i]] = x · ws[i]ᵀ for up to three whole (unsharded) weights sharing x and K — Q, K and
 * V of a decode step in one dispatch instead of three (the K/V GEMVs alone are too small to fill a GPU).
 */
export function matmulGemvMany(step: Step, x: Binding, ws: Binding[], outs: Binding[], Ns: number[], M: number, K: number, f: WeightFormat, norm?: GemvNorm): void {
  const parts = ws.length;
  if (parts < 1 || parts > 3 || outs.length !== parts || Ns.length !== parts) throw new Error(`matmulGemvMany: 1 to 3 weights with one output and N each, got ${parts}`);
  if (M > GEMV_MAX_ROWS) throw new Error(`matmulGemvMany: M=${M} > ${GEMV_MAX_ROWS}`);
  const gpu = step.gpu;
  const o = optsFor(step, M, K, !!norm, f);
  const k = gpu.kernel({
    name: `matmul-gemv-many${parts}-${optsKey(o)}`,
    bindings: ['read', ...ws.map(() => 'read' as const), ...outs.map(() => 'write' as const), ...(norm ? (['read'] as const) : [])],
    code: () => gemvManyWgsl(parts, o),
  });
  const N = Ns.reduce((a, b) => a + b, 0);
  const groups = Math.ceil(N / (WG / o.lanes));
  const y = Math.ceil(groups / gpu.limits.maxComputeWorkgroupsPerDimension);
  const p = params({ M, K, N0: Ns[0]!, N1: Ns[1] ?? 0, N2: Ns[2] ?? 0, eps: norm?.eps ?? 0 }, PM);
  step.dispatch(k, [x, ...ws, ...outs, ...(norm ? [norm.w] : [])], p, [Math.ceil(groups / y), y]);
}
