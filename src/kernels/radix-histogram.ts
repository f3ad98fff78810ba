// One pass of the radix search for a threshold over a row of scores (sample.ts): each chunk counts
// the keys (keyOf(z), ordered like the floats) that share the bits fixed so far (state.prefix under
// `highMask`) into 256 bins by the next 8 bits. With `mass`, also the bins' mass exp(z − max) of
// the tokens top-k kept (key ≥ state.floorKey when `floored`), as 64-bit fixed point.
// Output: hist[(chunk·256 + bin)·3 + {0: count, 1: mass hi, 2: mass lo}].

import type { Binding, Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { chunkCount, fixedWgsl, PER, sampleStateWgsl, scoreMaxWgsl, WG } from './sample-common.js';
import { wgsl } from './wgsl.js';

const P = { cols: 'u32', nChunks: 'u32', shift: 'u32', highMask: 'u32', floored: 'u32' } as const;

export function radixHistogramWgsl(mass: boolean): string {
  return wgsl`${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> z: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> chunks: array<u32>;
@group(0) @binding(2) var<storage, read> st: SampleState;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;
${sampleStateWgsl}
${scoreMaxWgsl}
${fixedWgsl}
var<workgroup> count: array<atomic<u32>, 256>;
var<workgroup> massHi: array<atomic<u32>, 256>;
var<workgroup> massLo: array<atomic<u32>, 256>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  atomicStore(&count[lid], 0u);
#if ${mass}
  atomicStore(&massHi[lid], 0u);
  atomicStore(&massLo[lid], 0u);
#endif
  workgroupBarrier();
  let prefix = st.prefix & p.highMask;
  let floorKey = select(0u, st.floorKey, p.floored == 1u);
#if ${mass}
  let m = scoreMax(lid);
#endif
  // Four scores per load (z is padded to whole chunks): on lavapipe a load costs the same for 4 B
  // or 16 B a lane. Only lanes holding a key under the prefix go on to the atomics.
  for (var j = 0u; j < ${PER / 4}u; j++) {
    let v = wid.x * ${(WG * PER) / 4}u + j * ${WG}u + lid;
    let x = z[v];
    let keys = vec4u(keyOf(x.x), keyOf(x.y), keyOf(x.z), keyOf(x.w));
    let wanted = ((keys & vec4u(p.highMask)) == vec4u(prefix)) & (keys >= vec4u(floorKey)) & (vec4u(4u * v) + vec4u(0u, 1u, 2u, 3u) < vec4u(p.cols));
    if (!any(wanted)) { continue; }
    for (var i = 0u; i < 4u; i++) {
      if (!wanted[i]) { continue; }
      let bin = (keys[i] >> p.shift) & 255u;
      atomicAdd(&count[bin], 1u);
#if ${mass}
      let e = halvesOf(fixedOf(exp(x[i] - m)));
      atomicAdd(&massHi[bin], e.x);
      atomicAdd(&massLo[bin], e.y);
#endif
    }
  }
  workgroupBarrier();
  let at = (wid.x * 256u + lid) * 3u;
  hist[at] = atomicLoad(&count[lid]);
#if ${mass}
  let e = fromHalves(atomicLoad(&massHi[lid]), atomicLoad(&massLo[lid]));
  hist[at + 1u] = e.x;
  hist[at + 2u] = e.y;
#endif
}`;
}

/** The 8-bit digit at `shift` (24, 16, 8, 0) of every key under the state's prefix, per chunk. */
export function radixHistogram(
  step: Step,
  a: { z: Binding; chunks: Binding; state: Binding; hist: Binding; cols: number; shift: number; mass: boolean; floored: boolean },
): void {
  const gpu = step.gpu;
  const k = gpu.kernel({ name: `radix-histogram${a.mass ? '-mass' : ''}`, bindings: ['read', 'read', 'read', 'write'], code: () => radixHistogramWgsl(a.mass) });
  const nChunks = chunkCount(a.cols);
  const highMask = a.shift === 24 ? 0 : (0xffffffff << (a.shift + 8)) >>> 0;
  step.dispatch(k, [a.z, a.chunks, a.state, a.hist], params({ cols: a.cols, nChunks, shift: a.shift, highMask, floored: a.floored ? 1 : 0 }, P), [nChunks]);
}
