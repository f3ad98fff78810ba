// Weights [N, K] in an rgba32uint 2-D array texture for the CPU-adapter matmul: texel t of weight
// row n — bf16: elements 8t..8t+7 (K padded with zeros to a multiple of 8); int8 / int4: the
// quantized row's texels as a buffer holds them (weights.ts quantRow: codes, then scales); f32:
// elements 4t..4t+3 — so one textureLoad fetches 16 bytes: on lavapipe a texture fetch costs a
// third of a per-lane storage load, and from a read-only storage texture (READ_TEXTURE) less again
// than through the sampler (the matmul 0.67–0.73× the time for GEMMs, 0.4–0.65× for decode GEMVs;
// bench/README.md). Tall weights fold into L layers of H ≤ maxTextureDimension2D rows, long rows into column blocks of BLOCK_TEXELS texels, each block in L layers of its own:
// texel t of row n lies at (t % BLOCK_TEXELS, n % H) of layer (t / BLOCK_TEXELS)·L + n / H
// (texelAtWgsl). The pack kernel reads the loader's buffers (any shard split).

import type { Gpu } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { matrixShape, quantRow, type GpuWeight, type WeightFormat } from '../weights.js';
import { flatIndex, grid } from './grid.js';
import { wgsl } from './wgsl.js';

export interface WeightTexture {
  texture: GPUTexture;
  view: GPUTextureView;
  /** Rows per layer. */
  H: number;
  /** Texels per row: ceil(K / 8) for bf16, ceil(K / 4) for f32, quantRow(…).texels for int8 / int4. */
  W: number;
  /** Layers per block of BLOCK_TEXELS columns: the rows' texels t of block t / BLOCK_TEXELS lie in layers [block·L, block·L + L). */
  L: number;
  format: WeightFormat;
}

/**
 * Texels per row of a texture layer: longer rows go on in further layers (column blocks), so that
 * the rows a GEMV streams side by side lie 8 KiB apart, not a whole row: on lavapipe the decode
 * down projection (rows of 32 KiB) ran 1.77–1.79× the time of the gate projection of the same
 * bytes (rows of 4 KiB) in one process, in blocks of 8 KiB 1.11–1.16× (bench/README.md).
 */
export const BLOCK_TEXELS = 512;

/** WGSL \`fn texelAt(t, n, H, L) -> vec3u\`: texture coordinates (x, y, layer) of texel t of row n (H rows a layer, L layers a column block). */
export const texelAtWgsl = /* wgsl */ `
fn texelAt(t: u32, n: u32, H: u32, L: u32) -> vec3u {
  return vec3u(t % ${BLOCK_TEXELS}u, n % H, (t / ${BLOCK_TEXELS}u) * L + n / H);
}`;

/**
 * WGSL: the type every kernel reads these textures as (the 'texture' binding kind, device.ts): a
 * read-only storage texture, whose textureLoad llvmpipe compiles to an image load instead of a call
 * into its sampling code.
 */
export const READ_TEXTURE = 'texture_storage_2d_array<rgba32uint, read>';

/** WGSL \`fn ${'${tex}'}Texel(t, n) -> vec4u\`: texel t of row n of texture \`tex\` of L layers a column block (with texelAtWgsl). */
export function texelLoadWgsl(tex: string, L: string): string {
  return /* wgsl */ `
fn ${tex}Texel(t: u32, n: u32) -> vec4u {
  let at = texelAt(t, n, textureDimensions(${tex}).y, ${L});
  return textureLoad(${tex}, at.xy, at.z);
}`;
}

/**
 * The copies that put `rows` rows of `width` texels into texture rows rowStart … of wt, from a
 * buffer holding row i's texels at byte srcOffset + i·bytesPerRow: one per texture layer and column
 * block they span, each as its source offset, width, height and first (y, layer).
 */
export function rowCopies(wt: WeightTexture, rowStart: number, rows: number, srcOffset: number, bytesPerRow: number, width = wt.W): { offset: number; width: number; height: number; y: number; layer: number }[] {
  const out = [];
  for (let r = 0; r < rows; ) {
    const n = rowStart + r;
    const height = Math.min(rows - r, wt.H - (n % wt.H));
    for (let b = 0; b < blocksOf(width); b++) {
      out.push({ offset: srcOffset + r * bytesPerRow + b * BLOCK_TEXELS * 16, width: Math.min(BLOCK_TEXELS, width - b * BLOCK_TEXELS), height, y: n % wt.H, layer: b * wt.L + Math.floor(n / wt.H) });
    }
    r += height;
  }
  return out;
}

/** Column blocks of a row of W texels. */
function blocksOf(W: number): number {
  return Math.max(1, Math.ceil(W / BLOCK_TEXELS));
}

