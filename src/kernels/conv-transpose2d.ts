// Transposed 2-D convolution with kernel 4, stride 2, padding 1 (PyTorch ConvTranspose2d; the mask
// decoder's ×2 upsampling) over a batch of NCHW images, optionally followed by ReLU:
// out[n,o,oy,ox] = b[o] + Σ_c Σ w[c,o,ky,kx]·in[n,c,iy,ix] over oy = 2·iy − 1 + ky (same in x).
// Output pixel (2m + py, 2q + px) is reached by kernel rows ky = 1 − py + 2t from input row
// m + py − t (t = 0, 1), so a lane owns the 2×2 output blocks of PX neighbouring input pixels of a
// row: per input channel it reads their 3 × (PX + 2) neighbourhood once and the 4×4 kernel of each
// of its OB output channels (lane layout in conv-common.ts).

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { CHANNELS, laneTile, P, PIXELS, PX, tileGroups, WG } from './conv-common.js';
import { wgsl } from './wgsl.js';

export function convTranspose2dWgsl(relu: boolean): string {
  const js = CHANNELS;
  const qs = PIXELS;
  // n<dy>_<c> = in[row − 1 + dy, x0 − 1 + c], zero outside.
  const nb: string[] = [];
  for (let dy = 0; dy < 3; dy++) {
    for (let c = 0; c < PX + 2; c++) {
      const conds = [dy === 0 ? 'row > 0' : dy === 2 ? 'row + 1 < h' : '', `x0 + ${c - 1} >= 0`, `x0 + ${c - 1} < w`].filter(Boolean);
      nb.push(`    let n${dy}_${c} = select(0.0, x[min(src + u32(row + ${dy - 1}) * p.w + u32(x0 + ${c - 1}), last)], ${conds.join(' && ')});`);
    }
  }
  // Output (2·row + py, 2q + px) of input pixel q = x0 + t: rows ky = 1 − py + 2·ty read input row
  // dy = py + 1 − ty, columns kx = 1 − px + 2·tx read column t + px + 1 − tx.
  const sum = (t: number, py: number, px: number) => {
    const terms: string[] = [];
    for (let ty = 0; ty < 2; ty++) {
      for (let tx = 0; tx < 2; tx++) {
        const ky = 1 - py + 2 * ty, kx = 1 - px + 2 * tx;
        terms.push(`w${ky}.${'xyzw'[kx]} * n${py + 1 - ty}_${t + px + 1 - tx}`);
      }
    }
    return terms.join(' + ');
  };
  return `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  // a<j>_<t> = outputs (py, px) = (0,0), (0,1), (1,0), (1,1) of channel o0 + j above input pixel x0 + t.
${laneTile('vec4f')}
  for (var c = 0u; c < p.cin; c++) {
    let src = (img * p.cin + c) * plane;
${nb.join('\n')}
${js
  .map(
    (j) => `    {
      let wb = (c * p.cout + min(o0 + ${j}u, p.cout - 1u)) * 4u;
      let w0 = wt[wb];
      let w1 = wt[wb + 1u];
      let w2 = wt[wb + 2u];
      let w3 = wt[wb + 3u];
${qs.map((t) => `      a${j}_${t} += vec4f(${sum(t, 0, 0)},\n        ${sum(t, 0, 1)},\n        ${sum(t, 1, 0)},\n        ${sum(t, 1, 1)});`).join('\n')}
    }`,
  )
  .join('\n')}
  }
  let ow = 2u * p.w;
  let base = (img * p.cout * 2u * p.h + 2u * u32(row)) * ow + 2u * u32(x0);
${js
  .map(
    (j) => `  if (o0 + ${j}u < p.cout) {
    let at = base + (o0 + ${j}u) * 4u * plane;
${qs
  .map(
    (t) => wgsl`    if (x0 + ${t} < w) {
#if ${relu}
      let v = max(a${j}_${t}, vec4f(0.0));
#else
      let v = a${j}_${t};
#endif
      out[at + ${2 * t}u] = v.x;
      out[at + ${2 * t + 1}u] = v.y;
      out[at + ow + ${2 * t}u] = v.z;
      out[at + ow + ${2 * t + 1}u] = v.w;
    }`,
  )
  .join('\n')}
  }`,
  )
  .join('\n')}
}`;
}

export interface ConvTranspose2dArgs {
  /** Input [n, cin, h, w]. */
  x: Binding;
  /** Weight [cin, cout, 4, 4] (PyTorch ConvTranspose2d layout), f32. */
  w: Binding;
  /** Bias [cout], f32. */
  bias: Binding;
  /** Output [n, cout, 2h, 2w]. */
  out: Binding;
  n: number;
  cin: number;
  cout: number;
  h: number;
  width: number;
  relu?: boolean;
}

export function convTranspose2d(step: Step, a: ConvTranspose2dArgs): void {
  const relu = a.relu ?? false;
  const k = step.gpu.kernel({ name: `conv-transpose2d${relu ? '-relu' : ''}`, bindings: ['read', 'read', 'read', 'write'], code: () => convTranspose2dWgsl(relu) });
  step.dispatch(k, [a.x, a.w, a.bias, a.out], params({ n: a.n, cin: a.cin, cout: a.cout, h: a.h, w: a.width }, P), tileGroups(step, a.n, a.h, a.width, a.cout));
}
