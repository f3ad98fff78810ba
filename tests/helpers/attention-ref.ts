// Float64 attention reference shared by the attention tests: explicit scores, the prefix-LM mask, softmax.

import { softcapRef } from '../../src/kernels/softcap.js';
import { randomF32 } from './gpu.js';

export interface Shape {
  seqQ: number;
  seqK: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  prefixLen: number;
  qStart: number;
  keyStart: number;
  batch?: number;
  /** per-sequence keyStart (batch > 1) */
  keyStarts?: number[];
  /** Gemma 2: scores → c·tanh(s/c), keys at |i − j| ≥ window hidden. */
  softcap?: number;
  window?: number;
}

/** Float64 reference: explicit scores (soft-capped), the prefix-LM mask (and window), softmax, probs·v. */
export function reference(
  s: Shape,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  scale: number,
  visible = (i: number, j: number, ks: number) => j >= ks && (j < s.prefixLen || j <= s.qStart + i) && !(Math.abs(s.qStart + i - j) >= (s.window || Infinity)),
): Float64Array {
  const { seqQ, seqK, heads, kvHeads, headDim: hd } = s;
  const batch = s.batch ?? 1;
  const group = heads / kvHeads;
  const out = new Float64Array(batch * seqQ * heads * hd);
  const sc = new Float64Array(seqK);
  for (let b = 0; b < batch; b++) {
    const ks = s.keyStarts?.[b] ?? s.keyStart;
    for (let i = 0; i < seqQ; i++) {
      for (let h = 0; h < heads; h++) {
        const kvh = Math.floor(h / group);
        const qo = (b * seqQ + i) * heads * hd + h * hd;
        let max = -Infinity;
        for (let j = 0; j < seqK; j++) {
          if (!visible(i, j, ks)) {
            sc[j] = -Infinity;
            continue;
          }
          const ko = (b * seqK + j) * kvHeads * hd + kvh * hd;
          let d = 0;
          for (let x = 0; x < hd; x++) d += q[qo + x]! * k[ko + x]!;
          sc[j] = softcapRef(d * scale, s.softcap ?? 0);
          max = Math.max(max, sc[j]!);
        }
        if (max === -Infinity) continue; // sees no key: zeros
        let sum = 0;
        for (let j = 0; j < seqK; j++) sum += sc[j] = sc[j] === -Infinity ? 0 : Math.exp(sc[j]! - max);
        for (let j = 0; j < seqK; j++) {
          const p = sc[j]! / sum;
          if (p === 0) continue;
          const vo = (b * seqK + j) * kvHeads * hd + kvh * hd;
          for (let x = 0; x < hd; x++) out[qo + x] += p * v[vo + x]!;
        }
      }
    }
  }
  return out;
}

export function inputs(s: Shape, seed: number) {
  const batch = s.batch ?? 1;
  return {
    q: randomF32(batch * s.seqQ * s.heads * s.headDim, seed, 2),
    k: randomF32(batch * s.seqK * s.kvHeads * s.headDim, seed + 1, 2),
    v: randomF32(batch * s.seqK * s.kvHeads * s.headDim, seed + 2),
  };
}
