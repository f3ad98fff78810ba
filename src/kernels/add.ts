// Residual add: out = a + b, elementwise over n floats (out may not alias an input: WebGPU forbids
// a writable binding overlapping another binding of the same buffer).

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';

const P = { n: 'u32' } as const;
const WG = 256;

export const addWgsl = /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex(WG)};
  if (i < p.n) { out[i] = a[i] + b[i]; }
}`;

export function add(step: Step, a: Binding, b: Binding, out: Binding, n: number): void {
  const k = step.gpu.kernel({ name: 'add', bindings: ['read', 'read', 'write'], code: addWgsl });
  step.dispatch(k, [a, b, out], params({ n }, P), grid(n, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}
