// 2-D convolution over a batch of NCHW images (PyTorch Conv2d, stride 1, square kernel k, zero
// padding pad = (k − 1) / 2 so the size is kept): out[n,o,y,x] = b[o] + Σ_c Σ_ky,kx
// w[o,c,ky,kx]·in[n,c,y+ky−pad,x+kx−pad], then optionally ReLU, or plus a residual (the mask decoder's
// ResBlock ends in a 1×1 conv added to the block input). A lane computes OB output channels of one
// pixel, so each input value it loads feeds OB products; a workgroup's lanes share their channel
// block (workgroup id z), which makes every weight load uniform across the workgroup — on CPU
// adapters a scalar load instead of a gather. f32 weights: the mask decoder is small and its fixture
// is checked at 1e-5.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';

const P = { n: 'u32', cin: 'u32', cout: 'u32', h: 'u32', w: 'u32', k: 'u32', pad: 'u32' } as const;
const WG = 64;
/** Output channels per lane. */
const OB = 8;

export type Epilogue = 'none' | 'relu' | 'residual';

function code(epilogue: Epilogue): string {
  return `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${epilogue === 'residual' ? '@group(0) @binding(4) var<storage, read> residual: array<f32>;' : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let i = ${flatIndex(WG)};
  let plane = p.h * p.w;
  if (i >= p.n * plane) { return; }
  let o0 = wid.z * ${OB}u;
  let img = i / plane;
  let y = i32((i % plane) / p.w);
  let xx = i32(i % p.w);
  let k = i32(p.k);
  let pad = i32(p.pad);
  let kk = p.k * p.k;
  var acc: array<f32, ${OB}>;
  for (var j = 0u; j < ${OB}u; j++) { acc[j] = bias[min(o0 + j, p.cout - 1u)]; }
  for (var c = 0u; c < p.cin; c++) {
    let src = (img * p.cin + c) * plane;
    for (var ky = 0; ky < k; ky++) {
      let iy = y + ky - pad;
      for (var kx = 0; kx < k; kx++) {
        let ix = xx + kx - pad;
        let inside = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
        let v = select(0.0, x[src + u32(clamp(iy, 0, i32(p.h) - 1)) * p.w + u32(clamp(ix, 0, i32(p.w) - 1))], inside);
        let tap = u32(ky * k + kx);
        for (var j = 0u; j < ${OB}u; j++) {
          acc[j] += wt[(min(o0 + j, p.cout - 1u) * p.cin + c) * kk + tap] * v;
        }
      }
    }
  }
  for (var j = 0u; j < ${OB}u; j++) {
    let o = o0 + j;
    if (o >= p.cout) { break; }
    let at = (img * p.cout + o) * plane + i % plane;
    out[at] = ${epilogue === 'relu' ? 'max(acc[j], 0.0)' : epilogue === 'residual' ? 'acc[j] + residual[at]' : 'acc[j]'};
  }
}`;
}

export interface Conv2dArgs {
  /** Input [n, cin, h, w]. */
  x: Binding;
  /** Weight [cout, cin, k, k] (PyTorch OIHW), f32. */
  w: Binding;
  /** Bias [cout], f32. */
  bias: Binding;
  /** Output [n, cout, h, w]; may not alias x or residual. */
  out: Binding;
  n: number;
  cin: number;
  cout: number;
  h: number;
  width: number;
  k: number;
  pad: number;
  /** 'relu': max(·, 0); 'residual': + residual[n, cout, h, w]. Default 'none'. */
  epilogue?: Epilogue;
  residual?: Binding;
}

export function conv2d(step: Step, a: Conv2dArgs): void {
  const epilogue = a.epilogue ?? 'none';
  if ((epilogue === 'residual') !== (a.residual !== undefined)) throw new Error("conv2d: pass `residual` exactly when epilogue is 'residual'");
  if (2 * a.pad !== a.k - 1) throw new Error(`conv2d: only 'same' padding ((k − 1) / 2) is supported, got k=${a.k} pad=${a.pad}`);
  const k = step.gpu.kernel({
    name: `conv2d-${epilogue}`,
    bindings: epilogue === 'residual' ? ['read', 'read', 'read', 'write', 'read'] : ['read', 'read', 'read', 'write'],
    code: () => code(epilogue),
  });
  const bindings = [a.x, a.w, a.bias, a.out, ...(a.residual ? [a.residual] : [])];
  const [gx, gy] = grid(a.n * a.h * a.width, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(k, bindings, params({ n: a.n, cin: a.cin, cout: a.cout, h: a.h, w: a.width, k: a.k, pad: a.pad }, P), [gx, gy, Math.ceil(a.cout / OB)]);
}
