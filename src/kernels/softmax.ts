// Row softmax, numerically stable: out = exp(x − max) / Σ exp(x − max). One workgroup per row,
// three passes over the row (max, sum, write), so any row length works; a row of all −inf gives
// NaN, as in PyTorch.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { grid } from './grid.js';
import { reduceF32Wgsl, rowMainWgsl, sgArg } from './reduce.js';
import { wgsl } from './wgsl.js';

const P = { rows: 'u32', cols: 'u32' } as const;
const WG = 256;

export function softmaxWgsl(sg: boolean): string {
  return wgsl`
#if ${sg}
enable subgroups;
#endif
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${reduceF32Wgsl(WG, sg)}

${rowMainWgsl(WG, sg)}
  let base = row * p.cols;
  var m = -3.4028234663852886e38;
  for (var j = lid; j < p.cols; j += ${WG}u) { m = max(m, x[base + j]); }
  m = wgMax(m, lid, ${sgArg(sg)});
  var s = 0.0;
  for (var j = lid; j < p.cols; j += ${WG}u) { s += exp(x[base + j] - m); }
  let inv = 1.0 / wgSum(s, lid, ${sgArg(sg)});
  for (var j = lid; j < p.cols; j += ${WG}u) { out[base + j] = exp(x[base + j] - m) * inv; }
}`;
}

/** out[r] = softmax(x[r]) over `cols` floats, for r < rows. */
export function softmax(step: Step, a: { x: Binding; out: Binding; rows: number; cols: number }): void {
  const gpu = step.gpu;
  const sg = gpu.features.subgroups;
  const k = gpu.kernel({ name: `softmax${sg ? '-sg' : ''}`, bindings: ['read', 'write'], code: () => softmaxWgsl(sg) });
  step.dispatch(k, [a.x, a.out], params({ rows: a.rows, cols: a.cols }, P), grid(a.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension));
}
