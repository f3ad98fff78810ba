// The scores a token is sampled from, in Hugging Face's order: the repetition penalty (a logit of
// a token already in the sequence is divided by the penalty when positive, multiplied when
// negative), then the temperature (z = logit / T). Also each chunk's largest score, which the
// later passes subtract before exp.

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { reduceF32Wgsl, sgArg } from './reduce.js';
import { chunkCount, PER, WG } from './sample-common.js';
import { wgsl } from './wgsl.js';

const P = { cols: 'u32', temperature: 'f32', penalty: 'f32' } as const;

// `wide` (cols a multiple of 4): four logits per load, which on lavapipe costs as much as one.
export function sampleScoresWgsl(penalized: boolean, sg: boolean, wide: boolean): string {
  const t = wide ? 'vec4<f32>' : 'f32';
  return wgsl`
#if ${sg}
enable subgroups;
#endif
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> logits: array<${t}>;
@group(0) @binding(1) var<storage, read_write> z: array<${t}>;
@group(0) @binding(2) var<storage, read_write> chunks: array<u32>;
#if ${penalized}
@group(0) @binding(3) var<storage, read> seen: array<u32>;
#endif
${reduceF32Wgsl(WG, sg)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32
#if ${sg}
  , @builtin(subgroup_size) sgSize: u32
#endif
) {
  var m = -3.4028234663852886e38;
#if ${wide}
  for (var j = 0u; j < ${PER / 4}u; j++) {
    let v = wid.x * ${(WG * PER) / 4}u + j * ${WG}u + lid;
    if (4u * v >= p.cols) { break; }
    var x = logits[v];
#if ${penalized}
    let bits = (vec4u(seen[v >> 3u]) >> (vec4u(4u * (v & 7u)) + vec4u(0u, 1u, 2u, 3u))) & vec4u(1u);
    x = select(x, select(x / p.penalty, x * p.penalty, x < vec4<f32>(0.0)), bits == vec4u(1u));
#endif
    let s = x / p.temperature;
    z[v] = s;
    m = max(m, max(max(s.x, s.y), max(s.z, s.w)));
  }
#else
  for (var j = 0u; j < ${PER}u; j++) {
    let c = wid.x * ${WG * PER}u + j * ${WG}u + lid;
    if (c >= p.cols) { break; }
    var x = logits[c];
#if ${penalized}
    if (((seen[c >> 5u] >> (c & 31u)) & 1u) == 1u) { x = select(x / p.penalty, x * p.penalty, x < 0.0); }
#endif
    let s = x / p.temperature;
    z[c] = s;
    m = max(m, s);
  }
#endif
  m = wgMax(m, lid, ${sgArg(sg)});
  if (lid == 0u) { chunks[4u * wid.x] = bitcast<u32>(m); }
}`;
}

/**
 * z = penalized(logits) / temperature over one row of `cols`, and the chunk maxima into `chunks`.
 * `seen`: a bitset (bit i of word i >> 5) of the ids the penalty applies to; none when penalty = 1.
 */
export function sampleScores(
  step: Step,
  a: { logits: Binding; cols: number; temperature: number; penalty: number; seen?: Binding; z: Binding; chunks: Binding },
): void {
  const gpu = step.gpu;
  const sg = gpu.features.subgroups;
  const penalized = a.penalty !== 1;
  if (penalized && !a.seen) throw new Error('sampleScores: a repetition penalty needs the seen-ids bitset');
  const wide = a.cols % 4 === 0;
  const k = gpu.kernel({
    name: `sample-scores${penalized ? '-penalty' : ''}${sg ? '-sg' : ''}${wide ? '-wide' : ''}`,
    bindings: ['read', 'write', 'write', ...(penalized ? (['read'] as const) : [])],
    code: () => sampleScoresWgsl(penalized, sg, wide),
  });
  const bindings = [a.logits, a.z, a.chunks, ...(penalized ? [a.seen!] : [])];
  step.dispatch(k, bindings, params({ cols: a.cols, temperature: a.temperature, penalty: a.penalty }, P), [chunkCount(a.cols)]);
}
