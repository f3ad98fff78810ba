// Times matmul variants on the PaliGemma shapes with timestamp queries, next to a plain streaming
// read of a 64 MiB buffer (the adapter's read ceiling) measured in the same run.
//   npx esbuild bench/matmul.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/mm.mjs && node node_modules/.cache/mm.mjs [filter]
// timeLinear / timeStreamRead are exported for the kernel bench harness.

import { pathToFileURL } from 'node:url';
import type { Gpu } from '../src/device.js';
import { linear, linearGeglu, type MatmulVariant } from '../src/kernels/matmul.js';
import type { TextureTiling } from '../src/kernels/matmul-texture.js';
import { packWeightTexture } from '../src/kernels/weight-texture.js';
import { requestGpu } from '../src/node/gpu.js';
import { params, paramsWgsl } from '../src/uniforms.js';
import type { GpuWeight } from '../src/weights.js';

export interface MatmulCase {
  M: number;
  K: number;
  N: number;
  geglu?: boolean;
  variant: MatmulVariant;
  tiling?: TextureTiling;
  /** Rows per weight shard (buffer variants), as the loader splits big tensors. */
  shardRows?: number;
}

export interface Timing {
  ms: number;
  gflops: number;
  /** Weight bytes read per second (each weight byte once), GB/s. */
  gbps: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function randomWeight(gpu: Gpu, N: number, K: number, shardRows: number, name: string): GpuWeight {
  const shards: GpuWeight['shards'] = [];
  for (let rowStart = 0; rowStart < N; rowStart += shardRows) {
    const rows = Math.min(shardRows, N - rowStart);
    const words = new Uint16Array(rows * K);
    for (let i = 0; i < words.length; i++) words[i] = 0x3c00 | (Math.random() * 255); // small positive bf16
    shards.push({ buffer: gpu.upload(words, name), rowStart, rows });
  }
  return { name, shape: [N, K], dtype: 'bf16', shards };
}

/** Median kernel time of `reps` runs of one case (needs a Gpu made with `profile: true`). */
export async function timeLinear(gpu: Gpu, c: MatmulCase, reps = 5): Promise<Timing> {
  if (!gpu.profiler) throw new Error('timeLinear needs requestGpu({ profile: true })');
  const { M, K, N } = c;
  const x = gpu.upload(new Float32Array(M * K).map(() => Math.random()), 'x');
  const out = gpu.buffer(M * N * 4, 'out');
  const ws = (c.geglu ? ['gate', 'up'] : ['w']).map((name) => randomWeight(gpu, N, K, c.shardRows ?? N, name));
  if (c.variant === 'texture') for (const w of ws) await packWeightTexture(gpu, w);
  await gpu.profiler.collect();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const step = gpu.step('bench');
    if (c.geglu) linearGeglu(step, { x, gate: ws[0]!, up: ws[1]!, out, M, K, N, variant: c.variant, tiling: c.tiling });
    else linear(step, { x, w: ws[0]!, out, M, K, N, variant: c.variant, tiling: c.tiling });
    step.end();
    // One wait estimate per case, so that the sleep before the wait fits this kernel (device.ts settle).
    await gpu.finish(`bench ${M}x${K}x${N} ${c.variant} ${JSON.stringify(c.tiling)}`);
    const t = await gpu.profiler.collect();
    times.push(t.reduce((s, d) => s + d.ms, 0));
  }
  for (const w of ws) for (const s of w.shards) s.buffer.destroy();
  x.destroy();
  out.destroy();
  const ms = median(times);
  const weightBytes = ws.length * N * K * 2;
  return { ms, gflops: (2 * M * K * N * ws.length) / ms / 1e6, gbps: weightBytes / ms / 1e6 };
}

const RP = { n: 'u32' } as const;
const readCode = /* wgsl */ `
${paramsWgsl(RP)}
@group(0) @binding(0) var<storage, read> src: array<vec4u>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lanes = nwg.x * 64u;
  var acc = vec4u(0u);
  for (var i = gid.x; i < p.n; i += lanes) { acc ^= src[i]; }
  out[gid.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`;

