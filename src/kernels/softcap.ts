// Gemma 2's soft-capping, x → c·tanh(x/c), as WGSL for the kernels that apply it in their epilogue
// (attention scores, the LM head's logits). WGSL's tanh has no accuracy requirement of its own (and
// lavapipe's (e^2x − 1)/(e^2x + 1) loses the relative accuracy of small arguments), so tanh here is
// Cephes' tanhf: an odd polynomial below 0.625, 1 − 2/(e^2|x| + 1) above; a few ulp everywhere.

/** WGSL: `fn softcap(x: f32, c: f32) -> f32` = c·tanh(x/c). */
export const softcapWgsl = /* wgsl */ `
fn tanhAccurate(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.625) {
    let z = x * x;
    return x + x * z * ((((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z + 1.33314422036e-1) * z - 3.33332819422e-1);
  }
  // tanh(10) is 1 in f32; the clamp keeps exp finite.
  let t = 1.0 - 2.0 / (exp(2.0 * min(a, 10.0)) + 1.0);
  return select(t, -t, x < 0.0);
}

fn softcap(x: f32, c: f32) -> f32 { return c * tanhAccurate(x / c); }
`;

/** The float64 reference the kernels are tested against. */
export function softcapRef(x: number, c: number): number {
  return c > 0 ? c * Math.tanh(x / c) : x;
}
