// `paligemma make-checkpoint`: write a random-weight PaliGemma 1 or 2 checkpoint in the HF layout.
import { parseArgs } from 'node:util';
import { makeCheckpoint, PRESETS, type FileDtype, type Preset } from '../loader/make-checkpoint.js';
import { formatBytes, progressBar } from './progress.js';

export const summary = 'write a random-weight PaliGemma checkpoint (HF layout) for tests and benchmarks';

const USAGE = `usage: paligemma make-checkpoint --preset P --out DIR [options]

  --preset P     tiny (small dims, real 257216 vocabulary) or the real PaliGemma-3B shapes
                 pt-224|pt-448|pt-896; PaliGemma 2: pg2-tiny, or the real shapes
                 pg2-3b-224 … pg2-10b-… … pg2-28b-896 (3b|10b|28b × 224|448|896)
  --out DIR      output folder (created if missing; existing files are overwritten)
  --seed N       PRNG seed (default 0); same seed = same values for every --dtype/--naming/--shards
  --shards K     write K files model-0000i-of-0000K.safetensors + index (default 1: model.safetensors)
  --naming N     old (vision_tower.vision_model.*, the Hub's names; default) or new (model.*)
  --dtype D      bf16 (default), f16 or f32
`;

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        preset: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' },
        shards: { type: 'string' }, naming: { type: 'string' }, dtype: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const preset = values.preset as string | undefined;
  if (!preset) return usageError('--preset is required');
  if (!PRESETS.includes(preset as Preset)) return usageError(`unknown --preset ${preset} (expected ${PRESETS.join(', ')})`);
  const out = values.out as string | undefined;
  if (!out) return usageError('--out is required');
  const seed = intArg(values.seed, 0);
  const shards = intArg(values.shards, 1);
  if (seed === null || seed < 0 || seed > 0xffffffff) return usageError(`--seed must be an integer in 0..4294967295, got ${values.seed}`);
  if (shards === null || shards < 1) return usageError(`--shards must be a positive integer, got ${values.shards}`);
  const naming = (values.naming as string | undefined) ?? 'old';
  if (naming !== 'old' && naming !== 'new') return usageError(`--naming must be old or new, got ${naming}`);
  const dtype = (values.dtype as string | undefined) ?? 'bf16';
  if (dtype !== 'bf16' && dtype !== 'f16' && dtype !== 'f32') return usageError(`--dtype must be bf16, f16 or f32, got ${dtype}`);

  const bar = progressBar('make-checkpoint');
  const result = await makeCheckpoint({
    preset: preset as Preset, seed, out, shards, naming, dtype: dtype as FileDtype,
    onProgress: (done, total, tensor) => bar.update(done, total, tensor),
  });
  bar.done(`wrote ${result.files.length} files, ${formatBytes(result.bytes)} of weights to ${out}`);
  return 0;
}

function intArg(v: string | boolean | undefined, fallback: number): number | null {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return null;
  return Number(v);
}

function usageError(message: string): number {
  process.stderr.write(`paligemma make-checkpoint: ${message}\n\n${USAGE}`);
  return 2;
}
