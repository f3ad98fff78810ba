// Random mutations of a valid checkpoint: each must load or fail with a CheckpointError,
// never another error type, a hang or a crash.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { destroyWeights, loadCheckpoint } from '../src/loader/checkpoint.js';
import { CheckpointError } from '../src/loader/errors.js';
import { planCheckpoint } from '../src/loader/layout.js';
import { testGpu, rng, randInt } from './helpers/gpu.js';
import { assemble, buildSafetensors, fixtureDir, fixtureTensors, memorySource } from './loader-helpers.js';

const DIR = fixtureDir('pg-tiny-v2048-224-sharded');
const CONFIG = readFileSync(join(DIR, 'config.json'), 'utf8');
const VALID = buildSafetensors(fixtureTensors(DIR));
const HEADER_LEN = Number(new DataView(VALID.buffer).getBigUint64(0, true));
const HEADER = JSON.parse(new TextDecoder().decode(VALID.subarray(8, 8 + HEADER_LEN))) as Record<string, any>;
const DATA = VALID.subarray(8 + HEADER_LEN);
const NAMES = Object.keys(HEADER).filter((n) => n !== '__metadata__');
const DTYPES = ['BF16', 'F16', 'F32', 'F64', 'I64', 'U8', 'BOOL', 'F4', 'bf16', '', 'X'];

type Mutant = { kind: string; file: Uint8Array; config?: string };

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function weirdNumber(r: () => number, near: number): unknown {
  return pick(r, [near + randInt(r, -8, 8), -1, 0, 1.5, 2 ** 53, 1e300, '12', null, near * 2, DATA.length, DATA.length + 1]);
}

function mutate(r: () => number): Mutant {
  const kind = pick(r, ['header-bits', 'data-bits', 'truncate', 'offsets', 'dtype', 'shape', 'name', 'length-prefix', 'config', 'text-edit']);
  const file = VALID.slice();
  const h = structuredClone(HEADER);
  const name = pick(r, NAMES);
  switch (kind) {
    case 'header-bits':
      for (let i = randInt(r, 1, 4); i > 0; i--) file[8 + randInt(r, 0, HEADER_LEN - 1)]! ^= 1 << randInt(r, 0, 7);
      return { kind, file };
    case 'data-bits':
      for (let i = randInt(r, 1, 50); i > 0; i--) file[8 + HEADER_LEN + randInt(r, 0, DATA.length - 1)]! ^= 1 << randInt(r, 0, 7);
      return { kind, file };
    case 'truncate':
      return { kind, file: file.slice(0, randInt(r, 0, r() < 0.5 ? 8 + HEADER_LEN + 16 : file.length - 1)) };
    case 'length-prefix':
      new DataView(file.buffer).setBigUint64(0, BigInt(pick(r, [0, 1, HEADER_LEN - 1, HEADER_LEN + 1, HEADER_LEN + 8, file.length, 2 ** 40, randInt(r, 0, 2 ** 30)])), true);
      return { kind, file };
    case 'offsets':
      h[name].data_offsets[randInt(r, 0, 1)] = weirdNumber(r, h[name].data_offsets[0]);
      break;
    case 'dtype':
      h[name].dtype = pick(r, DTYPES);
      break;
    case 'shape': {
      const s = h[name].shape as unknown[];
      const op = randInt(r, 0, 3);
      if (op === 0) s.push(randInt(r, 0, 3));
      else if (op === 1) s.pop();
      else if (op === 2 && s.length) s[randInt(r, 0, s.length - 1)] = weirdNumber(r, s[0] as number);
      else s.reverse();
      break;
    }
    case 'name': {
      const entry = h[name];
      delete h[name];
      const to = pick(r, [`model.${name}`, name.replace('language_model.model.', 'model.language_model.'), 'lm_head.weight', '', '__metadata__', pick(r, NAMES), `${name}x`]);
      h[to] = entry;
      break;
    }
    case 'config': {
      const c = JSON.parse(CONFIG);
      const section = pick(r, [c, c.text_config, c.vision_config]);
      const key = pick(r, Object.keys(section));
      section[key] = pick(r, [null, -1, 0, 3, 1e9, 'x', [], {}, true, section[key] * 2]);
      return { kind, file, config: r() < 0.1 ? CONFIG.slice(0, randInt(r, 0, CONFIG.length)) : JSON.stringify(c) };
    }
    case 'text-edit': {
      // Raw edits to the JSON text: duplicated keys, deleted or inserted characters.
      let t = JSON.stringify(HEADER);
      const at = randInt(r, 0, t.length - 1);
      const op = randInt(r, 0, 2);
      if (op === 0) t = t.slice(0, at) + t.slice(at + randInt(r, 1, 5));
      else if (op === 1) t = t.slice(0, at) + pick(r, ['"', '{', '}', ',', ':', '\\', ' ', '\u00e9', '\ud800']) + t.slice(at);
      else t = t.replace(`"${name}":`, `"${pick(r, NAMES)}":`);
      return { kind, file: assemble(t, [DATA], r() < 0.8) };
    }
  }
  return { kind, file: assemble(JSON.stringify(h), [DATA], r() < 0.8) };
}

it('survives thousands of random mutations with only CheckpointErrors', async () => {
  const gpu = await testGpu();
  const r = rng(20240517);
  const started = performance.now();
  const counts = { tried: 0, loaded: 0, failed: 0, fullLoads: 0 };
  const byKind: Record<string, [number, number]> = {};
  const unexpected: string[] = [];
  const N = Number(process.env.FUZZ_N ?? 6000);
  for (let i = 0; i < N; i++) {
    const m = mutate(r);
    const files = new Map<string, Uint8Array | string>([['config.json', m.config ?? CONFIG], ['model.safetensors', m.file]]);
    counts.tried++;
    const k = (byKind[m.kind] ??= [0, 0]);
    try {
      await planCheckpoint(memorySource(files));
      // Every 25th mutant that validates also goes all the way to the GPU (one shared device).
      if (counts.loaded % 25 === 0) {
        const ck = await loadCheckpoint(memorySource(files), gpu.device, { stagingBytes: 4096 });
        destroyWeights(ck.weights);
        counts.fullLoads++;
      }
      counts.loaded++;
      k[0]++;
    } catch (e) {
      counts.failed++;
      k[1]++;
      if (!(e instanceof CheckpointError)) unexpected.push(`${m.kind}: ${(e as Error)?.stack ?? String(e)}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`loader fuzz: ${counts.tried} mutations in ${seconds.toFixed(1)} s: ${counts.loaded} loaded (${counts.fullLoads} onto the GPU), ${counts.failed} rejected with CheckpointError`);
  console.log(`  per kind [loaded, rejected]: ${JSON.stringify(byKind)}`);
  expect(unexpected.slice(0, 5)).toEqual([]);
  expect(counts.failed).toBeGreaterThan(N / 3);
  expect(counts.loaded).toBeGreaterThan(N / 20);
  expect(seconds).toBeLessThan(90);
});
