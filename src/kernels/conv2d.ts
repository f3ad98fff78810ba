// 2-D convolution over a batch of NCHW images (PyTorch Conv2d, stride 1, square kernel k, zero
// padding pad = (k − 1) / 2 so the size is kept): out[n,o,y,x] = b[o] + Σ_c Σ_ky,kx
// w[o,c,ky,kx]·in[n,c,y+ky−pad,x+kx−pad], then optionally ReLU, or plus a residual (the mask decoder's
// ResBlock ends in a 1×1 conv added to the block input). Lane layout in conv-common.ts. f32 weights:
// the mask decoder is small and its fixture is checked at 1e-5.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { CHANNELS, laneTile, P, PIXELS, PX, tileGroups, WG } from './conv-common.js';
import { wgsl } from './wgsl.js';

export type Epilogue = 'none' | 'relu' | 'residual';

/** WGSL for kernel size k: each input value a lane loads serves up to k·OB products, each weight PX. */
export function conv2dWgsl(k: number, epilogue: Epilogue): string {
  const pad = (k - 1) / 2;
  const js = CHANNELS;
  const pxs = PIXELS;
  const cols = PX + 2 * pad;
  const lines: string[] = [];
  for (let ky = 0; ky < k; ky++) {
    const dy = ky - pad;
    const rowOk = dy < 0 ? `row >= ${-dy}` : dy > 0 ? `row + ${dy} < h` : '';
    for (let c = 0; c < cols; c++) {
      const dx = c - pad;
      const conds = [rowOk, `x0 + ${dx} >= 0`, `x0 + ${dx} < w`].filter(Boolean);
      lines.push(`    let v${ky}_${c} = select(0.0, x_[min(src + u32(row + ${dy}) * p.w + u32(x0 + ${dx}), last)], ${conds.join(' && ')});`);
    }
    for (let kx = 0; kx < k; kx++) {
      for (const j of js) {
        lines.push(`    { let wv = wt[w${j} + ${ky * k + kx}u]; ${pxs.map((q) => `a${j}_${q} += wv * v${ky}_${q + kx};`).join(' ')} }`);
      }
    }
  }
  return wgsl`${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x_: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#if ${epilogue === 'residual'}
@group(0) @binding(4) var<storage, read> residual: array<f32>;
#endif

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
${laneTile('f32')}
  for (var c = 0u; c < p.cin; c++) {
    let src = (img * p.cin + c) * plane;
${js.map((j) => `    let w${j} = (min(o0 + ${j}u, p.cout - 1u) * p.cin + c) * ${k * k}u;`).join('\n')}
${lines.join('\n')}
  }
  let base = img * p.cout * plane + u32(row) * p.w + u32(x0);
${js
  .map(
    (j) => `  if (o0 + ${j}u < p.cout) {
    let at = base + (o0 + ${j}u) * plane;
${pxs
  .map(
    (q) => wgsl`    if (x0 + ${q} < w) {
#if ${epilogue === 'relu'}
      out[at + ${q}u] = max(a${j}_${q}, 0.0);
#elif ${epilogue === 'residual'}
      out[at + ${q}u] = a${j}_${q} + residual[at + ${q}u];
#else
      out[at + ${q}u] = a${j}_${q};
#endif
    }`,
  )
  .join('\n')}
  }`,
  )
  .join('\n')}
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
    name: `conv2d-k${a.k}-${epilogue}`,
    bindings: epilogue === 'residual' ? ['read', 'read', 'read', 'write', 'read'] : ['read', 'read', 'read', 'write'],
    code: () => conv2dWgsl(a.k, epilogue),
  });
  const bindings = [a.x, a.w, a.bias, a.out, ...(a.residual ? [a.residual] : [])];
  step.dispatch(k, bindings, params({ n: a.n, cin: a.cin, cout: a.cout, h: a.h, w: a.width }, P), tileGroups(step, a.n, a.h, a.width, a.cout));
}
