// 2-D convolution over a batch of NCHW images (PyTorch Conv2d, stride 1, square kernel k, zero
// padding `pad` on every side): out[n,o,y,x] = b[o] + Σ_c Σ_ky,kx w[o,c,ky,kx]·in[n,c,y+ky−pad,x+kx−pad],
// then optionally ReLU, or plus a residual (the mask decoder's ResBlock ends in a 1×1 conv added
// to the block input). One invocation per output value, x fastest, so a workgroup shares o (its
// weights) and reads neighbouring pixels. f32 weights: the mask decoder is small and its fixture
// is checked at 1e-5.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';

const P = { n: 'u32', cin: 'u32', cout: 'u32', h: 'u32', w: 'u32', k: 'u32', pad: 'u32' } as const;
const WG = 64;

export type Epilogue = 'none' | 'relu' | 'residual';

function code(epilogue: Epilogue): string {
  return `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${epilogue === 'residual' ? '@group(0) @binding(4) var<storage, read> residual: array<f32>;' : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex(WG)};
  let plane = p.h * p.w;
  if (i >= p.n * p.cout * plane) { return; }
  let px = i % plane;
  let o = (i / plane) % p.cout;
  let img = i / (plane * p.cout);
  let y = i32(px / p.w);
  let xx = i32(px % p.w);
  let k = i32(p.k);
  let pad = i32(p.pad);
  var acc = bias[o];
  for (var c = 0u; c < p.cin; c++) {
    let src = (img * p.cin + c) * plane;
    let wrow = (o * p.cin + c) * p.k * p.k;
    for (var ky = 0; ky < k; ky++) {
      let iy = y + ky - pad;
      if (iy < 0 || iy >= i32(p.h)) { continue; }
      for (var kx = 0; kx < k; kx++) {
        let ix = xx + kx - pad;
        if (ix < 0 || ix >= i32(p.w)) { continue; }
        acc += wt[wrow + u32(ky * k + kx)] * x[src + u32(iy) * p.w + u32(ix)];
      }
    }
  }
  out[i] = ${epilogue === 'relu' ? 'max(acc, 0.0)' : epilogue === 'residual' ? 'acc + residual[i]' : 'acc'};
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
  const total = a.n * a.cout * a.h * a.width;
  step.dispatch(k, bindings, params({ n: a.n, cin: a.cin, cout: a.cout, h: a.h, w: a.width, k: a.k, pad: a.pad }, P), grid(total, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension));
}
