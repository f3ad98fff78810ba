// Attention timings from timestamp queries: prefill (Gemma 8×256 over 260 tokens with the prefix
// mask; SigLIP 16×72 over 256/1024/4096 tokens) and decode over 300/1100 cached keys.
// npx esbuild bench/attention.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.att.mjs && node node_modules/.att.mjs [reps]
// (bundled inside node_modules so that the external packages resolve)

import { requestGpu } from '../src/node/gpu.js';
import { attention, attentionConfig } from '../src/kernels/attention.js';
import { decodeAttention } from '../src/kernels/attention-decode.js';
import type { Gpu, Step } from '../src/device.js';

const reps = Number(process.argv[2] ?? 3);
const gpu = await requestGpu({ profile: true });

function random(n: number): GPUBuffer {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return gpu.upload(a, 'bench');
}

/** Median kernel time over `reps` runs (the first run, which compiles, is not counted). */
async function time(g: Gpu, label: string, flops: number, record: (s: Step) => void): Promise<void> {
  const ms: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const step = g.step(label);
    record(step);
    step.end();
    await g.finish();
    const t = await g.profiler!.collect();
    if (r > 0) ms.push(t.reduce((a, x) => a + x.ms, 0));
  }
  ms.sort((a, b) => a - b);
  const med = ms[Math.floor(ms.length / 2)]!;
  console.log(`${label.padEnd(44)} ${med.toFixed(2).padStart(9)} ms ${(flops / med / 1e6).toFixed(2).padStart(7)} GFLOP/s`);
}

console.log(`adapter: ${gpu.adapterInfo?.description ?? gpu.adapterInfo?.device}; Gemma prefill config ${JSON.stringify(attentionConfig(gpu, 256, 260 * 8))}`);

// flops: q·k and p·v, 2 flops per multiply-add each, over the visible (query, key) pairs
{
  const [seq, heads, hd, prefixLen] = [260, 8, 256, 259];
  const pairs = seq * prefixLen + 1; // every query sees the prefix; the last one also itself
  const q = random(seq * heads * hd), k = random(seq * hd), v = random(seq * hd), out = random(seq * heads * hd);
  await time(gpu, `prefill gemma 8/1×256, 260 tok, prefix 259`, 4 * pairs * heads * hd, (s) =>
    attention(s, { q, k, v, out, seqQ: seq, seqK: seq, heads, kvHeads: 1, headDim: hd, scale: 1 / 16, prefixLen, qStart: 0 }));
}
for (const seq of [256, 1024, 4096]) {
  const [heads, hd] = [16, 72];
  const q = random(seq * heads * hd), k = random(seq * heads * hd), v = random(seq * heads * hd), out = random(seq * heads * hd);
  await time(gpu, `prefill siglip 16×72, ${seq} tok`, 4 * seq * seq * heads * hd, (s) =>
    attention(s, { q, k, v, out, seqQ: seq, seqK: seq, heads, kvHeads: heads, headDim: hd, scale: 1 / Math.sqrt(hd), prefixLen: seq, qStart: 0 }));
}
for (const seqK of [300, 1100]) {
  const [heads, hd] = [8, 256];
  const q = random(heads * hd), k = random(seqK * hd), v = random(seqK * hd), out = random(heads * hd);
  const keyCount = gpu.upload(Uint32Array.of(seqK), 'key count');
  await time(gpu, `decode gemma 8/1×256, ${seqK} keys`, 4 * seqK * heads * hd, (s) =>
    decodeAttention(s, { q, k, v, out, heads, kvHeads: 1, headDim: hd, scale: 1 / 16, keyCount, maxLen: seqK }));
}
process.exit(0);