/** Texels per row of a [N, K] weight in format f. */
export function texelsPerRow(f: WeightFormat, K: number): number {
  return f === 'bf16' ? Math.ceil(K / 8) : f === 'f32' ? Math.ceil(K / 4) : quantRow(f, K).texels;
}

const textures = new WeakMap<GpuWeight, WeightTexture>();

/** The texture a weight was packed into, if it was. */
export function weightTexture(w: GpuWeight): WeightTexture | undefined {
  return textures.get(w);
}

/**
 * Rows per layer for N rows: as many as the texture limit and `maxRows` allow, spread evenly over
 * the layers that takes (the loader caps a layer at its staging size, so that one copy fills it).
 */
function layerRows(limits: GPUSupportedLimits, N: number, maxRows = Infinity): number {
  const layers = Math.ceil(N / Math.max(1, Math.min(N, limits.maxTextureDimension2D, maxRows)));
  return Math.ceil(N / layers);
}

/**
 * Whether a weight of this shape goes into the texture layout under these limits (at most
 * `maxRows` rows per layer): [N, K] or a conv kernel [N, …] read as [N, K] (matrixShape), with
 * K % 4 == 0 (matmul-texture reads x as vec4; a row of K % 8 == 4 ends in a half-zero texel),
 * within the texture limits.
 */
export function fitsTexture(limits: GPUSupportedLimits, shape: readonly number[], maxRows = Infinity, format: WeightFormat = 'bf16'): boolean {
  const [N, K] = matrixShape(shape);
  if (shape.length < 2 || K % 4 !== 0 || N === 0 || K === 0) return false;
  const H = layerRows(limits, N, maxRows);
  return H <= limits.maxTextureDimension2D && Math.ceil(N / H) * blocksOf(texelsPerRow(format, K)) <= limits.maxTextureArrayLayers;
}

/** Whether a weight fits the texture layout on this device. */
export function texturable(gpu: Gpu, w: GpuWeight): boolean {
  return fitsTexture(gpu.limits, w.shape, Infinity, w.dtype);
}

const P = { K: 'u32', rows: 'u32', rowStart: 'u32', W: 'u32', H: 'u32', L: 'u32' } as const;
const WG = 64;

/** bf16 rows are K halves (any K); a quantized or f32 row is already its W texels. */
const texelOf = (f: WeightFormat) => wgsl`
#if ${f === 'bf16'}
fn half(r: u32, k: u32) -> u32 {
  if (k >= p.K) { return 0u; }
  let e = r * p.K + k;
  return (src[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;
}
fn texel(r: u32, t: u32) -> vec4u {
  var v: vec4u;
  for (var j = 0u; j < 4u; j++) {
    v[j] = half(r, 8u * t + 2u * j) | (half(r, 8u * t + 2u * j + 1u) << 16u);
  }
  return v;
}
#else
fn texel(r: u32, t: u32) -> vec4u {
  let i = 4u * (r * p.W + t);
  return vec4u(src[i], src[i + 1u], src[i + 2u], src[i + 3u]);
}
#endif`;

