// One decode step's GPU time per kernel at batch 1 and at batch B, alternately in one process (the
// CPU adapter's speed drifts): what a batch costs beyond one sequence, kernel by kernel.
//   npx esbuild bench/prof-batch.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/prof-batch.mjs
//   node node_modules/.cache/prof-batch.mjs MODEL_DIR [B=4] [ROUNDS=1]
// Profiled steps run one at a time with a pass per dispatch: slower than `bench load`'s, same shares.

import { generate } from '../src/graph/generate.js';
import { loadModel } from '../src/node/load-model.js';
import { requestGpu } from '../src/node/gpu.js';
import { randomF32 } from './data.js';
import { median } from './stats.js';

const [dir, B = '4', rounds = '1'] = process.argv.slice(2);
if (!dir || !(+B > 1) || !(+rounds >= 1)) {
  console.error('usage: prof-batch.mjs MODEL_DIR [B=4] [ROUNDS=1]');
  process.exit(2);
}
const gpu = await requestGpu({ profile: true });
const loaded = await loadModel(dir, { gpu });
const model = loaded.pipeline.model;
const textIds = loaded.pipeline.tokenizer.encodePrompt('caption en');
const plane = 3 * model.config.vision.imageSize ** 2;
// Per batch size, per kernel (the tiling and x read, which follow the batch size, left out of its name): ms per step.
const times = new Map<number, Map<string, number[]>>([[1, new Map()], [+B, new Map()]]);
const kernelOf = (label: string) => label.replace(/-\d+x\d+x\d+(b?(ur|u)?)/, '');
for (let r = 0; r < +rounds; r++) {
  for (const b of times.keys()) {
    const inputs = [...Array(b).keys()].map((i) => ({ pixels: randomF32(plane, 5 + i), textIds }));
    await gpu.profiler!.collect();
    // Without run-ahead each collect() after a token holds the one step that made it.
    const g = generate(model, inputs, { maxNewTokens: 4, stopIds: [], runAhead: false });
    for await (const tok of g) {
      if (tok.sequence !== 0) continue;
      const step = new Map<string, number>();
      for (const d of await gpu.profiler!.collect()) step.set(kernelOf(d.label), (step.get(kernelOf(d.label)) ?? 0) + d.ms);
      if (tok.index < 2) continue; // the prefill's, then the first step (it compiles the batch's pipelines)
      const acc = times.get(b)!;
      for (const [k, ms] of step) acc.set(k, [...(acc.get(k) ?? []), ms]);
    }
    console.error(`round ${r + 1}, batch ${b}: ${(g.timings.decodeMs / g.timings.decodeSteps).toFixed(0)} ms per decode step (wall)`);
  }
}
const [one, many] = [times.get(1)!, times.get(+B)!];
const rows = [...new Set([...one.keys(), ...many.keys()])].map((k) => [k, median(one.get(k) ?? [0]), median(many.get(k) ?? [0])] as const);
rows.sort((a, b) => b[2] - a[2]);
const total = rows.reduce((s, [, a, b]) => [s[0]! + a, s[1]! + b], [0, 0]);
console.log(`${'kernel'.padEnd(48)} ${'batch 1 ms'.padStart(10)} ${`batch ${B} ms`.padStart(10)}  ratio`);
for (const [k, a, b] of [...rows, ['step (GPU)', total[0]!, total[1]!] as const]) {
  console.log(`${k.padEnd(48)} ${a.toFixed(1).padStart(10)} ${b.toFixed(1).padStart(10)}  ×${(b / a).toFixed(2)}`);
}
gpu.destroy();
