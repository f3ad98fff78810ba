// Interleaved A/B timing of attention configs (wg,lanesPerSlot,slotsPerLane,tile) on PaliGemma's
// shapes: Gemma prefill 8×256 over 260 tokens, SigLIP 16×72 over 256, and a Gemma decode query
// over 266 and 1100 cached keys. Every round runs each config once, in turn (see bench/ab.ts);
// prints each config's median and its median per-round time ratio to the first. `adapter` is
// the adapter's own choice (on CPU adapters the prefill GEMMs of attention-matmul.ts).
//   npx esbuild bench/attention-ab.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/att-ab.mjs
//   node node_modules/.cache/att-ab.mjs ROUNDS CONFIG…   (CONFIG: e.g. 8,1,2,8 8,1,4,8 adapter)

import type { Step } from '../src/device.js';
import { attention, type AttentionConfig } from '../src/kernels/attention.js';
import { decodeAttention } from '../src/kernels/attention-decode.js';
import { requestGpu } from '../src/node/gpu.js';
import { activation } from './data.js';
import { median } from './stats.js';

const [roundsArg, ...configArgs] = process.argv.slice(2);
const rounds = Number(roundsArg);
const configs = configArgs.map((s) => (s === 'adapter' ? [] : s.split(',').map(Number)));
if (!(rounds > 0) || configs.length === 0 || !configs.every((c) => c.length === 0 || (c.length === 4 && c.every((x) => Number.isInteger(x) && x > 0)))) {
  console.error('usage: att-ab.mjs ROUNDS CONFIG…  (CONFIG: wg,lanesPerSlot,slotsPerLane,tile or adapter)');
  process.exit(2);
}
const cfg = configs.map(([wg, lanesPerSlot, slotsPerLane, tile]): AttentionConfig | undefined => (wg === undefined ? undefined : { wg, lanesPerSlot: lanesPerSlot!, slotsPerLane: slotsPerLane!, tile: tile! }));
const gpu = await requestGpu({ profile: true });

const cases: { name: string; record: (s: Step, c: AttentionConfig | undefined) => void }[] = [];
for (const [name, seq, heads, kvHeads, headDim] of [['gemma prefill', 260, 8, 1, 256], ['siglip 224 px', 256, 16, 16, 72]] as const) {
  const q = activation(gpu, seq * heads * headDim, 'q', 1), k = activation(gpu, seq * kvHeads * headDim, 'k', 2), v = activation(gpu, seq * kvHeads * headDim, 'v', 3);
  const out = gpu.buffer(seq * heads * headDim * 4, 'out');
  cases.push({ name, record: (s, config) => attention(s, { q, k, v, out, seqQ: seq, seqK: seq, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim), prefixLen: seq, qStart: 0, config }) });
}
for (const keys of [266, 1100]) {
  const q = activation(gpu, 8 * 256, 'q', 1), k = activation(gpu, keys * 256, 'k', 2), v = activation(gpu, keys * 256, 'v', 3);
  const out = gpu.buffer(8 * 256 * 4, 'out');
  const keyCount = gpu.upload(Uint32Array.of(keys), 'key count');
  cases.push({ name: `gemma decode, ${keys} keys`, record: (s, config) => decodeAttention(s, { q, k, v, out, heads: 8, kvHeads: 1, headDim: 256, scale: 1 / 16, keyCount, maxLen: keys, config }) });
}

for (const c of cases) {
  const times = cfg.map(() => [] as number[]);
  for (let round = -1; round < rounds; round++) {
    for (let i = 0; i < cfg.length; i++) {
      const step = gpu.step(c.name);
      c.record(step, cfg[i]);
      step.end();
      await gpu.finish(`att-ab ${c.name} ${i}`);
      const ms = (await gpu.profiler!.collect()).reduce((a, d) => a + d.ms, 0);
      if (round >= 0) times[i]!.push(ms);
    }
  }
  cfg.forEach((_, i) => {
    const ratio = median(times[i]!.map((ms, j) => ms / times[0]![j]!));
    console.log(`${c.name.padEnd(24)} ${configArgs[i]!.padEnd(10)} ${median(times[i]!).toFixed(3).padStart(9)} ms  ×${ratio.toFixed(3)} the time of ${configArgs[0]}`);
  });
}
gpu.destroy();
