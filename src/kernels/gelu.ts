// Tanh-approximated GELU (HF GELUTanh / gelu_pytorch_tanh): 0.5·z·(1 + tanh(√(2/π)·(z + 0.044715·z³))),
// alone (SigLIP MLP) or gating (Gemma GeGLU: gelu(gate)·up). The tanh argument is clamped to ±15
// (tanh = ±1 in f32 there) because some drivers build tanh from exp and return NaN once exp
// overflows.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';
import { wgsl } from './wgsl.js';

const P = { n: 'u32' } as const;
const WG = 256;

export function geluWgsl(gated: boolean): string {
  return wgsl`${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
#if ${gated}
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
#endif

fn gelu(z: f32) -> f32 {
  let t = tanh(clamp(0.7978845608028654 * (z + 0.044715 * z * z * z), -15.0, 15.0));
  return 0.5 * z * (1.0 + t);
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex(WG)};
  if (i < p.n) {
#if ${gated}
    out[i] = gelu(x[i]) * up[i];
#else
    out[i] = gelu(x[i]);
#endif
  }
}`;
}

/** out = gelu_tanh(x), n floats. */
export function gelu(step: Step, a: { x: Binding; out: Binding; n: number }): void {
  const k = step.gpu.kernel({ name: 'gelu', bindings: ['read', 'write'], code: () => geluWgsl(false) });
  step.dispatch(k, [a.x, a.out], params({ n: a.n }, P), grid(a.n, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}

/** out = gelu_tanh(gate) · up, n floats. */
export function geglu(step: Step, a: { gate: Binding; up: Binding; out: Binding; n: number }): void {
  const k = step.gpu.kernel({ name: 'geglu', bindings: ['read', 'read', 'write'], code: () => geluWgsl(true) });
  step.dispatch(k, [a.gate, a.up, a.out], params({ n: a.n }, P), grid(a.n, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}
