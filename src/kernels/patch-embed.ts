// SigLIP patch embedding: Conv2d(channels→dim, kernel = stride = patch, bias) + learned position
// embedding, computed as a GEMM so it runs on the tuned matmul kernels: one small kernel writes the
// im2col matrix [numPatches, channels·patch²] (row = token py·(size/patch)+px, column order
// (c, ky, kx) = the flattening of the conv weight [dim, c, ky, kx]) and initialises out with the
// position embedding; then linear(…, accumulate) adds patches·Wᵀ + b. Several images go through
// as one batch: their patch rows follow each other, so the GEMM has images·numPatches rows. For
// 896 px that is 4096×588 floats of scratch per image (9.6 MB), kept per device.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import type { GpuWeight } from '../weights.js';
import { bf16At, singleShard } from './bf16.js';
import { flatIndex, grid } from './grid.js';
import { linear } from './matmul.js';

const P = { size: 'u32', ps: 'u32', grid: 'u32', K: 'u32', dim: 'u32', channels: 'u32', nCols: 'u32', nOut: 'u32', nPos: 'u32' } as const;
const WG = 256;

export const im2colWgsl = /* wgsl */ `
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
    let row = i / p.K;
    let image = row / (p.grid * p.grid);
    let t = row % (p.grid * p.grid);
    let k = i % p.K;
    let pp = p.ps * p.ps;
    let c = k / pp;
    let ky = (k % pp) / p.ps;
    let kx = k % p.ps;
    let y = (t / p.grid) * p.ps + ky;
    let x = (t % p.grid) * p.ps + kx;
    cols[i] = pixels[((image * p.channels + c) * p.size + y) * p.size + x];
  }
  if (i < p.nOut) { out[i] = posAt(i % p.nPos); }
}`;

const scratch = new WeakMap<object, GPUBuffer>();

/**
 * out[images·numPatches, dim] = conv(pixels) + b + pos: pixels f32 [images, channels, size, size]
 * (NCHW), w bf16 [dim, channels, patch, patch], b bf16 [dim], pos bf16 [numPatches, dim].
 */
export function patchEmbed(
  step: Step,
  a: { pixels: Binding; w: GpuWeight; b: GpuWeight; pos: GpuWeight; out: Binding; size: number; patch: number; dim: number; channels?: number; images?: number },
): void {
  const gpu = step.gpu;
  const channels = a.channels ?? 3;
  const images = a.images ?? 1;
  if (!(Number.isInteger(images) && images >= 1)) throw new Error(`patchEmbed: images ${images} must be a whole number ≥ 1`);
  if (a.size % a.patch) throw new Error(`patchEmbed: size ${a.size} is not a multiple of patch ${a.patch}`);
  const g = a.size / a.patch;
  const n = g * g;
  const rows = images * n;
  const K = channels * a.patch * a.patch;
  let cols = scratch.get(gpu);
  if (!cols || cols.size < rows * K * 4) {
    if (cols) gpu.forgetBuffer(cols); // may still be referenced by recorded work: dropped, not destroyed
    scratch.set(gpu, (cols = gpu.buffer(rows * K * 4, 'im2col')));
  }
  const items = Math.max(rows * K, rows * a.dim);
  const k = gpu.kernel({ name: 'patch-im2col', bindings: ['read', 'read', 'write', 'write'], code: im2colWgsl });
  const p = params({ size: a.size, ps: a.patch, grid: g, K, dim: a.dim, channels, nCols: rows * K, nOut: rows * a.dim, nPos: n * a.dim }, P);
  step.dispatch(k, [a.pixels, singleShard(a.pos), cols, a.out], p, grid(items, WG, gpu.limits.maxComputeWorkgroupsPerDimension));
  // The conv weight [dim, c, ky, kx] is read as the Linear weight [dim, K] (matrixShape).
  linear(step, { x: { buffer: cols, size: rows * K * 4 }, w: a.w, bias: a.b, out: a.out, M: rows, K, N: a.dim, accumulate: true });
}
