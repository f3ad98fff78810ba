// The demo checkpoint the README's main command runs on: the `tiny` preset (real Gemma tokenizer and
// vocabulary, tiny random weights), generated deterministically on first use into a cache folder.
// It samples (seeded, so still deterministic): greedy decoding of these random weights repeats one
// token, the prompt's last (a newline, printed as blank lines) — the LM head is the embedding table,
// and a token's own embedding dominates its tiny model's hidden state.

import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { makeCheckpoint, PRESETS, type Preset } from '../loader/make-checkpoint.js';
import { modelFolder } from './hub-model.js';

export function cacheDir(): string {
  return process.env.PALIGEMMA_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'paligemma-webgpu');
}

/** A checkpoint made once by `make` into the cache folder (written to a temporary folder, then renamed into place). */
async function cachedCheckpoint(name: string, make: (out: string) => Promise<unknown>, say: boolean): Promise<string> {
  const dir = join(cacheDir(), name);
  if (existsSync(join(dir, 'config.json'))) return dir;
  const tmp = `${dir}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  if (say) console.error(`making the ${name} checkpoint (random weights) in ${dir} …`);
  await make(tmp);
  try {
    await rename(tmp, dir);
  } catch (e) {
    // Another process (a parallel test file, a second command) made it first.
    if (!existsSync(join(dir, 'config.json'))) throw e;
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** A cached synthetic checkpoint of a make-checkpoint preset. */
export function syntheticModelDir(preset: Preset, seed: number, say = false): Promise<string> {
  return cachedCheckpoint(`${preset}-seed${seed}`, (out) => makeCheckpoint({ preset, seed, out }), say);
}

/**
 * `model` itself; when no such folder exists and it names a make-checkpoint preset (pg2-3b-224, …),
 * that preset's cached checkpoint; else a Hub model id's snapshot in the Hugging Face cache.
 */
export async function modelDirOrPreset(model: string, say = false): Promise<string> {
  if (existsSync(model)) return model;
  if ((PRESETS as readonly string[]).includes(model)) return syntheticModelDir(model as Preset, 0, say);
  return modelFolder(model);
}

export function demoModelDir(say = false): Promise<string> {
  return cachedCheckpoint(
    'demo-tiny-seed0',
    async (out) => {
      await makeCheckpoint({ preset: 'tiny', seed: 0, out });
      const file = join(out, 'generation_config.json');
      const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      await writeFile(file, `${JSON.stringify({ ...config, do_sample: true }, null, 2)}\n`);
    },
    say,
  );
}
