// What conv2d and convTranspose2d share: a lane computes OB output channels × PX neighbouring
// pixels of one row (input pixels for the transposed conv), and a workgroup's lanes share their
// channel block (workgroup id z) so every weight load is uniform. On lavapipe a per-lane storage
// load costs ~70 FMAs and a uniform one ~8 (spec/lavapipe.md), so each loaded input value must
// feed many products. Loops over channels and pixels are unrolled in the generated WGSL: lavapipe
// keeps a private array indexed in a loop in memory, not in registers.

import type { Step } from '../device.js';
import { flatIndex, grid } from './grid.js';

export const WG = 64;
/** Output channels per lane. */
export const OB = 8;
/** Neighbouring pixels of a row per lane. */
export const PX = 4;
export const CHANNELS = [...Array(OB).keys()];
export const PIXELS = [...Array(PX).keys()];

/** The uniform struct both kernels take. */
export const P = { n: 'u32', cin: 'u32', cout: 'u32', h: 'u32', w: 'u32' } as const;

/**
 * WGSL opening the kernel body: the lane's image `img`, row `row`, first column `x0` and channel
 * block `o0` (lanes past the end return), `h`/`w` as i32, `plane`, `last` (the last input index,
 * for clamped loads) and the accumulators a<j>_<q> set to channel o0 + j's bias (as `acc`).
 */
export function laneTile(acc: 'f32' | 'vec4f'): string {
  return `  let i = ${flatIndex(WG)};
  let tiles = (p.w + ${PX - 1}u) / ${PX}u;
  if (i >= p.n * p.h * tiles) { return; }
  let o0 = wid.z * ${OB}u;
  let h = i32(p.h);
  let w = i32(p.w);
  let plane = p.h * p.w;
  let img = i / (p.h * tiles);
  let row = i32((i / tiles) % p.h);
  let x0 = i32(i % tiles) * ${PX};
  let last = p.n * p.cin * plane - 1u;
${CHANNELS.map((j) => `  let b${j} = ${acc}(bias[min(o0 + ${j}u, p.cout - 1u)]);\n${PIXELS.map((q) => `  var a${j}_${q} = b${j};`).join('\n')}`).join('\n')}`;
}

/** Workgroups for n images of h × w (input) pixels and cout output channels. */
export function tileGroups(step: Step, n: number, h: number, w: number, cout: number): [number, number, number] {
  const [gx, gy] = grid(n * h * Math.ceil(w / PX), WG, step.gpu.limits.maxComputeWorkgroupsPerDimension);
  return [gx, gy, Math.ceil(cout / OB)];
}
