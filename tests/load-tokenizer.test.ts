// The tokenizer at load: a missing one fails before any weight is read; it is built after the
// weights (node/load-model.ts says why), and a broken one fails naming its file.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelFromSource } from '../src/load-source.js';
import { MemoryFileSource } from '../src/loader/memory-source.js';
import { loadModel } from '../src/node/load-model.js';
import { buildPaligemmaTokenizerObject } from '../src/tokenizer/paligemma-tokenizer-json.js';
import { testGpu } from './helpers/gpu.js';

const FIXTURE = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded', 'checkpoint');

/** The fixture's files in memory, tokenizer.json replaced (or left out with undefined), and the paths read. */
function source(tokenizer: string | undefined) {
  const files = new Map<string, Uint8Array | string>();
  for (const f of readdirSync(FIXTURE)) files.set(f, new Uint8Array(readFileSync(join(FIXTURE, f))));
  if (tokenizer !== undefined) files.set('tokenizer.json', tokenizer);
  const src = new MemoryFileSource('memory:fixture', files);
  const reads: string[] = [];
  const read = src.read.bind(src);
  src.read = (p, offset, length) => (reads.push(p), read(p, offset, length));
  return { src, reads };
}

describe('the tokenizer at load', () => {
  it('a checkpoint without one fails before a weight is read', async () => {
    const { src, reads } = source(undefined);
    await expect(loadModelFromSource(await testGpu(), src)).rejects.toThrow(/memory:fixture: no tokenizer\.json in the checkpoint/);
    expect(reads.filter((p) => p.endsWith('.safetensors'))).toEqual([]);
  });

  it('a missing --tokenizer file fails before a weight is read', async () => {
    await expect(loadModel(FIXTURE, { gpu: await testGpu(), tokenizer: '/nonexistent/tokenizer.json' })).rejects.toThrow('tokenizer file not found: /nonexistent/tokenizer.json');
  });

  it('a broken tokenizer.json fails naming the file, after the weights', async () => {
    const { src, reads } = source('{"model": ');
    await expect(loadModelFromSource(await testGpu(), src)).rejects.toThrow(/memory:fixture\/tokenizer\.json: not a tokenizer\.json \(/);
    expect(reads.some((p) => p.endsWith('.safetensors'))).toBe(true);
  });

  it('loads with the tokenizer option when the checkpoint has none', async () => {
    const { src } = source(undefined);
    const { pipeline } = await loadModelFromSource(await testGpu(), src, { tokenizer: buildPaligemmaTokenizerObject() });
    expect(pipeline.tokenizer.encodePrompt('caption en')[0]).toBe(2);
    pipeline.model.destroy();
  });
});
