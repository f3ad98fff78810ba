// Float64 references for the convolution kernels (NCHW, PyTorch weight layouts).

export interface ConvShape {
  n: number;
  cin: number;
  cout: number;
  h: number;
  w: number;
  k: number;
}

/** Conv2d, stride 1, zero padding `pad`, 'same' size: w [cout, cin, k, k]. */
export function conv2dRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, s: ConvShape, pad: number): Float64Array {
  const { n, cin, cout, h, w: wd, k } = s;
  const out = new Float64Array(n * cout * h * wd);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < cout; o++)
      for (let y = 0; y < h; y++)
        for (let ox = 0; ox < wd; ox++) {
          let acc = b[o]!;
          for (let c = 0; c < cin; c++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const iy = y + ky - pad, ix = ox + kx - pad;
                if (iy >= 0 && iy < h && ix >= 0 && ix < wd) acc += w[((o * cin + c) * k + ky) * k + kx]! * x[((i * cin + c) * h + iy) * wd + ix]!;
              }
          out[((i * cout + o) * h + y) * wd + ox] = acc;
        }
  return out;
}

/** ConvTranspose2d by scattering every input pixel: w [cin, cout, k, k]. */
export function convTranspose2dRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, s: ConvShape, stride: number, pad: number): { out: Float64Array; oh: number; ow: number } {
  const { n, cin, cout, h, w: wd, k } = s;
  const oh = (h - 1) * stride - 2 * pad + k, ow = (wd - 1) * stride - 2 * pad + k;
  const out = new Float64Array(n * cout * oh * ow);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < cout; o++) out.fill(b[o]!, (i * cout + o) * oh * ow, (i * cout + o + 1) * oh * ow);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < cin; c++)
      for (let iy = 0; iy < h; iy++)
        for (let ix = 0; ix < wd; ix++) {
          const v = x[((i * cin + c) * h + iy) * wd + ix]!;
          for (let o = 0; o < cout; o++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const oy = iy * stride - pad + ky, ox = ix * stride - pad + kx;
                if (oy >= 0 && oy < oh && ox >= 0 && ox < ow) out[((i * cout + o) * oh + oy) * ow + ox] += v * w[((c * cout + o) * k + ky) * k + kx]!;
              }
        }
  return { out, oh, ow };
}

export const relu = (a: Float64Array): Float64Array => a.map((v) => Math.max(v, 0));
