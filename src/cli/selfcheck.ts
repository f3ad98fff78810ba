// `paligemma selfcheck`: which adapter we got, whether a kernel computes the right answer on it, and
// (--fixture DIR, repeatable) whether the whole model matches a golden fixture there.

import { describeAdapter } from '../adapter.js';
import type { Gpu } from '../device.js';
import { add } from '../kernels/add.js';
import { linear, linearMany } from '../kernels/matmul.js';
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
  // Decode's GEMVs at Gemma's shapes (Q/K/V fused, the MLP's long down-projection rows) in the
  // adapter's own variant, against float64: the paths the tiny golden fixtures do not reach.
  for (const [K, Ns] of [[2048, [2048, 256, 256]], [16384, [2048]]] as const) {
    const err = await gemvError(gpu, K, [...Ns]);
    const pass = err <= 1e-5;
    console.log(`selfcheck GEMV K=${K} N=${Ns.join('+')}: max|err|/max|ref| = ${err.toExponential(2)} ${pass ? 'ok' : 'FAILED'}`);
    ok &&= pass;
  }
  for (const dir of o.fixture ?? []) {
    const c = compareGolden(await runGolden(gpu, dir));
    for (const f of c.floats) console.log(`${dir} ${f.name}: max|err|/max|ref| = ${f.err.toExponential(2)} ${f.ok ? 'ok' : 'FAILED'}`);
    for (const i of c.ids) console.log(`${dir} ${i.name}: ${i.ok ? 'identical' : 'FAILED (differ)'}`);
    console.log(`selfcheck ${dir}: ${c.ok ? 'ok' : 'FAILED'}`);
    ok &&= c.ok;
  }
  return ok ? 0 : 1;
}

/** Relative error of linear / linearMany (M = 1, bf16 weights) against float64 on seeded random data. */
async function gemvError(gpu: Gpu, K: number, Ns: number[]): Promise<number> {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const x = Float32Array.from({ length: K }, rand);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const ws = Ns.map((N) => Uint16Array.from({ length: N * K }, () => ((f[0] = rand()), u[0]! >>> 16)));
  const weights = ws.map((w, i) => ({ name: `w${i}`, shape: [Ns[i]!, K], dtype: 'bf16' as const, shards: [{ buffer: gpu.upload(w, `w${i}`), rowStart: 0, rows: Ns[i]! }] }));
  const outs = Ns.map((N, i) => gpu.buffer(N * 4, `out${i}`));
  const step = gpu.step('selfcheck gemv');
  const xb = gpu.upload(x, 'x');
  if (Ns.length > 1) linearMany(step, { x: xb, ws: weights, outs, M: 1, K });
  else linear(step, { x: xb, w: weights[0]!, out: outs[0]!, M: 1, K, N: Ns[0]! });
  step.end();
  const bits = new Uint32Array(1);
  const value = new Float32Array(bits.buffer);
  const bf16 = Float64Array.from({ length: 65536 }, (_, h) => ((bits[0] = h << 16), value[0]!));
  let err = 0;
  let max = 0;
  for (let i = 0; i < Ns.length; i++) {
    const got = await gpu.readF32(outs[i]!);
    for (let n = 0; n < Ns[i]!; n++) {
      let ref = 0;
      for (let k = 0; k < K; k++) ref += x[k]! * bf16[ws[i]![n * K + k]!]!;
      err = Math.max(err, Math.abs(got[n]! - ref));
      max = Math.max(max, Math.abs(ref));
    }
  }
  for (const b of [xb, ...outs, ...weights.map((w) => w.shards[0]!.buffer)]) b.destroy();
  return err / max;
}
