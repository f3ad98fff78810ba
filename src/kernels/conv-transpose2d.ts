// Transposed 2-D convolution with kernel 4, stride 2, padding 1 (PyTorch ConvTranspose2d; the mask
// decoder's ×2 upsampling) over a batch of NCHW images, optionally followed by ReLU:
// out[n,o,oy,ox] = b[o] + Σ_c Σ w[c,o,ky,kx]·in[n,c,iy,ix] over oy = 2·iy − 1 + ky (same in x).
// Output pixel (2m + py, 2q + px) is reached by kernel rows ky = 1 − py + 2t from input row
// m + py − t (t = 0, 1), so a lane owns the 2×2 output block of input pixel (m, q): it reads the 3×3
// input neighbourhood once per channel and the 4×4 kernel of each of its OB output channels. As in
// conv2d, a workgroup shares its channel block (workgroup id z), so weight loads are uniform.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { flatIndex, grid } from './grid.js';

const P = { n: 'u32', cin: 'u32', cout: 'u32', h: 'u32', w: 'u32' } as const;
const WG = 64;
/** Output channels per lane. */
const OB = 8;

function code(relu: boolean): string {
  const act = (v: string) => (relu ? `max(${v}, 0.0)` : v);
  return `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let i = ${flatIndex(WG)};
  let plane = p.h * p.w;
  if (i >= p.n * plane) { return; }
  let o0 = wid.z * ${OB}u;
  let img = i / plane;
  let m = i32((i % plane) / p.w);
  let q = i32(i % p.w);
  // acc[j] = outputs (py, px) = (0,0), (0,1), (1,0), (1,1) of channel o0 + j.
  var acc: array<vec4f, ${OB}>;
  for (var j = 0u; j < ${OB}u; j++) { acc[j] = vec4f(bias[min(o0 + j, p.cout - 1u)]); }
  for (var c = 0u; c < p.cin; c++) {
    let src = (img * p.cin + c) * plane;
    // nb[dy][dx] = in[m − 1 + dy, q − 1 + dx], zero outside.
    var nb: array<vec3f, 3>;
    for (var dy = 0; dy < 3; dy++) {
      let iy = m - 1 + dy;
      var row = vec3f(0.0);
      if (iy >= 0 && iy < i32(p.h)) {
        let base = src + u32(iy) * p.w;
        for (var dx = 0; dx < 3; dx++) {
          let ix = q - 1 + dx;
          row[dx] = select(0.0, x[base + u32(clamp(ix, 0, i32(p.w) - 1))], ix >= 0 && ix < i32(p.w));
        }
      }
      nb[dy] = row;
    }
    let r0 = nb[0];
    let r1 = nb[1];
    let r2 = nb[2];
    for (var j = 0u; j < ${OB}u; j++) {
      let wb = (c * p.cout + min(o0 + j, p.cout - 1u)) * 4u;
      let w0 = wt[wb];
      let w1 = wt[wb + 1u];
      let w2 = wt[wb + 2u];
      let w3 = wt[wb + 3u];
      acc[j] += vec4f(
        w1.y * r1.y + w1.w * r1.x + w3.y * r0.y + w3.w * r0.x,
        w1.x * r1.z + w1.z * r1.y + w3.x * r0.z + w3.z * r0.y,
        w0.y * r2.y + w0.w * r2.x + w2.y * r1.y + w2.w * r1.x,
        w0.x * r2.z + w0.z * r2.y + w2.x * r1.z + w2.z * r1.y);
    }
  }
  let ow = 2u * p.w;
  for (var j = 0u; j < ${OB}u; j++) {
    let o = o0 + j;
    if (o >= p.cout) { break; }
    let at = ((img * p.cout + o) * 2u * p.h + 2u * u32(m)) * ow + 2u * u32(q);
    out[at] = ${act('acc[j].x')};
    out[at + 1u] = ${act('acc[j].y')};
    out[at + ow] = ${act('acc[j].z')};
    out[at + ow + 1u] = ${act('acc[j].w')};
  }
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
  const k = step.gpu.kernel({ name: `conv-transpose2d${relu ? '-relu' : ''}`, bindings: ['read', 'read', 'read', 'write'], code: () => code(relu) });
  const [gx, gy] = grid(a.n * a.h * a.width, WG, step.gpu.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(k, [a.x, a.w, a.bias, a.out], params({ n: a.n, cin: a.cin, cout: a.cout, h: a.h, w: a.width }, P), [gx, gy, Math.ceil(a.cout / OB)]);
}
