// The attention weights of a block of query slots, in place over their raw scores q·k
// (attention-matmul.ts): score·scale, soft-capped (Gemma 2), masked as attention.ts masks
// (attention-mask.ts; and j < keys), then softmax over the keys seen. Keys not seen and the row's padding (keys … ld) get 0,
// and so does every key of a slot that sees none (attention.ts gives such a query zeros).
// One workgroup per row; slot s (rows from slot m0 on) is query s / perQuery at position qStart + that.
// Heads batched in one dispatch (attention-matmul.ts) follow each other every `headRows` rows.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { grid } from './grid.js';
import { reduceF32Wgsl, rowMainWgsl, sgArg } from './reduce.js';
import { seenKeysWgsl } from './attention-mask.js';
import { subgroupsOf8 } from './matmul.js';
import { softcapWgsl } from './softcap.js';
import { wgsl } from './wgsl.js';

const P = {
  rows: 'u32', headRows: 'u32', keys: 'u32', ld: 'u32', m0: 'u32', perQuery: 'u32', qStart: 'u32', prefixLen: 'u32',
  window: 'u32', keyStart: 'u32', seq: 'u32', scale: 'f32', softcap: 'f32',
} as const;
// One 8-lane workgroup (a subgroup on lavapipe) per row: 0.40× (Gemma) and 0.23× (SigLIP) the time
// of 64 lanes. Its keys seen are one range (seenKeys), so no key is masked one by one, and the
// max pass reads raw scores: 0.66–0.90× the time of a running max and sum (two exps a key, the
// soft-cap's tanh computed and dropped where there is none), 0.31× with Gemma 2's cap (bench/README.md).
// Rows of up to 1024 keys stay in a private array between the passes, a lane's keys as whole vec4s
// (one vec4 load and store per 4 keys instead of three and two scalar ones a key): 0.52–0.59× the
// time at SigLIP 224 and 448 px and Gemma's prefill (scalars in the array: 0.72–0.89×;
// bench/README.md).
const WG = 8;
const NEG = '-3.0e38';
const MAX_CACHED = 128;

export function attentionSoftmaxWgsl(sg: boolean, perSeqKeyStart: boolean, capped: boolean, oneSubgroup = false, cache = 0): string {
  return wgsl`
#if ${sg}
enable subgroups;
#endif
${paramsWgsl(P)}
#if ${cache === 0}
@group(0) @binding(0) var<storage, read_write> s: array<f32>;
#else
@group(0) @binding(0) var<storage, read_write> s4: array<vec4f>;
#endif
#if ${perSeqKeyStart}
@group(0) @binding(1) var<storage, read> keyStarts: array<u32>;
#endif
${reduceF32Wgsl(WG, sg, oneSubgroup)}
#if ${capped}
${softcapWgsl}
#endif
${seenKeysWgsl}

// A raw score's logit: scaled, and soft-capped where the model caps.
fn logit(raw: f32) -> f32 {
#if ${capped}
  return softcap(raw * p.scale, p.softcap);
#else
  return raw * p.scale;
#endif
}

#if ${cache > 0}
// Which of texel q's 4 keys the row sees.
fn seenIn(q: u32, seen: vec2u) -> vec4<bool> {
  let j = 4u * q + vec4u(0u, 1u, 2u, 3u);
  return (j >= vec4u(seen.x)) & (j < vec4u(seen.y));
}
#endif

${rowMainWgsl(WG, sg)}
  let pos = p.qStart + (p.m0 + row % p.headRows) / p.perQuery;
#if ${perSeqKeyStart}
  let ks = keyStarts[p.seq];
#else
  let ks = p.keyStart;
#endif
  let seen = seenKeys(pos, ks, p.prefixLen, p.window, p.keys);
  // The logit grows with the raw score (scale > 0, tanh increasing): the largest raw score's is the
  // largest, so the max pass needs no exp or tanh, and each seen score takes one exp in all.
#if ${cache > 0}
  // The row's texels (4 keys each) from the first seen key's, ${cache / 4} a lane, stay in a private
  // array: one load and one store a key. Keys not seen in them count as ${NEG} and come out 0.
  var c: array<vec4f, ${cache / 4}>;
  let t0 = seen.x / 4u;
  let t1 = (seen.y + 3u) / 4u;
  let row4 = row * (p.ld / 4u);
  var m = ${NEG};
  for (var i = 0u; i < ${cache / 4}u; i++) {
    let q = t0 + lid + ${WG}u * i;
    if (q >= t1) { break; }
    c[i] = select(vec4f(${NEG}), s4[row4 + q], seenIn(q, seen));
    m = max(m, max(max(c[i].x, c[i].y), max(c[i].z, c[i].w)));
  }
  let mAll = logit(wgMax(m, lid, ${sgArg(sg)}));
  var t = 0.0;
  for (var i = 0u; i < ${cache / 4}u; i++) {
    let q = t0 + lid + ${WG}u * i;
    if (q >= t1) { break; }
    let raw = c[i];
    c[i] = select(vec4f(0.0), exp(vec4f(logit(raw.x), logit(raw.y), logit(raw.z), logit(raw.w)) - mAll), seenIn(q, seen));
    t += c[i].x + c[i].y + c[i].z + c[i].w;
  }
  let total = wgSum(t, lid, ${sgArg(sg)});
  let inv = select(0.0, 1.0 / total, total > 0.0);
  for (var q = lid; q < t0; q += ${WG}u) { s4[row4 + q] = vec4f(0.0); }
  for (var i = 0u; i < ${cache / 4}u; i++) {
    let q = t0 + lid + ${WG}u * i;
    if (q >= t1) { break; }
    s4[row4 + q] = c[i] * inv;
  }
  for (var q = t1 + lid; q < p.ld / 4u; q += ${WG}u) { s4[row4 + q] = vec4f(0.0); }
#else
  let base = row * p.ld;
  var m = ${NEG};
  for (var j = seen.x + lid; j < seen.y; j += ${WG}u) { m = max(m, s[base + j]); }
  let mAll = logit(wgMax(m, lid, ${sgArg(sg)}));
  var t = 0.0;
  for (var j = seen.x + lid; j < seen.y; j += ${WG}u) {
    let e = exp(logit(s[base + j]) - mAll);
    s[base + j] = e;
    t += e;
  }
  let total = wgSum(t, lid, ${sgArg(sg)});
  let inv = select(0.0, 1.0 / total, total > 0.0);
  for (var j = lid; j < seen.x; j += ${WG}u) { s[base + j] = 0.0; }
  for (var j = seen.x + lid; j < seen.y; j += ${WG}u) { s[base + j] *= inv; }
  for (var j = seen.y + lid; j < p.ld; j += ${WG}u) { s[base + j] = 0.0; }
#endif
}`;
}

