// VQ codebook lookup into an NCHW image: out[n, d, pos] = table[codes[n, pos], d] for `positions`
// codes per image (the mask decoder's 16 codewords fill a 4×4 grid, row-major). Codes ≥ entries
// give zeros instead of reading out of bounds.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';

const P = { n: 'u32', positions: 'u32', dim: 'u32', entries: 'u32' } as const;
const WG = 64;

export const codebookLookupWgsl = /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> codes: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex(WG)};
  if (i >= p.n * p.dim * p.positions) { return; }
  let pos = i % p.positions;
  let d = (i / p.positions) % p.dim;
  let img = i / (p.positions * p.dim);
  let c = codes[img * p.positions + pos];
  out[i] = select(0.0, table[min(c, p.entries - 1u) * p.dim + d], c < p.entries);
}`;

export interface CodebookLookupArgs {
  /** u32 [n, positions]. */
  codes: Binding;
  /** f32 [entries, dim]. */
  table: Binding;
  /** f32 [n, dim, positions]. */
  out: Binding;
  n: number;
  positions: number;
  dim: number;
  entries: number;
}

export function codebookLookup(step: Step, a: CodebookLookupArgs): void {
  const k = step.gpu.kernel({ name: 'codebook-lookup', bindings: ['read', 'read', 'write'], code: codebookLookupWgsl });
  step.dispatch(k, [a.codes, a.table, a.out], params({ n: a.n, positions: a.positions, dim: a.dim, entries: a.entries }, P), grid(a.n * a.dim * a.positions, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}
