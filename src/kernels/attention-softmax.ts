// The attention weights of a block of query slots, in place over their raw scores q·k
// (attention-matmul.ts): score·scale, soft-capped (Gemma 2), masked as attention.ts masks
// (attention-mask.ts; and j < keys), then softmax over the keys seen. Keys not seen and the row's padding (keys … ld) get 0,
// and so does every key of a slot that sees none (attention.ts gives such a query zeros).
// One workgroup per row; slot s (rows from slot m0 on) is query s / perQuery at position qStart + that.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { grid } from './grid.js';
import { reduceF32Wgsl, rowMainWgsl, sgArg } from './reduce.js';
import { seesWgsl } from './attention-mask.js';
import { softcapWgsl } from './softcap.js';
import { wgsl } from './wgsl.js';

const P = {
  rows: 'u32', keys: 'u32', ld: 'u32', m0: 'u32', perQuery: 'u32', qStart: 'u32', prefixLen: 'u32',
  window: 'u32', keyStart: 'u32', seq: 'u32', scale: 'f32', softcap: 'f32',
} as const;
// One 8-lane workgroup (a subgroup on lavapipe) per row, each lane a running max and sum over its
// keys in one pass: 0.40× (Gemma) and 0.23× (SigLIP) the time of 64 lanes and three passes.
const WG = 8;
const NEG = '-3.0e38';

export function attentionSoftmaxWgsl(sg: boolean, perSeqKeyStart: boolean): string {
  return wgsl`
#if ${sg}
enable subgroups;
#endif
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read_write> s: array<f32>;
#if ${perSeqKeyStart}
@group(0) @binding(1) var<storage, read> keyStarts: array<u32>;
#endif
${reduceF32Wgsl(WG, sg)}
${softcapWgsl}
${seesWgsl}

// The scaled, capped score of key j, or NEG where the slot does not see it.
fn score(i: u32, j: u32, pos: u32, ks: u32) -> f32 {
  let seen = j < p.keys && sees(j, pos, ks, p.prefixLen, p.window);
  let v = s[i] * p.scale;
  return select(${NEG}, select(v, softcap(v, p.softcap), p.softcap > 0.0), seen);
}

${rowMainWgsl(WG, sg)}
  let base = row * p.ld;
  let pos = p.qStart + (p.m0 + row) / p.perQuery;
#if ${perSeqKeyStart}
  let ks = keyStarts[p.seq];
#else
  let ks = p.keyStart;
#endif
  // Each lane keeps a running max and sum over its keys (one pass), then the lanes combine them.
  var m = ${NEG};
  var t = 0.0;
  for (var j = lid; j < p.keys; j += ${WG}u) {
    let v = score(base + j, j, pos, ks);
    let mt = max(m, v);
    t = t * exp(m - mt) + select(0.0, exp(v - mt), v > -1.0e38);
    m = mt;
  }
  let mAll = wgMax(m, lid, ${sgArg(sg)});
  t = wgSum(select(0.0, t * exp(m - mAll), m > -1.0e38), lid, ${sgArg(sg)});
  let inv = select(0.0, 1.0 / t, t > 0.0);
  for (var j = lid; j < p.ld; j += ${WG}u) {
    let v = score(base + j, j, pos, ks);
    s[base + j] = select(0.0, exp(v - mAll) * inv, v > -1.0e38);
  }
}`;
}

export interface AttentionSoftmaxArgs {
  /** rows × ld raw scores, replaced by the weights. */
  scores: Binding;
  rows: number;
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
}

export function attentionSoftmax(step: Step, a: AttentionSoftmaxArgs): void {
  const gpu = step.gpu;
  const sg = gpu.features.subgroups;
  const perSeq = a.keyStarts !== undefined;
  const k = gpu.kernel({
    name: `attention-softmax${sg ? '-sg' : ''}${perSeq ? '-ks' : ''}`,
    bindings: perSeq ? ['write', 'read'] : ['write'],
    code: () => attentionSoftmaxWgsl(sg, perSeq),
  });
  const { scores, keyStarts, ...values } = a;
  const u = params({ ...values, window: a.window || 0xffffffff }, P);
  step.dispatch(k, keyStarts ? [scores, keyStarts] : [scores], u, grid(a.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension));
}