/** GB/s of a plain kernel that reads a buffer once with 16-byte per-lane loads. */
export async function timeStreamRead(gpu: Gpu, bytes = 64 << 20, reps = 5): Promise<number> {
  if (!gpu.profiler) throw new Error('timeStreamRead needs requestGpu({ profile: true })');
  const src = gpu.buffer(bytes, 'read src');
  const groups = 64;
  const out = gpu.buffer(groups * 64 * 4, 'read out');
  const k = gpu.kernel({ name: 'bench-stream-read', bindings: ['read', 'write'], code: readCode });
  await gpu.profiler.collect();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const step = gpu.step('read');
    step.dispatch(k, [src, out], params({ n: bytes / 16 }, RP), [groups]);
    step.end();
    await gpu.finish('read');
    times.push((await gpu.profiler.collect())[0]!.ms);
  }
  src.destroy();
  out.destroy();
  return bytes / median(times) / 1e6;
}

const GEMMS: [number, number, number][] = [[256, 588, 1152], [256, 1152, 4304], [256, 4304, 1152], [272, 2048, 16384], [272, 16384, 2048], [2048, 2048, 2048]];
const GEMVS: [number, number, number, boolean][] = [[1, 2048, 16384, false], [1, 16384, 2048, false], [1, 2048, 2048, false], [1, 2048, 256, false], [1, 2048, 16384, true], [4, 2048, 16384, false]];

async function main(): Promise<void> {
  const filter = process.argv[2] ?? '';
  const gpu = await requestGpu({ profile: true });
  const T = (rows: number, cols: number, lanes: number, broadcast = false): TextureTiling => ({ rows, cols, lanes, broadcast });
  const line = (name: string, t: Timing) => console.log(`${name.padEnd(52)} ${t.ms.toFixed(1).padStart(8)} ms ${t.gflops.toFixed(2).padStart(7)} GFLOP/s ${t.gbps.toFixed(2).padStart(6)} GB/s`);
  console.log(`stream read 64 MiB: ${(await timeStreamRead(gpu)).toFixed(2)} GB/s`);
  const gemmVariants: [string, MatmulVariant, TextureTiling?][] = [
    ['texture 8x16x16', 'texture', T(8, 16, 16)],
    ['texture 8x16x16 broadcast', 'texture', T(8, 16, 16, true)],
    ['texture 8x8x16', 'texture', T(8, 8, 16)],
    ['tiled', 'tiled'],
  ];
  for (const [M, K, N] of GEMMS) {
    for (const [name, variant, tiling] of gemmVariants) {
      const label = `${M}x${K}x${N} ${name}`;
      if (label.includes(filter)) line(label, await timeLinear(gpu, { M, K, N, variant, tiling }, 3));
    }
  }
  const gemvVariants: [string, MatmulVariant, ((M: number) => TextureTiling)?][] = [
    ['texture Mx8x16', 'texture', (M) => T(M, 8, 16)],
    ['texture Mx4x16', 'texture', (M) => T(M, 4, 16)],
    ['texture Mx2x16', 'texture', (M) => T(M, 2, 16)],
    ['texture Mx16x16', 'texture', (M) => T(M, 16, 16)],
    ['lanes', 'lanes'],
    ['gemv', 'gemv'],
  ];
  for (const [M, K, N, geglu] of GEMVS) {
    for (const [name, variant, tiling] of gemvVariants) {
      const label = `gemv ${M}x${K}x${N}${geglu ? ' geglu' : ''} ${name}`;
      if (label.includes(filter)) line(label, await timeLinear(gpu, { M, K, N, geglu, variant, tiling: tiling?.(M) }, 5));
    }
  }
  console.log(`stream read 64 MiB: ${(await timeStreamRead(gpu)).toFixed(2)} GB/s`);
  gpu.destroy();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
