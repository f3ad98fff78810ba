// `paligemma selfcheck`: which adapter we got, whether a kernel computes the right answer on it, and
// (--fixture DIR, repeatable) whether the whole model matches a golden fixture there.

import { describeAdapter } from '../adapter.js';
import { add } from '../kernels/add.js';
import { compareGolden, runGolden } from '../node/golden.js';
import { requestGpu } from '../node/gpu.js';
import { parse } from './args.js';

export const summary = 'print the WebGPU adapter and check kernels (and golden fixtures) on it';

const USAGE = `usage: paligemma selfcheck [--adapter NAME] [--backend NAME] [--fixture DIR]…

--fixture: a folder with checkpoint/, expected.safetensors and expected.json (as in tests/fixtures):
  every float tensor must be within 1e-5·max|ref| of the Hugging Face reference, every id identical.`;

export async function run(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, { adapter: { type: 'string' }, backend: { type: 'string' }, fixture: { type: 'string', multiple: true } }, USAGE);
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  const gpu = await requestGpu({ adapter: o.adapter, backend: o.backend });
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
  let ok = bad < 0;
  for (const dir of o.fixture ?? []) {
    const c = compareGolden(await runGolden(gpu, dir));
    for (const f of c.floats) console.log(`${dir} ${f.name}: max|err|/max|ref| = ${f.err.toExponential(2)} ${f.ok ? 'ok' : 'FAILED'}`);
    for (const i of c.ids) console.log(`${dir} ${i.name}: ${i.ok ? 'identical' : 'FAILED (differ)'}`);
    console.log(`selfcheck ${dir}: ${c.ok ? 'ok' : 'FAILED'}`);
    ok &&= c.ok;
  }
  return ok ? 0 : 1;
}
