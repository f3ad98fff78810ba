// The repetition penalty's memory on the GPU: sets bit `id` of row r's bitset (rows of `words`
// u32) for each row's newly chosen id, so generated tokens are penalised without a readback.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';

const P = { rows: 'u32', words: 'u32' } as const;

export const seenMarkWgsl = `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read_write> seen: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  let id = ids[r];
  if ((id >> 5u) < p.words) { atomicOr(&seen[r * p.words + (id >> 5u)], 1u << (id & 31u)); }
}`;

/** seen[r] |= {ids[r]} for r < rows; ids beyond the bitset are ignored. */
export function markSeen(step: Step, a: { ids: Binding; seen: Binding; rows: number; words: number }): void {
  const k = step.gpu.kernel({ name: 'seen-mark', bindings: ['read', 'write'], code: seenMarkWgsl });
  step.dispatch(k, [a.ids, a.seen], params({ rows: a.rows, words: a.words }, P), [Math.ceil(a.rows / 64)]);
}

/** The bitset words of a vocabulary of `cols` tokens, padded so that rows bind at 256-byte offsets. */
export function seenWords(cols: number): number {
  return Math.ceil(cols / 32 / 64) * 64;
}

/** A row's bitset on the CPU, for the ids already in a sequence (the prompt). */
export function seenBits(ids: Iterable<number>, cols: number): Uint32Array {
  const bits = new Uint32Array(seenWords(cols));
  for (const id of ids) if (id >= 0 && id < cols) bits[id >>> 5] = bits[id >>> 5]! | (1 << (id & 31));
  return bits;
}
