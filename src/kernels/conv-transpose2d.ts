// Transposed 2-D convolution over a batch of NCHW images (PyTorch ConvTranspose2d, square kernel k,
// stride s, padding pad, no output padding), optionally followed by ReLU:
// out[n,o,oy,ox] = b[o] + Σ_c Σ w[c,o,ky,kx]·in[n,c,iy,ix] over oy = iy·s − pad + ky (same in x).
// Gathered per output (no atomics): only kernel rows ky ≡ oy + pad (mod s) reach oy, so each
// invocation visits (k/s)² taps per input channel — 4 for the mask decoder's k4 s2.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';

const P = { n: 'u32', cin: 'u32', cout: 'u32', h: 'u32', w: 'u32', oh: 'u32', ow: 'u32', k: 'u32', stride: 'u32', pad: 'u32' } as const;
const WG = 64;

function code(relu: boolean): string {
  return `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex(WG)};
  let plane = p.oh * p.ow;
  if (i >= p.n * p.cout * plane) { return; }
  let px = i % plane;
  let o = (i / plane) % p.cout;
  let img = i / (plane * p.cout);
  let ty = px / p.ow + p.pad;
  let tx = px % p.ow + p.pad;
  let k2 = p.k * p.k;
  var acc = bias[o];
  for (var c = 0u; c < p.cin; c++) {
    let src = (img * p.cin + c) * p.h * p.w;
    let wrow = (c * p.cout + o) * k2;
    for (var ky = ty % p.stride; ky < p.k && ky <= ty; ky += p.stride) {
      let iy = (ty - ky) / p.stride;
      if (iy >= p.h) { continue; }
      for (var kx = tx % p.stride; kx < p.k && kx <= tx; kx += p.stride) {
        let ix = (tx - kx) / p.stride;
        if (ix >= p.w) { continue; }
        acc += wt[wrow + ky * p.k + kx] * x[src + iy * p.w + ix];
      }
    }
  }
  out[i] = ${relu ? 'max(acc, 0.0)' : 'acc'};
}`;
}

export interface ConvTranspose2dArgs {
  /** Input [n, cin, h, w]. */
  x: Binding;
  /** Weight [cin, cout, k, k] (PyTorch ConvTranspose2d layout), f32. */
  w: Binding;
  /** Bias [cout], f32. */
  bias: Binding;
  /** Output [n, cout, (h − 1)·stride − 2·pad + k, same for w]. */
  out: Binding;
  n: number;
  cin: number;
  cout: number;
  h: number;
  width: number;
  k: number;
  stride: number;
  pad: number;
  relu?: boolean;
}

/** Output side length of a transposed convolution. */
export function convTransposeSize(size: number, k: number, stride: number, pad: number): number {
  return (size - 1) * stride - 2 * pad + k;
}

export function convTranspose2d(step: Step, a: ConvTranspose2dArgs): void {
  const oh = convTransposeSize(a.h, a.k, a.stride, a.pad);
  const ow = convTransposeSize(a.width, a.k, a.stride, a.pad);
  if (oh <= 0 || ow <= 0 || a.stride < 1) throw new Error(`convTranspose2d: k=${a.k} stride=${a.stride} pad=${a.pad} give an empty output for ${a.h}×${a.width}`);
  const relu = a.relu ?? false;
  const k = step.gpu.kernel({ name: `conv-transpose2d${relu ? '-relu' : ''}`, bindings: ['read', 'read', 'read', 'write'], code: () => code(relu) });
  const u = { n: a.n, cin: a.cin, cout: a.cout, h: a.h, w: a.width, oh, ow, k: a.k, stride: a.stride, pad: a.pad };
  step.dispatch(k, [a.x, a.w, a.bias, a.out], params(u, P), grid(a.n * a.cout * oh * ow, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}
