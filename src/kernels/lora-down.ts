// LoRA's down projection: t = x · [A₀; A₁; …]ᵀ, the rank-r products of one x with the A matrices
// (f32 [rᵢ, K]) of up to three weights that read it (Q/K/V, gate/up), side by side in rows of
// Σrᵢ. The up projection (t·B'ᵀ) runs in the matmul epilogue (matmul-common.ts). r ≪ K, so each
// output is a long dot product: a workgroup splits it over its lanes and sums the partials.
// Optionally x is Gemma-RMS-normed first, as the GEMV it goes with folds the norm (matmul-gemv.ts):
// t = rsqrt(mean(x²) + eps) · Σ x·(1 + w)·A, the sum of squares gathered in the same pass.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { grid } from './grid.js';
import { bf16At } from './matmul-common.js';

const P = { M: 'u32', K: 'u32', eps: 'f32' } as const;
const WG = 64;
/** The most A matrices one dispatch reads. */
export const LORA_DOWN_MAX = 3;

function code(ranks: number[], norm: boolean): string {
  const R = ranks.reduce((a, b) => a + b, 0);
  const starts = ranks.map((_, i) => ranks.slice(0, i).reduce((a, b) => a + b, 0));
  const pick = ranks
    .map((r, i) => `${i ? 'else ' : ''}if (col < ${starts[i]! + r}u) { s = dot${i}(m, col - ${starts[i]}u, lid); }`)
    .join(' ');
  return /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
${ranks.map((_, i) => `@group(0) @binding(${i + 1}) var<storage, read> a${i}: array<f32>;`).join('\n')}
${norm ? `@group(0) @binding(${ranks.length + 1}) var<storage, read> nw: array<u32>;
${bf16At('nw')}` : ''}
@group(0) @binding(${ranks.length + (norm ? 2 : 1)}) var<storage, read_write> t: array<f32>;

var<workgroup> part: array<f32, ${WG}>;
var<workgroup> squares: array<f32, ${WG}>;

${ranks.map((_, i) => `fn dot${i}(m: u32, j: u32, lid: u32) -> vec2f {
  var s = vec2f(0.0);
  for (var k = lid; k < p.K; k += ${WG}u) {
    let v = x[m * p.K + k];
    ${norm ? 's = vec2f(fma(v * (1.0 + bf16_nw(k)), a' + i + '[j * p.K + k], s.x), fma(v, v, s.y));' : `s.x = fma(v, a${i}[j * p.K + k], s.x);`}
  }
  return s;
}`).join('\n')}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // One workgroup per output t[m, col]: uniform, so the early return keeps the barriers uniform.
  let i = wg.x + wg.y * nwg.x;
  if (i >= p.M * ${R}u) { return; }
  let m = i / ${R}u;
  let col = i % ${R}u;
  var s = vec2f(0.0);
  ${pick}
  part[lid] = s.x;
  squares[lid] = s.y;
  workgroupBarrier();
  for (var d = ${WG / 2}u; d > 0u; d >>= 1u) {
    if (lid < d) {
      part[lid] += part[lid + d];
      squares[lid] += squares[lid + d];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { t[i] = part[0]${norm ? ' * inverseSqrt(squares[0] / f32(p.K) + p.eps)' : ''}; }
}`;
}

export interface LoraDownArgs {
  /** [M, K] f32. */
  x: Binding;
  /** Per weight: A [rank, K] f32. */
  as: { a: Binding; rank: number }[];
  /** [M, Σ rank] f32: row m holds x[m]·A₀ᵀ, then x[m]·A₁ᵀ, … */
  t: Binding;
  M: number;
  K: number;
  /** Gemma's RMSNorm of x first (bf16 w, used as 1 + w). */
  norm?: { w: Binding; eps: number };
}

export function loraDown(step: Step, a: LoraDownArgs): void {
  const ranks = a.as.map((x) => x.rank);
  if (ranks.length === 0 || ranks.length > LORA_DOWN_MAX) throw new Error(`loraDown: ${ranks.length} A matrices (1 to ${LORA_DOWN_MAX} per dispatch)`);
  if (!ranks.every((r) => Number.isInteger(r) && r > 0)) throw new Error(`loraDown: ranks ${ranks.join(', ')} must be whole numbers > 0`);
  if (a.M === 0) return;
  const R = ranks.reduce((x, y) => x + y, 0);
  const k = step.gpu.kernel({
    name: `lora-down-${ranks.join('.')}${a.norm ? '-norm' : ''}`,
    bindings: ['read', ...ranks.map(() => 'read' as const), ...(a.norm ? (['read'] as const) : []), 'write'],
    code: () => code(ranks, !!a.norm),
  });
  step.dispatch(k, [a.x, ...a.as.map((x) => x.a), ...(a.norm ? [a.norm.w] : []), a.t], params({ M: a.M, K: a.K, eps: a.norm?.eps ?? 0 }, P), grid(a.M * R, 1, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}
