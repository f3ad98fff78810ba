// After each radix-histogram pass: adds up the chunks' bins and picks the one holding the
// threshold, fixing 8 more bits of its key in the state. After the last digit (shift 0) the key is
// exact.
// - top-k: the key of the k-th largest score, counting duplicates (so every tie with it is kept,
//   as in Hugging Face's `scores < topk(scores, k)[-1]`), into state.floorKey.
// - top-p: Hugging Face sorts ascending and drops every token whose cumulative probability is
//   ≤ 1 − p. Here: the smallest key whose cumulative mass (all kept keys ≤ it) exceeds
//   goal = (1 − p)·Σ mass, into state.cutKey; of the n tokens sharing it, those whose place in the
//   ascending order (ties by index) keeps their running sum ≤ goal go. When no key exceeds the
//   goal, only the most probable token stays (HF keeps at least one).

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { fixedWgsl, sampleStateWgsl, WG } from './sample-common.js';
import { wgsl } from './wgsl.js';

const P = { nChunks: 'u32', shift: 'u32', highMask: 'u32', first: 'u32', k: 'u32', removable: 'f32' } as const;

const pickTopK = /* wgsl */ `
  let rank = select(st.rank, p.k, p.first == 1u);
  var above = 0u;
  var bin = 0u;
  for (var b = 255i; b >= 0i; b--) {
    let n = binCount[b];
    if (above + n >= rank) { bin = u32(b); break; }
    above += n;
  }
  st.rank = rank - above;
  st.prefix = (st.prefix & p.highMask) | (bin << p.shift);
  if (p.shift == 0u) { st.floorKey = st.prefix; }`;

const pickTopP = /* wgsl */ `
  if (p.first == 1u) {
    var total = vec2u(0u);
    for (var b = 0u; b < 256u; b++) { total = add64(total, binMass[b]); }
    st.goal = p.removable * f32Of(total);
    st.belowHi = 0u;
    st.belowLo = 0u;
  }
  let goal = st.goal;
  var below = vec2u(st.belowHi, st.belowLo);
  var bin = 256u;
  var last = 0u;
  var belowLast = below;
  for (var b = 0u; b < 256u; b++) {
    if (binCount[b] == 0u) { continue; }
    let next = add64(below, binMass[b]);
    if (f32Of(next) > goal) { bin = b; break; }
    last = b;
    belowLast = below;
    below = next;
  }
  if (bin == 256u) { // nothing exceeds the goal: the most probable token alone
    bin = last;
    below = belowLast;
  }
  st.belowHi = below.x;
  st.belowLo = below.y;
  st.prefix = (st.prefix & p.highMask) | (bin << p.shift);
  if (p.shift == 0u) {
    let n = binCount[bin];
    let each = f32Of(binMass[bin]) / f32(n);
    let gone = clamp(floor((goal - f32Of(below)) / each), 0.0, f32(n - 1u));
    st.cutKey = st.prefix;
    st.tiesKept = n - u32(gone);
  }`;

export function radixPickWgsl(topP: boolean): string {
  return wgsl`${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> hist: array<u32>;
@group(0) @binding(1) var<storage, read_write> st: SampleState;
${sampleStateWgsl}
${fixedWgsl}
var<workgroup> binCount: array<u32, 256>;
var<workgroup> binMass: array<vec2u, 256>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var n = 0u;
  var mass = vec2u(0u);
  for (var c = 0u; c < p.nChunks; c++) {
    let at = (c * 256u + lid) * 3u;
    n += hist[at];
#if ${topP}
    mass = add64(mass, vec2u(hist[at + 1u], hist[at + 2u]));
#endif
  }
  binCount[lid] = n;
  binMass[lid] = mass;
  workgroupBarrier();
  if (lid != 0u) { return; }
#if ${topP}
${pickTopP}
#else
${pickTopK}
#endif
}`;
}

/** Picks the digit at `shift` of the top-k (`k`) or top-p (`removable` = 1 − p, as f32) threshold. */
export function radixPick(
  step: Step,
  a: { hist: Binding; state: Binding; nChunks: number; shift: number; filter: 'top-k' | 'top-p'; k?: number; removable?: number },
): void {
  const gpu = step.gpu;
  const topP = a.filter === 'top-p';
  const kern = gpu.kernel({ name: `radix-pick-${a.filter}`, bindings: ['read', 'write'], code: () => radixPickWgsl(topP) });
  const highMask = a.shift === 24 ? 0 : (0xffffffff << (a.shift + 8)) >>> 0;
  const first = a.shift === 24 ? 1 : 0;
  step.dispatch(kern, [a.hist, a.state], params({ nChunks: a.nChunks, shift: a.shift, highMask, first, k: a.k ?? 0, removable: a.removable ?? 0 }, P), [1]);
}
