// Interleaved A/B timing of matmul variants on one shape: every round runs each variant once, in
// turn, so that the drift of a CPU adapter's speed (±20–40 % over minutes) falls on all of them;
// prints each variant's median and its median per-round time ratio to the first.
//   npx esbuild bench/ab.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/ab.mjs
//   node node_modules/.cache/ab.mjs M K N ROUNDS VARIANT[:FORMAT]… [--geglu]
// VARIANT: tiled | gemv | lanes (buffer weights) or ROWSxCOLSxLANES[b] (the texture kernel with that
// tiling; b: x shared by subgroupBroadcast). FORMAT: bf16 (default), int8 or int4 weights.

import type { Gpu, Step } from '../src/device.js';
import { MATMUL_VARIANTS, linear, linearGeglu, prepareWeights, type MatmulVariant } from '../src/kernels/matmul.js';
import type { TextureTiling } from '../src/kernels/matmul-texture.js';
import { requestGpu } from '../src/node/gpu.js';
import { rowBytes, type GpuWeight, type WeightFormat } from '../src/weights.js';
import { activation, weight } from './data.js';
import { median } from './stats.js';

function parseTiling(v: string): TextureTiling | undefined {
  const m = /^(\d+)x(\d+)x(\d+)(b?)$/.exec(v);
  return m ? { rows: +m[1]!, cols: +m[2]!, lanes: +m[3]!, broadcast: m[4] === 'b' } : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const geglu = args.includes('--geglu');
  const [M, K, N, rounds, ...variants] = args.filter((a) => a !== '--geglu');
  const [m, k, n, r] = [M, K, N, rounds].map(Number) as [number, number, number, number];
  const formatOf = (v: string) => (v.split(':')[1] ?? 'bf16') as WeightFormat;
  const kernelOf = (v: string) => v.split(':')[0]!;
  const known = (v: string) =>
    ['bf16', 'int8', 'int4'].includes(formatOf(v)) && (parseTiling(kernelOf(v)) || (MATMUL_VARIANTS.includes(kernelOf(v) as MatmulVariant) && kernelOf(v) !== 'texture'));
  if (![m, k, n, r].every((x) => Number.isInteger(x) && x > 0) || variants.length === 0 || !variants.every(known)) {
    console.error('usage: ab.mjs M K N ROUNDS VARIANT[:FORMAT]… [--geglu]  (VARIANT: tiled | gemv | lanes | ROWSxCOLSxLANES[b]; FORMAT: bf16 | int8 | int4)');
    process.exit(2);
  }
  const gpu: Gpu = await requestGpu({ profile: true });
  const x = activation(gpu, m * k, 'x', 1);
  const out = gpu.buffer(m * n * 4, 'out');
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
    return (step: Step) =>
      geglu
        ? linearGeglu(step, { x, gate: w!, up: up!, out, M: m, K: k, N: n, variant, tiling })
        : linear(step, { x, w: w!, out, M: m, K: k, N: n, variant, tiling });
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
    console.log(`${m}x${k}x${n}${geglu ? ' geglu' : ''} ${v.padEnd(10)} ${median(t).toFixed(3).padStart(9)} ms  ${(bytes / median(t) / 1e6).toFixed(2).padStart(6)} GB/s of weights  ×${ratio.toFixed(3)} the time of ${variants[0]}`);
  });
  gpu.destroy();
}

await main();
