// Interleaved A/B timing of matmul variants on one shape: every round runs each variant once, in
// turn, so that the drift of a CPU adapter's speed (±20–40 % over minutes) falls on all of them;
// prints each variant's median and its median per-round time ratio to the first.
//   npx esbuild bench/ab.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/ab.mjs
//   node node_modules/.cache/ab.mjs M K N ROUNDS VARIANT… [--geglu]
// VARIANT: tiled | gemv | lanes (buffer weights) or ROWSxCOLSxLANES[b] (the texture kernel with that
// tiling; b: x shared by subgroupBroadcast).

import type { Gpu, Step } from '../src/device.js';
import { MATMUL_VARIANTS, linear, linearGeglu, prepareWeights, type MatmulVariant } from '../src/kernels/matmul.js';
import type { TextureTiling } from '../src/kernels/matmul-texture.js';
import { requestGpu } from '../src/node/gpu.js';
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
  const known = (v: string) => parseTiling(v) || (MATMUL_VARIANTS.includes(v as MatmulVariant) && v !== 'texture');
  if (![m, k, n, r].every((x) => Number.isInteger(x) && x > 0) || variants.length === 0 || !variants.every(known)) {
    console.error('usage: ab.mjs M K N ROUNDS VARIANT… [--geglu]  (VARIANT: tiled | gemv | lanes | ROWSxCOLSxLANES[b])');
    process.exit(2);
  }
  const gpu: Gpu = await requestGpu({ profile: true });
  const x = activation(gpu, m * k, 'x', 1);
  const out = gpu.buffer(m * n * 4, 'out');
  const pair = async (layout: 'buffer' | 'texture') => {
    const ws = (geglu ? ['gate', 'up'] : ['w']).map((name) => weight(gpu, `${name} (${layout})`, [n, k]));
    await prepareWeights(gpu, ws, layout);
    return ws;
  };
  const buffers = variants.some((v) => !parseTiling(v)) ? await pair('buffer') : [];
  const textures = variants.some((v) => parseTiling(v)) ? await pair('texture') : [];
  const record = variants.map((v) => {
    const tiling = parseTiling(v);
    const [w, up] = tiling ? textures : buffers;
    const variant = tiling ? undefined : (v as MatmulVariant);
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
  const bytes = n * k * 2 * (geglu ? 2 : 1);
  variants.forEach((v, i) => {
    const t = times[i]!;
    const ratio = median(t.map((ms, j) => ms / times[0]![j]!));
    console.log(`${m}x${k}x${n}${geglu ? ' geglu' : ''} ${v.padEnd(10)} ${median(t).toFixed(3).padStart(9)} ms  ${(bytes / median(t) / 1e6).toFixed(2).padStart(6)} GB/s of weights  ×${ratio.toFixed(3)} the time of ${variants[0]}`);
  });
  gpu.destroy();
}

await main();
