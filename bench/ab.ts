// Interleaved A/B timing of matmul variants on one shape: every round runs each variant once, in
// turn, so that the drift of a CPU adapter's speed (±20–40 % over minutes) falls on all of them;
// prints each variant's median and its median per-round time ratio to the first.
//   npx esbuild bench/ab.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/ab.mjs
//   node node_modules/.cache/ab.mjs M K N ROUNDS VARIANT[:FORMAT][@ROWS][~fused|~split]… [--geglu]
// VARIANT: tiled | gemv | lanes (buffer weights) or ROWSxCOLSxLANES[b] (the texture kernel with that
// tiling; b: x shared by subgroupBroadcast). FORMAT: bf16 (default), int8 or int4 weights. @ROWS: this
// variant's M instead of the command's (a batch of 4 against one row: `1x8x16@1 4x8x16@4`); the
// ratio is then of times, not of rates. A texture tiling with --geglu runs the plan's GEGLU (up to 4
// rows: x·gateᵀ, then x·upᵀ gated by it in its epilogue); ~fused: one kernel holding both products
// (the plan's above 4 rows); ~split: one two-weight dispatch into two outputs, then the gated GELU.

import type { Gpu, Step } from '../src/device.js';
import { MATMUL_VARIANTS, linear, linearGeglu, prepareWeights, type MatmulVariant } from '../src/kernels/matmul.js';
import { geglu as gegluKernel } from '../src/kernels/gelu.js';
import { matmulTexture, matmulTextureMany, type TextureTiling } from '../src/kernels/matmul-texture.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { requestGpu } from '../src/node/gpu.js';
import { rowBytes, type GpuWeight, type WeightFormat } from '../src/weights.js';
import { activation, weight } from './data.js';
import { median } from './stats.js';

function parseTiling(v: string): TextureTiling | undefined {
  const m = /^(\d+)x(\d+)x(\d+)(b?)$/.exec(v);
  return m ? { rows: +m[1]!, cols: +m[2]!, lanes: +m[3]!, broadcast: m[4] === 'b' } : undefined;
}

// GEGLU as one two-weight dispatch into gate and up outputs, then the gated GELU (instead of both
// in one kernel's accumulators).
function splitGeglu(step: Step, x: GPUBuffer, gate: GpuWeight, up: GpuWeight, outs: GPUBuffer[], out: GPUBuffer, M: number, K: number, N: number, t: TextureTiling): void {
  matmulTextureMany(step, x, [weightTexture(gate)!, weightTexture(up)!], outs, [N, N], M, K, t);
  gegluKernel(step, { gate: outs[0]!, up: outs[1]!, out, n: M * N });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const geglu = args.includes('--geglu');
  const [M, K, N, rounds, ...variants] = args.filter((a) => a !== '--geglu');
  const [m, k, n, r] = [M, K, N, rounds].map(Number) as [number, number, number, number];
  const rowsOf = (v: string) => (v.includes('@') ? Number(v.split('@')[1]!.split('~')[0]) : m);
  const formatOf = (v: string) => (v.split(/[@~]/)[0]!.split(':')[1] ?? 'bf16') as WeightFormat;
  const kernelOf = (v: string) => v.split(/[:@~]/)[0]!;
  const known = (v: string) =>
    ['bf16', 'int8', 'int4'].includes(formatOf(v)) && (parseTiling(kernelOf(v)) || (MATMUL_VARIANTS.includes(kernelOf(v) as MatmulVariant) && kernelOf(v) !== 'texture')) &&
    (!v.includes('~') || (geglu && parseTiling(kernelOf(v)) !== undefined && ['fused', 'split'].includes(v.split('~')[1]!)));
  if (![m, k, n, r, ...variants.map(rowsOf)].every((x) => Number.isInteger(x) && x > 0) || variants.length === 0 || !variants.every(known)) {
    console.error('usage: ab.mjs M K N ROUNDS VARIANT[:FORMAT][@ROWS][~fused|~split]… [--geglu]  (VARIANT: tiled | gemv | lanes | ROWSxCOLSxLANES[b]; FORMAT: bf16 | int8 | int4; ~: texture tilings with --geglu)');
    process.exit(2);
  }
  const gpu: Gpu = await requestGpu({ profile: true });
  const rows = Math.max(...variants.map(rowsOf));
  const x = activation(gpu, rows * k, 'x', 1);
  const out = gpu.buffer(rows * n * 4, 'out');
  const splitOuts = [0, 1].map(() => gpu.buffer(rows * n * 4, 'gate or up out'));
  // One set of weights per layout and format the variants read.
  const sets = new Map<string, GpuWeight[]>();
  for (const v of variants) {
    const layout = parseTiling(kernelOf(v)) ? 'texture' : 'buffer';
    const key = `${layout} ${formatOf(v)}`;
    if (sets.has(key)) continue;
    const ws = (geglu ? ['gate', 'up'] : ['w']).map((name) => weight(gpu, `${name} (${key})`, [n, k], formatOf(v)));
    await prepareWeights(gpu, ws, layout);
    sets.set(key, ws);
  }
  const record = variants.map((v) => {
    const tiling = parseTiling(kernelOf(v));
    const [w, up] = sets.get(`${tiling ? 'texture' : 'buffer'} ${formatOf(v)}`)!;
    const variant = tiling ? undefined : (kernelOf(v) as MatmulVariant);
    const M = rowsOf(v);
    const split = v.endsWith('~split');
    const fused = v.endsWith('~fused');
    return (step: Step) =>
      split
        ? splitGeglu(step, x, w!, up!, splitOuts, out, M, k, n, tiling!)
        : fused
        ? matmulTexture(step, { x, out }, weightTexture(w!)!, weightTexture(up!)!, { M, K: k, N: n, ldo: n, colOff: 0 }, { bias: false, accumulate: false, geglu: true }, tiling!)
        : geglu
        ? linearGeglu(step, { x, gate: w!, up: up!, out, M, K: k, N: n, variant, tiling })
        : linear(step, { x, w: w!, out, M, K: k, N: n, variant, tiling });
  });
  const times = variants.map(() => [] as number[]);
  for (let round = -1; round < r; round++) {
    for (let i = 0; i < variants.length; i++) {
      const step = gpu.step(`ab ${variants[i]}`);
      record[i]!(step);
      step.end();
      await gpu.finish(`ab ${m}x${k}x${n} ${variants[i]}`);
      const ms = (await gpu.profiler!.collect()).reduce((a, d) => a + d.ms, 0);
      if (round >= 0) times[i]!.push(ms);
    }
  }
  variants.forEach((v, i) => {
    const bytes = n * rowBytes(formatOf(v), k) * (geglu ? 2 : 1);
    const t = times[i]!;
    const ratio = median(t.map((ms, j) => ms / times[0]![j]!));
    console.log(`${rowsOf(v)}x${k}x${n}${geglu ? ' geglu' : ''} ${v.padEnd(12)} ${median(t).toFixed(3).padStart(9)} ms  ${(bytes / median(t) / 1e6).toFixed(2).padStart(6)} GB/s of weights  ×${ratio.toFixed(3)} the time of ${variants[0]}`);
  });
  gpu.destroy();
}

await main();