export interface AttentionSoftmaxArgs {
  /** rows × ld raw scores, replaced by the weights. */
  scores: Binding;
  rows: number;
  /** Rows per head where several heads' follow each other (default: rows). */
  headRows?: number;
  keys: number;
  ld: number;
  m0: number;
  perQuery: number;
  qStart: number;
  prefixLen: number;
  /** 0 = none. */
  window: number;
  keyStart: number;
  /** u32 per sequence, read at `seq` instead of keyStart. */
  keyStarts?: Binding;
  seq: number;
  scale: number;
  /** 0 = none. */
  softcap: number;
  /** Scores a lane keeps in a private array, at least keys / 8 (0: three passes over memory); default by keys. */
  cache?: number;
}

/**
 * Scores a lane keeps in a private array for rows of `keys` keys: a power of two from 16 on, 0
 * (three passes over memory) past 8 × 128 keys. WGSL zero-fills the array, so a bigger one than the row needs costs.
 */
function cachedPerLane(keys: number): number {
  const n = Math.max(16, 2 ** Math.ceil(Math.log2(Math.ceil(keys / WG))));
  return n <= MAX_CACHED ? n : 0;
}

export function attentionSoftmax(step: Step, a: AttentionSoftmaxArgs): void {
  const gpu = step.gpu;
  const sg = gpu.features.subgroups;
  // Subgroups of 8 (lavapipe: the only adapters attention-matmul.ts runs on): a row is one subgroup.
  const one = subgroupsOf8(gpu);
  const perSeq = a.keyStarts !== undefined;
  const capped = a.softcap > 0;
  const cache = a.cache ?? cachedPerLane(a.keys);
  if (cache > 0 && WG * cache < a.keys) throw new Error(`attentionSoftmax: ${cache} scores a lane hold ${WG * cache} of a row's ${a.keys} keys`);
  const k = gpu.kernel({
    name: `attention-softmax${one ? '-sg8' : sg ? '-sg' : ''}${perSeq ? '-ks' : ''}${capped ? '-cap' : ''}${cache ? `-c${cache}` : ''}`,
    bindings: perSeq ? ['write', 'read'] : ['write'],
    code: () => attentionSoftmaxWgsl(sg, perSeq, capped, one, cache),
  });
  const { scores, keyStarts, cache: _, ...values } = a;
  const u = params({ ...values, headRows: a.headRows ?? a.rows, window: a.window || 0xffffffff }, P);
  step.dispatch(k, keyStarts ? [scores, keyStarts] : [scores], u, grid(a.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension));
}
