// The demo checkpoint the README's main command runs on: the `tiny` preset (real Gemma tokenizer and
// vocabulary, tiny random weights), generated deterministically on first use into a cache folder.

import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { makeCheckpoint, PRESETS, type Preset } from '../loader/make-checkpoint.js';

export function cacheDir(): string {
  return process.env.PALIGEMMA_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'paligemma-webgpu');
}

/** A cached synthetic checkpoint, made once (written to a temporary folder, then renamed into place). */
export async function syntheticModelDir(preset: Preset, seed: number, say = false): Promise<string> {
  const dir = join(cacheDir(), `${preset}-seed${seed}`);
  if (existsSync(join(dir, 'config.json'))) return dir;
  const tmp = `${dir}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  if (say) console.error(`making the ${preset} checkpoint (random weights, seed ${seed}) in ${dir} …`);
  await makeCheckpoint({ preset, seed, out: tmp });
  await rename(tmp, dir);
  return dir;
}

/** `model` itself, or when no such folder exists and it names a make-checkpoint preset (pg2-3b-224, …), that preset's cached checkpoint. */
export async function modelDirOrPreset(model: string, say = false): Promise<string> {
  if (existsSync(model) || !(PRESETS as readonly string[]).includes(model)) return model;
  return syntheticModelDir(model as Preset, 0, say);
}

export function demoModelDir(say = false): Promise<string> {
  return syntheticModelDir('tiny', 0, say);
}
