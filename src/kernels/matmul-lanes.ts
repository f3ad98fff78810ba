// CPU-adapter GEMV over buffer weights (the tied LM head, which stays in the loader's shards for the
// embedding gather): one output column per lane, M ≤ 8 rows per lane, 16-byte weight loads along
// that column's row of w. Every lane reads x at the same address, which llvmpipe turns into one
// scalar load (per-lane loads are what it scalarises); the per-lane weight load is the only
// expensive access, once per 8 bf16. x comes from a uniform copy when M·K fits 64 KiB (uniformX:
// the LM head measured 3.20 vs 2.80 GB/s with x in storage, same run). Needs K % 8 == 0.

import type { Step } from '../device.js';
import { params, paramsWgsl } from '../uniforms.js';
import { wgsl } from './wgsl.js';
import { P, UNIFORM_X_FLOATS, epilogueBindings, epilogueKey, epilogueKinds, epilogueWgsl, shapeParams, uniformX, unpackWgsl, type Epilogue, type MatmulBuffers, type MatmulShape } from './matmul-common.js';

const WG = 64;
export const LANES_MAX_ROWS = 8;

export function lanesWgsl(e: Epilogue, R: number, ux: boolean): string {
  const up = e.geglu;
  const rs = [...Array(R).keys()];
  const fma8 = (r: number, acc: string) =>
    ['x', 'y', 'z', 'w'].map((c) => `xa${r}.${c}, lo.${c}`).concat(['x', 'y', 'z', 'w'].map((c) => `xb${r}.${c}, hi.${c}`))
      .reduce((inner, args) => `fma(${args}, ${inner})`, acc);
  const body = (buf: string, acc: string) => `{
      let v = ${buf}[n * (p.K / 8u) + t];
      let lo = vec4f(lo16(v.x), hi16(v.x), lo16(v.y), hi16(v.y));
      let hi = vec4f(lo16(v.z), hi16(v.z), lo16(v.w), hi16(v.w));
      ${rs.map((r) => `${acc}${r} = ${fma8(r, `${acc}${r}`)};`).join('\n      ')}
    }`;
  return wgsl`
${paramsWgsl(P)}
#if ${ux}
@group(0) @binding(0) var<uniform> x: array<vec4f, ${UNIFORM_X_FLOATS / 4}>;
#else
@group(0) @binding(0) var<storage, read> x: array<vec4f>;
#endif
@group(0) @binding(1) var<storage, read> w: array<vec4u>;
#if ${up}
@group(0) @binding(2) var<storage, read> wu: array<vec4u>;
#endif
${epilogueWgsl(e, up ? 3 : 2)}
${unpackWgsl}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let col = gid.x + gid.y * nwg.x * ${WG}u;
  let n = min(col, p.N - 1u); // lanes past N recompute the last column and drop it
  ${rs.map((r) => `var a${r} = 0.0;`).join('\n  ')}
#if ${up}
  ${rs.map((r) => `var u${r} = 0.0;`).join('\n  ')}
#endif
  for (var t = 0u; t < p.K / 8u; t++) {
    ${rs.map((r) => `let xa${r} = x[${r}u * (p.K / 4u) + 2u * t]; let xb${r} = x[${r}u * (p.K / 4u) + 2u * t + 1u];`).join('\n    ')}
    ${body('w', 'a')}
#if ${up}
    ${body('wu', 'u')}
#endif
  }
  if (col < p.N) {
#if ${up}
    ${rs.map((r) => `store(${r}u, col, a${r}, u${r});`).join('\n    ')}
#else
    ${rs.map((r) => `store(${r}u, col, a${r}, 0.0);`).join('\n    ')}
#endif
  }
}`;
}

export function matmulLanes(step: Step, b: MatmulBuffers, s: MatmulShape, e: Epilogue): void {
  if (s.M > LANES_MAX_ROWS) throw new Error(`matmulLanes: M=${s.M} > ${LANES_MAX_ROWS}`);
  if (s.K % 8 !== 0) throw new Error(`matmulLanes: K=${s.K} is not a multiple of 8`);
  const ux = s.M * s.K <= UNIFORM_X_FLOATS;
  const k = step.gpu.kernel({
    name: `matmul-lanes-${epilogueKey(e)}-r${s.M}${ux ? 'u' : ''}`,
    bindings: [ux ? 'uniform' : 'read', 'read', ...(e.geglu ? (['read'] as const) : []), ...epilogueKinds(e)],
    code: () => lanesWgsl(e, s.M, ux),
  });
  const bindings = [ux ? uniformX(step, b.x, s.M * s.K) : b.x, b.w, ...(e.geglu ? [b.up!] : []), ...epilogueBindings(step.gpu, b)];
  const groups = Math.ceil(s.N / WG);
  const max = step.gpu.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.ceil(groups / max);
  step.dispatch(k, bindings, params(shapeParams(s, e), P), [Math.ceil(groups / y), y]);
}