export const weightTexturePackWgsl = (f: WeightFormat) => /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var tex: texture_storage_2d_array<rgba32uint, write>;
${texelOf(f)}
${texelAtWgsl}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex(WG)};
  if (i >= p.rows * p.W) { return; }
  let r = i / p.W;
  let t = i % p.W;
  let at = texelAt(t, p.rowStart + r, p.H, p.L);
  textureStore(tex, at.xy, at.z, texel(r, t));
}`;

/**
 * An empty texture for N rows of K elements of format f with the layout the pack kernel writes:
 * texel t of row n (bf16: elements 8t … 8t+7; f32 4t … 4t+3) at texelAt(t, n, H, L).
 */
function newTexture(device: GPUDevice, label: string, N: number, K: number, format: WeightFormat, maxRows = Infinity): WeightTexture {
  const H = layerRows(device.limits, N, maxRows);
  const W = texelsPerRow(format, K);
  const L = Math.ceil(N / H);
  const texture = device.createTexture({
    label,
    size: [Math.min(W, BLOCK_TEXELS), H, L * blocksOf(W)],
    format: 'rgba32uint',
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC,
  });
  return { texture, view: texture.createView({ dimension: '2d-array' }), H, W, L, format };
}

function weightTextureOf(device: GPUDevice, w: GpuWeight, maxRows = Infinity): WeightTexture {
  const [N, K] = matrixShape(w.shape);
  return newTexture(device, w.name, N, K, w.dtype, maxRows);
}

const scratches = new WeakMap<Gpu, Map<string, WeightTexture[]>>();

/**
 * A texture of at least N rows of K float32 under `label`, kept for later calls (as Gpu.scratch
 * keeps buffers): a label keeps each of its textures that no later one covers, and a new one is
 * sized for its own request. One texture grown to the most rows and the longest K asked of it
 * made the 3B model's GEMM x copy 4096 rows of 16384 floats, 374 MiB in all, where the products
 * need 20–32 MiB (attention's 4096 rows of 256 keys, the down projection's 260 rows of 16384). A
 * texture dropped here stays alive while recorded steps bind it. Its rows may be wider than K: the
 * matmul reads the texels of K only.
 */
export function scratchTexture(gpu: Gpu, label: string, N: number, K: number): WeightTexture {
  const mine = scratches.get(gpu) ?? new Map<string, WeightTexture[]>();
  scratches.set(gpu, mine);
  const kept = mine.get(label) ?? [];
  const rows = (t: WeightTexture) => t.H * t.L;
  const fits = kept.find((t) => rows(t) >= N && t.W * 4 >= K);
  if (fits) return fits;
  // Sizes grow to multiples of 256, so that prompts of slowly rising length do not make one
  // texture each (exactly the size asked where that would exceed the limits).
  const grown = [Math.ceil(N / 256) * 256, Math.ceil(K / 256) * 256];
  const exact = [N, Math.ceil(K / 4) * 4];
  const [n, k] = [grown, exact].find((s) => fitsTexture(gpu.limits, s, Infinity, 'f32')) ?? [];
  if (n === undefined || k === undefined) throw new Error(`scratchTexture ${label}: ${N} rows of ${K} floats exceed the texture limits`);
  const t = newTexture(gpu.device, label, n, k, 'f32');
  mine.set(label, [...kept.filter((o) => rows(o) > rows(t) || o.W > t.W), t]);
  return t;
}

/**
 * An empty weight texture for `w` with at most `maxRows` rows per layer, registered
 * (weightTexture(w) returns it) for copyWeightRows to fill.
 */
export function createWeightTexture(device: GPUDevice, w: GpuWeight, maxRows = Infinity): WeightTexture {
  const wt = weightTextureOf(device, w, maxRows);
  textures.set(w, wt);
  return wt;
}

/** Bytes between two rows of W texels in a buffer copied into a weight texture (copies want multiples of 256). */
export function textureRowStride(W: number): number {
  return Math.ceil((W * 16) / 256) * 256;
}

/**
 * Records the copy of rows rowStart … rowStart + rows − 1 of a weight into its texture from
 * `src`, where row i's texels start at byte i · textureRowStride(W) (bf16: a texel is 8
 * consecutive bf16, so a row's texels are its bytes followed by zeros up to a multiple of 16).
 */
export function copyWeightRows(encoder: GPUCommandEncoder, src: GPUBuffer, wt: WeightTexture, rowStart: number, rows: number): void {
  const stride = textureRowStride(wt.W);
  if (src.size < rows * stride) throw new Error(`copyWeightRows: ${src.size} bytes for ${rows} rows at a stride of ${stride}`);
  for (const c of rowCopies(wt, rowStart, rows, 0, stride)) {
    encoder.copyBufferToTexture(
      { buffer: src, offset: c.offset, bytesPerRow: stride, rowsPerImage: c.height },
      { texture: wt.texture, origin: { x: 0, y: c.y, z: c.layer } },
      { width: c.width, height: c.height, depthOrArrayLayers: 1 },
    );
  }
}

/**
 * Packs `w` into a texture, then destroys its buffers (the texture is the only copy afterwards:
 * `w.shards` becomes empty). Waits for the GPU so that only one tensor is ever held twice.
 * (The loader can write textures directly instead: LoadOptions.textures.)
 */
export async function packWeightTexture(gpu: Gpu, w: GpuWeight): Promise<WeightTexture> {
  const [, K] = matrixShape(w.shape);
  const wt = weightTextureOf(gpu.device, w);
  const { H, W } = wt;
  const kernel = gpu.kernel({ name: `weight-texture-pack-${w.dtype}`, bindings: ['read', 'storage-texture'], code: () => weightTexturePackWgsl(w.dtype) });
  const step = gpu.step(`pack ${w.name}`);
  for (const s of w.shards) {
    step.dispatch(kernel, [s.buffer, wt.view], params({ K, rows: s.rows, rowStart: s.rowStart, W, H, L: wt.L }, P), grid(s.rows * W, WG, gpu.limits.maxComputeWorkgroupsPerDimension));
  }
  step.end();
  await gpu.finish(`pack ${w.name}`);
  for (const s of w.shards) {
    gpu.forgetBuffer(s.buffer);
    s.buffer.destroy();
  }
  w.shards = [];
  textures.set(w, wt);
  return wt;
}
