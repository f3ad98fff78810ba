// SigLIP patch embedding: Conv2d(channels→dim, kernel = stride = patch, bias) + learned position
// embedding, computed as a GEMM so it runs on the tuned matmul kernels: one small kernel writes the
// im2col matrix [numPatches, channels·patch²] (row = token py·(size/patch)+px, column order
// (c, ky, kx) = the flattening of the conv weight [dim, c, ky, kx]) and initialises out with the
// position embedding; then linear(…, accumulate) adds patches·Wᵀ + b. For 896 px that is
// 4096×588 floats of scratch (9.6 MB), kept per device.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import type { GpuWeight } from '../weights.js';
import { bf16At, singleShard } from './bf16.js';
import { flatIndex, grid } from './grid.js';
import { linear } from './matmul.js';

const P = { size: 'u32', ps: 'u32', grid: 'u32', K: 'u32', dim: 'u32', nCols: 'u32', nPos: 'u32' } as const;
const WG = 256;

const code = /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> pixels: array<f32>;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> cols: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${bf16At('pos')}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex(WG)};
  if (i < p.nCols) {
    let t = i / p.K;
    let k = i % p.K;
    let pp = p.ps * p.ps;
    let c = k / pp;
    let ky = (k % pp) / p.ps;
    let kx = k % p.ps;
    let y = (t / p.grid) * p.ps + ky;
    let x = (t % p.grid) * p.ps + kx;
    cols[i] = pixels[(c * p.size + y) * p.size + x];
  }
  if (i < p.nPos) { out[i] = posAt(i); }
}`;

const scratch = new WeakMap<object, GPUBuffer>();

/**
 * out[numPatches, dim] = conv(pixels) + b + pos: pixels f32 [channels, size, size] (CHW), w bf16
 * [dim, channels, patch, patch], b bf16 [dim], pos bf16 [numPatches, dim].
 */
export function patchEmbed(
  step: Step,
  a: { pixels: Binding; w: GpuWeight; b: GpuWeight; pos: GpuWeight; out: Binding; size: number; patch: number; dim: number; channels?: number },
): void {
  const gpu = step.gpu;
  const channels = a.channels ?? 3;
  if (a.size % a.patch) throw new Error(`patchEmbed: size ${a.size} is not a multiple of patch ${a.patch}`);
  const g = a.size / a.patch;
  const n = g * g;
  const K = channels * a.patch * a.patch;
  let cols = scratch.get(gpu);
  if (!cols || cols.size < n * K * 4) {
    if (cols) gpu.forgetBuffer(cols); // may still be referenced by recorded work: dropped, not destroyed
    scratch.set(gpu, (cols = gpu.buffer(n * K * 4, 'im2col')));
  }
  const items = Math.max(n * K, n * a.dim);
  const k = gpu.kernel({ name: 'patch-im2col', bindings: ['read', 'read', 'write', 'write'], code });
  const p = params({ size: a.size, ps: a.patch, grid: g, K, dim: a.dim, nCols: n * K, nPos: n * a.dim }, P);
  step.dispatch(k, [a.pixels, singleShard(a.pos), cols, a.out], p, grid(items, WG, gpu.limits.maxComputeWorkgroupsPerDimension));
  // The conv weight [dim, c, ky, kx] is read as the Linear weight [dim, K] (matrixShape).
  linear(step, { x: { buffer: cols, size: n * K * 4 }, w: a.w, bias: a.b, out: a.out, M: n, K, N: a.dim, accumulate: true });
}
