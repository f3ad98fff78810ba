// Token embedding lookup: out[r] = table[ids[r]]·scale with a bf16 or quantized table split along the vocab into
// shards (the real 257216×2048 table is 1 GiB: 8 shards of 32768 rows, each within the 128 MiB
// binding limit). One dispatch per shard, one workgroup per row; a workgroup whose id lies outside
// its shard returns at once (a uniform load and a branch), so the cost is one extra dispatch per
// shard (~20 µs) whatever the shard count. Binding all shards at once would need the shard count
// ≤ maxStorageBuffersPerShaderStage − 2 (only 6 at the default limit of 8) and one pipeline per
// count; dispatching per shard works for any split.
// Out-of-range ids (≥ vocab) produce a row of zeros (written by the first shard's dispatch) instead
// of reading out of bounds.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import type { GpuWeight } from '../weights.js';
import type { WeightFormat } from '../weights.js';
import { embedTexture } from './embed-texture.js';
import { grid } from './grid.js';
import { elementAt, rowWgsl } from './weight-format.js';
import { weightTexture } from './weight-texture.js';

const P = { rows: 'u32', dim: 'u32', rowStart: 'u32', shardRows: 'u32', vocab: 'u32', zeroMissing: 'u32', scale: 'f32' } as const;
const WG = 256;

export const embedWgsl = (f: WeightFormat) => /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${rowWgsl(f)}
${elementAt(f, 'table', 'p.dim')}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let id = ids[row];
  let dst = row * p.dim;
  if (id >= p.vocab) {
    if (p.zeroMissing == 1u) {
      for (var j = lid; j < p.dim; j += ${WG}u) { out[dst + j] = 0.0; }
    }
    return;
  }
  if (id < p.rowStart || id - p.rowStart >= p.shardRows) { return; }
  let n = id - p.rowStart;
  for (var j = lid; j < p.dim; j += ${WG}u) { out[dst + j] = tableAt(n, j) * p.scale; }
}`;

/**
 * out[r] = table[ids[r]]·scale for r < rows (ids u32; rows of out for ids ≥ vocab are zeroed), from
 * the table's buffer shards or from its weight texture (embed-texture.ts).
 */
export function embed(step: Step, a: { ids: Binding; table: GpuWeight; out: Binding; rows: number; dim: number; scale: number }): void {
  const gpu = step.gpu;
  const vocab = a.table.shape[0]!;
  const wt = weightTexture(a.table);
  if (wt) {
    embedTexture(step, { ...a, table: wt, vocab });
    return;
  }
  const f = a.table.dtype;
  const k = gpu.kernel({ name: `embed-${f}`, bindings: ['read', 'read', 'write'], code: () => embedWgsl(f) });
  const groups = grid(a.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension);
  a.table.shards.forEach((s, i) => {
    const p = params({ rows: a.rows, dim: a.dim, rowStart: s.rowStart, shardRows: s.rows, vocab, zeroMissing: i === 0 ? 1 : 0, scale: a.scale }, P);
    step.dispatch(k, [a.ids, s.buffer, a.out], p, groups);
  });
}
