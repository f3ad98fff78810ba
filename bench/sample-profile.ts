// The sampler's dispatches one by one on a 257,216-logit row as flat as a first caption token's
// (uniform in [−1, 1), as bench kernels times it): median and min GPU time per dispatch over ROUNDS
// runs, for each setting (TOPK,TOPP). Where the sampler's time goes, for its A/B work.
//   npx esbuild bench/sample-profile.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/sample-profile.mjs
//   node node_modules/.cache/sample-profile.mjs ROUNDS TOPK,TOPP…   (e.g. 10 0,0.9 50,0.9)

import { sample } from '../src/kernels/sample.js';
import { requestGpu } from '../src/node/gpu.js';
import { activation } from './data.js';
import { median } from './stats.js';

const [roundsArg, ...settingArgs] = process.argv.slice(2);
const rounds = Number(roundsArg);
const settings = settingArgs.map((s) => s.split(',').map(Number));
if (!(rounds > 0) || settings.length === 0 || !settings.every((s) => s.length === 2 && Number.isInteger(s[0]) && s[0]! >= 0 && s[1]! >= 0 && s[1]! <= 1)) {
  console.error('usage: sample-profile.mjs ROUNDS TOPK,TOPP…  (e.g. 10 0,0.9 50,0.9)');
  process.exit(2);
}
const cols = 257216;
const gpu = await requestGpu({ profile: true });
const logits = activation(gpu, cols, 'logits', 2);
const out = gpu.buffer(4, 'out');
for (const [topK, topP] of settings) {
  const per: number[][] = [];
  const labels: string[] = [];
  const totals: number[] = [];
  for (let r = -1; r < rounds; r++) {
    const step = gpu.step('sample');
    sample(step, { logits, cols, temperature: 1, topK: topK!, topP: topP!, uniform: 0.5, out });
    step.end();
    await gpu.finish('sample-profile');
    const t = await gpu.profiler!.collect();
    if (r < 0) continue; // warm-up: pipelines compile
    totals.push(t.reduce((a, d) => a + d.ms, 0));
    t.forEach((d, i) => ((labels[i] = d.label), (per[i] ??= []).push(d.ms)));
  }
  console.log(`top-k ${topK}, top-p ${topP}: ${median(totals).toFixed(2)} ms median, ${Math.min(...totals).toFixed(2)} min, ${labels.length} dispatches`);
  labels.forEach((l, i) => console.log(`  ${String(i).padStart(2)} ${l.padEnd(24)} ${median(per[i]!).toFixed(3).padStart(8)} ${Math.min(...per[i]!).toFixed(3).padStart(8)}`));
}
gpu.destroy();
