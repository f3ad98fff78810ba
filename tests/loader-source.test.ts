import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeFileSource } from '../src/loader/node-source.js';
import { readIntoTarget } from '../src/loader/source.js';
import { memorySource, randomBytes } from './loader-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-src-'));
const bytes = randomBytes(100_000, 9);
writeFileSync(join(dir, 'a.bin'), bytes);
writeFileSync(join(dir, 'c.json'), '{"x": "é"}');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('NodeFileSource', () => {
  it('reads exactly the requested ranges, keeps one handle per file and closes', async () => {
    const src = new NodeFileSource(dir);
    expect(await src.size('a.bin')).toBe(100_000);
    expect(await src.read('a.bin', 12_345, 7)).toEqual(bytes.slice(12_345, 12_352));
    const target = new Uint8Array(70_000);
    await readIntoTarget(src, 'a.bin', 30_000, target);
    expect(Buffer.compare(target, bytes.subarray(30_000))).toBe(0);
    expect(await src.readText('c.json')).toBe('{"x": "é"}');
    expect(await src.exists('a.bin')).toBe(true);
    expect(await src.exists('nope.bin')).toBe(false);
    expect(await src.list()).toEqual(['a.bin', 'c.json']);
    await src.close();
    // Reopens lazily after close.
    expect((await src.read('a.bin', 0, 2)).length).toBe(2);
    await src.close();
  });

  it('fails reads past the end and paths outside the folder', async () => {
    const src = new NodeFileSource(dir);
    await expect(src.read('a.bin', 99_990, 20)).rejects.toThrow(/unexpected end of file at byte 100000/);
    await expect(src.read('../x.bin', 0, 1)).rejects.toThrow(/outside the checkpoint folder/);
    await src.close();
  });
});

describe('MemoryFileSource', () => {
  it('serves the same bytes through read and readInto', async () => {
    const src = memorySource(new Map([['a.bin', bytes]]));
    const t = new Uint8Array(10);
    await readIntoTarget(src, 'a.bin', 5, t);
    expect(t).toEqual(bytes.slice(5, 15));
    await expect(src.read('a.bin', 99_999, 2)).rejects.toThrow(/runs past the end/);
  });
});
