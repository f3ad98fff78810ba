// A LoRA adapter folded into a float32 copy of its weight (--lora-merge, docs/lora.md):
// W'[n, k] = W[n, k] + Σ_r B'ᵀ[r, n]·A[r, k], W read in its own format and layout (bf16, int8 or
// int4; a buffer or a weight texture; dequantized exactly as the matmuls read it) and W' written
// as f32 rows in the layout the matmul plan reads (buffers, or a texture where W is one). The sum
// over r is a float32 fma chain and W + Σ is rounded once more: W' is within (rank + 1) float32
// roundings of the exact W + B'·A (B'ᵀ = scale·Bᵀ was rounded once at upload). The base weight is
// only read, so unmerging is dropping the copy.

import type { Gpu } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { matrixShape, rowBytes, type GpuWeight, type WeightFormat } from '../weights.js';
import { flatIndex, grid } from './grid.js';
import { elementAt, rowWgsl, textureElementAt } from './weight-format.js';
import { READ_TEXTURE, createWeightTexture, fitsTexture, texelAtWgsl, weightTexture } from './weight-texture.js';
import { wgsl } from './wgsl.js';

const WG = 64;
/** rows: the rows [rowStart, rowStart + rows) this dispatch computes; src / out: the first row of the source shard / output shard it reads / writes. */
// wL / oL: layers per column block of a source / output texture (weight-texture.ts).
const P = { K: 'u32', N: 'u32', rank: 'u32', rowStart: 'u32', rows: 'u32', srcRow: 'u32', outRow: 'u32', wL: 'u32', oL: 'u32' } as const;

/** One invocation per 4 consecutive elements of a row (an f32 texel of the output). */
export function loraMergeWgsl(f: WeightFormat, src: 'buffer' | 'texture', out: 'buffer' | 'texture'): string {
  return wgsl`
${paramsWgsl(P)}
#if ${src === 'buffer'}
@group(0) @binding(0) var<storage, read> w: array<u32>;
#else
@group(0) @binding(0) var w: ${READ_TEXTURE};
#endif
@group(0) @binding(1) var<storage, read> a: array<f32>; // A [rank, K]
@group(0) @binding(2) var<storage, read> bt: array<f32>; // B'ᵀ [rank, N]
#if ${out === 'buffer'}
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
#else
@group(0) @binding(3) var o: texture_storage_2d_array<rgba32uint, write>;
#endif
${rowWgsl(f)}
${texelAtWgsl}
${src === 'buffer' ? elementAt(f, 'w') : textureElementAt(f, 'w', 'p.wL')}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let Q = (p.K + 3u) / 4u;
  let i = ${flatIndex(WG)};
  if (i >= p.rows * Q) { return; }
  let n = p.rowStart + i / Q;
  let q = i % Q;
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) {
    let k = 4u * q + j;
    if (k >= p.K) { break; }
    var d = 0.0;
    for (var r = 0u; r < p.rank; r++) { d = fma(bt[r * p.N + n], a[r * p.K + k], d); }
    v[j] = wAt(n - p.srcRow, k) + d;
  }
#if ${out === 'buffer'}
  for (var j = 0u; j < 4u && 4u * q + j < p.K; j++) { o[(n - p.outRow) * p.K + 4u * q + j] = v[j]; }
#else
  let at = texelAt(q, n - p.outRow, textureDimensions(o).y, p.oL);
  textureStore(o, at.xy, at.z, bitcast<vec4u>(v));
#endif
}`;
}

/** A weight's rows as the kernel reads or writes them: buffer shards, or one texture. */
type Piece = { rowStart: number; rows: number; binding: GPUBuffer | GPUTextureView; L: number };

function pieces(w: GpuWeight): { kind: 'buffer' | 'texture'; pieces: Piece[] } {
  const tex = weightTexture(w);
  if (tex) return { kind: 'texture', pieces: [{ rowStart: 0, rows: matrixShape(w.shape)[0], binding: tex.view, L: tex.L }] };
  return { kind: 'buffer', pieces: w.shards.map((s) => ({ rowStart: s.rowStart, rows: s.rows, binding: s.buffer, L: 0 })) };
}

/**
 * A new f32 weight [N, K] = w + B'·A (a: A [rank, K] f32, bt: B'ᵀ [rank, N] f32; rank 0: w
 * dequantized), in a texture where w is in one and the f32 rows fit, else in buffer shards of at
 * most one storage binding. Recorded on the device's queue; w is not changed.
 */
export function mergeLora(gpu: Gpu, w: GpuWeight, a: GPUBuffer, bt: GPUBuffer, rank: number, name: string): GpuWeight {
  const [N, K] = matrixShape(w.shape);
  if (w.shape.length !== 2) throw new Error(`mergeLora: ${w.name} is not a Linear weight [N, K] (shape [${w.shape.join(', ')}])`);
  if (a.size < rank * K * 4 || bt.size < rank * N * 4) throw new Error(`mergeLora: factors of ${a.size} and ${bt.size} bytes for rank ${rank} on [${N}, ${K}]`);
  const merged: GpuWeight = { name, shape: [N, K], dtype: 'f32', shards: [] };
  const src = pieces(w);
  let out: { kind: 'buffer' | 'texture'; pieces: Piece[] };
  if (src.kind === 'texture' && fitsTexture(gpu.limits, [N, K], Infinity, 'f32')) {
    const tex = createWeightTexture(gpu.device, merged);
    out = { kind: 'texture', pieces: [{ rowStart: 0, rows: N, binding: tex.view, L: tex.L }] };
  } else {
    const maxBinding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
    const per = Math.max(1, Math.floor(maxBinding / rowBytes('f32', K)));
    for (let rowStart = 0; rowStart < N; rowStart += per) {
      const rows = Math.min(per, N - rowStart);
      merged.shards.push({ buffer: gpu.buffer(rows * K * 4, `${name}#${merged.shards.length}`), rowStart, rows });
    }
    out = pieces(merged);
  }
  const kernel = gpu.kernel({
    name: `lora-merge-${w.dtype}-${src.kind}-${out.kind}`,
    bindings: [src.kind === 'texture' ? 'texture' : 'read', 'read', 'read', out.kind === 'texture' ? 'storage-texture' : 'write'],
    code: () => loraMergeWgsl(w.dtype, src.kind, out.kind),
  });
  const step = gpu.step(`lora merge ${w.name}`);
  for (const s of src.pieces) {
    for (const o of out.pieces) {
      const lo = Math.max(s.rowStart, o.rowStart);
      const hi = Math.min(s.rowStart + s.rows, o.rowStart + o.rows);
      if (hi <= lo) continue;
      const p = params({ K, N, rank, rowStart: lo, rows: hi - lo, srcRow: s.rowStart, outRow: o.rowStart, wL: s.L, oL: o.L }, P);
      step.dispatch(kernel, [s.binding, a, bt, o.binding], p, grid((hi - lo) * Math.ceil(K / 4), WG, gpu.limits.maxComputeWorkgroupsPerDimension));
    }
  }
  step.end();
  return merged;
}
