// `paligemma selfcheck`: which adapter we got, and whether a kernel computes the right answer on it.

import { describeAdapter } from '../adapter.js';
import { add } from '../kernels/add.js';
import { requestGpu } from '../node/gpu.js';

export const summary = 'print the WebGPU adapter and check a kernel on it';

export async function run(argv: string[]): Promise<number> {
  const adapter = argv.find((a) => a.startsWith('--adapter='))?.slice('--adapter='.length);
  const gpu = await requestGpu({ adapter });
  console.log(JSON.stringify(describeAdapter(gpu), null, 2));
  const n = 4096;
  const a = Float32Array.from({ length: n }, (_, i) => i);
  const b = Float32Array.from({ length: n }, (_, i) => 2 * i);
  const out = gpu.buffer(n * 4, 'out');
  const step = gpu.step('selfcheck');
  add(step, gpu.upload(a, 'a'), gpu.upload(b, 'b'), out, n);
  step.end();
  const got = await gpu.readF32(out, 0, n);
  const bad = got.findIndex((v, i) => v !== 3 * i);
  console.log(bad < 0 ? 'selfcheck: ok' : `selfcheck: FAILED at ${bad}: ${got[bad]} != ${3 * bad}`);
  return bad < 0 ? 0 : 1;
}
