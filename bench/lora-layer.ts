// What a LoRA adapter adds to one Gemma-2B layer's matmuls (PaliGemma-3B's shapes: hidden 2048,
// q 8×256, k/v 256, MLP 16384), measured in GPU time: Q/K/V with the folded pre-norm, o with the
// residual add, gate/up with GEGLU and the pre-norm, down with the residual add — the base alone,
// with a rank-R adapter on all seven weights (the low-rank products beside the base), and with it
// merged into f32 copies (--lora-merge). Interleaved rounds (see bench/ab.ts) so that a CPU
// adapter's drift falls on all variants; prints each one's median and its median per-round ratio
// to the base. M = 1 is a decode step, M = 266 a 224-px prefill (256 image tokens + 10 text).
//   npx esbuild bench/lora-layer.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/lora-layer.mjs
//   node node_modules/.cache/lora-layer.mjs M ROUNDS [RANK] [--merged] [--format int8|int4]

import type { Step } from '../src/device.js';
import { loraFactors, setLoraDelta, setLoraMerged, splitFactor, type LoraDelta } from '../src/kernels/lora.js';
import { mergeLora } from '../src/kernels/lora-merge.js';
import { linear, linearGeglu, linearMany, prepareWeights } from '../src/kernels/matmul.js';
import { requestGpu } from '../src/node/gpu.js';
import type { GpuWeight, LoadFormat } from '../src/weights.js';
import { activation, randomF32, weight } from './data.js';
import { median } from './stats.js';

const args = process.argv.slice(2);
const merged = args.includes('--merged');
const fi = args.indexOf('--format');
const format = (fi >= 0 ? args[fi + 1] : 'bf16') as LoadFormat;
const [M, rounds, rank = 16] = args.filter((a, i) => !a.startsWith('--') && (fi < 0 || i !== fi + 1)).map(Number) as [number, number, number?];
if (!(Number.isInteger(M) && M > 0 && Number.isInteger(rounds) && rounds > 0 && Number.isInteger(rank) && rank > 0) || !['bf16', 'int8', 'int4'].includes(format)) {
  console.error('usage: lora-layer.mjs M ROUNDS [RANK] [--merged] [--format int8|int4]');
  process.exit(2);
}

const H = 2048;
const F = 16384;
const gpu = await requestGpu({ profile: true });
const shapes: Record<string, [number, number]> = { q: [H, H], k: [256, H], v: [256, H], o: [H, H], gate: [F, H], up: [F, H], down: [H, F] };
const ws: Record<string, GpuWeight> = {};
for (const [name, shape] of Object.entries(shapes)) ws[name] = weight(gpu, name, shape, format);
const norm = weight(gpu, 'norm', [H]);
const deltas = new Map<GpuWeight, LoraDelta>();
for (const [name, [N, K]] of Object.entries(shapes)) {
  const a = randomF32(rank * K, 3, 0.02);
  deltas.set(ws[name]!, loraFactors(gpu, name, splitFactor(a, rank, K), randomF32(rank * N, 4, 0.02), rank, N, K));
}
await prepareWeights(gpu, [...Object.values(ws), ...[...deltas.values()].flatMap((d) => [d.down, d.up])]);
const copies = new Map<GpuWeight, GpuWeight>();
let mergeMs = 0;
if (merged) {
  const t0 = performance.now();
  for (const [w, d] of deltas) {
    const [N, K] = w.shape as [number, number];
    // Any factors: only the time counts.
    const [a, bt] = [gpu.upload(randomF32(rank * K, 3, 0.02), 'A f32'), gpu.upload(randomF32(rank * N, 4, 0.02), "B'ᵀ")];
    copies.set(w, mergeLora(gpu, w, a, bt, d.rank, `${w.name} merged`));
  }
  await gpu.finish('merge');
  mergeMs = performance.now() - t0;
}

const x = activation(gpu, M * H, 'x', 1);
const h = activation(gpu, M * F, 'h', 2);
const [q, k, v, out, scratch] = [gpu.buffer(M * H * 4, 'q'), gpu.buffer(M * 256 * 4, 'k'), gpu.buffer(M * 256 * 4, 'v'), gpu.buffer(M * H * 4, 'out'), gpu.buffer(M * H * 4, 'normed')];
const g = gpu.buffer(M * F * 4, 'gelu');
const pre = { w: norm, eps: 1e-6, scratch };
function layer(step: Step): void {
  linearMany(step, { x, ws: [ws.q!, ws.k!, ws.v!], outs: [q, k, v], M, K: H, norm: pre });
  linear(step, { x: q, w: ws.o!, out, M, K: H, N: H, accumulate: true });
  linearGeglu(step, { x: out, gate: ws.gate!, up: ws.up!, out: g, M, K: H, N: F, norm: pre });
  linear(step, { x: h, w: ws.down!, out, M, K: F, N: H, accumulate: true });
}

const variants: [string, () => void][] = [
  ['base', () => {}],
  [`lora r=${rank}`, () => deltas.forEach((d, w) => setLoraDelta(w, d))],
  ...(merged ? [['merged', () => copies.forEach((m, w) => setLoraMerged(w, m))] as [string, () => void]] : []),
];
const times = variants.map(() => [] as number[]);
const perKernel = variants.map(() => new Map<string, number[]>());
for (let round = -1; round < rounds; round++) {
  for (const [i, [, attach]] of variants.entries()) {
    for (const w of deltas.keys()) {
      setLoraDelta(w, undefined);
      setLoraMerged(w, undefined);
    }
    attach();
    const step = gpu.step('lora layer');
    layer(step);
    step.end();
    await gpu.finish(`lora layer ${i}`);
    const t = await gpu.profiler!.collect();
    if (round < 0) continue;
    times[i]!.push(t.reduce((s, d) => s + d.ms, 0));
    const byName = new Map<string, number>();
    for (const d of t) byName.set(d.label, (byName.get(d.label) ?? 0) + d.ms);
    for (const [name, ms] of byName) perKernel[i]!.set(name, [...(perKernel[i]!.get(name) ?? []), ms]);
  }
}
console.log(`one Gemma-2B layer's matmuls, M=${M}, ${format} base, ${rounds} rounds on ${gpu.adapterInfo?.description || gpu.adapterInfo?.device || 'the adapter'}:`);
if (merged) console.log(`  merging r = ${rank} into the seven weights (upload, fold, wait; the first pipelines compile here): ${mergeMs.toFixed(0)} ms`);
variants.forEach(([name], i) => {
  const ratio = median(times[i]!.map((ms, j) => ms / times[0]![j]!));
  console.log(`  ${name.padEnd(10)} ${median(times[i]!).toFixed(3).padStart(9)} ms  ×${ratio.toFixed(3)} the base`);
  for (const [k, ms] of perKernel[i]!) console.log(`      ${k.padEnd(44)} ${median(ms).toFixed(3).padStart(9)} ms`);
});
gpu.destroy();
