// The browser FileSources, run in Node (which has fetch and File): HttpFileSource against the real
// playground server, BrowserFileSource over File objects, each read the same as the disk.

import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserFileSource } from '../src/browser/file-source.js';
import { HttpFileSource } from '../src/browser/http-source.js';
import { planCheckpoint } from '../src/loader/layout.js';
import { NodeFileSource } from '../src/loader/node-source.js';
import type { FileSource } from '../src/loader/source.js';
import { startPlaygroundServer, type PlaygroundServer } from '../src/node/playground-server.js';

const CHECKPOINT = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224', 'checkpoint');

/** The parts of a plan that say the whole checkpoint was read the same way. */
async function planSummary(source: FileSource) {
  const plan = await planCheckpoint(source);
  await source.close?.();
  return { config: plan.config, tensors: [...plan.tensors.values()].map((t) => [t.name, t.file, t.offset, t.byteLength, t.shape, t.dtype]) };
}

async function checkReads(source: FileSource, bytes: Uint8Array): Promise<void> {
  expect(await source.size('model.safetensors')).toBe(bytes.length);
  expect(await source.read('model.safetensors', 0, 8)).toEqual(bytes.subarray(0, 8));
  const mid = 1_000_003;
  expect(await source.read('model.safetensors', mid, 70_001)).toEqual(bytes.subarray(mid, mid + 70_001));
  expect(await source.read('model.safetensors', bytes.length - 5, 5)).toEqual(bytes.subarray(bytes.length - 5));
  await expect(source.read('model.safetensors', bytes.length - 5, 6)).rejects.toThrow();
  expect(JSON.parse(await source.readText('config.json')).model_type).toBe('paligemma');
  expect(await source.exists('config.json')).toBe(true);
  expect(await source.exists('tokenizer.json')).toBe(false);
  await expect(source.size('tokenizer.json')).rejects.toThrow(/tokenizer\.json/);
}

describe('HttpFileSource over the playground server', () => {
  let server: PlaygroundServer;
  let pageDir: string;

  beforeAll(async () => {
    pageDir = await mkdtemp(join(tmpdir(), 'pg-page-'));
    await writeFile(join(pageDir, 'index.html'), '<!doctype html>');
    server = await startPlaygroundServer({ modelDir: CHECKPOINT, pageDir });
  });
  afterAll(async () => {
    await server?.close();
    await rm(pageDir, { recursive: true, force: true });
  });

  it('reads exactly the bytes on disk, in ranges', async () => {
    const bytes = new Uint8Array(await readFile(join(CHECKPOINT, 'model.safetensors')));
    await checkReads(new HttpFileSource(new URL('model/', server.url)), bytes);
  });

  it('plans the checkpoint exactly as from disk', async () => {
    const http = new HttpFileSource(`${server.url}model`, { name: 'served' });
    expect(await planSummary(http)).toEqual(await planSummary(new NodeFileSource(CHECKPOINT)));
  });

  it('cannot be steered out of the folder by a file name', async () => {
    const http = new HttpFileSource(new URL('model/', server.url));
    await expect(http.readText('../../package.json')).rejects.toThrow(/not a path inside the model folder/);
    await expect(http.size('/etc/passwd')).rejects.toThrow(/not a path inside the model folder/);
    // A backslash is encoded and stays inside its segment, which the server refuses.
    await expect(http.readText('..\\..\\package.json')).rejects.toThrow(/HTTP 403/);
  });

  it('says when the server ignores Range requests', async () => {
    const { createServer } = await import('node:http');
    const plain = createServer((_req, res) => res.end('0123456789'));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const port = (plain.address() as { port: number }).port;
    try {
      const http = new HttpFileSource(`http://127.0.0.1:${port}/`);
      expect(await http.size('f')).toBe(10);
      await expect(http.read('f', 2, 3)).rejects.toThrow(/ignored the Range request/);
    } finally {
      plain.close();
    }
  });
});

describe('BrowserFileSource over File objects', () => {
  let files: File[];

  beforeAll(async () => {
    files = [];
    for (const name of await readdir(CHECKPOINT)) {
      const f = new File([await readFile(join(CHECKPOINT, name))], name);
      // What <input webkitdirectory> gives: paths start with the chosen folder's name.
      Object.defineProperty(f, 'webkitRelativePath', { value: `checkpoint/${name}` });
      files.push(f);
    }
  });

  it('takes the folder name and root-relative paths from a directory input', async () => {
    const source = BrowserFileSource.fromFileList(files);
    expect(source.name).toBe('checkpoint');
    expect(await source.list()).toEqual((await readdir(CHECKPOINT)).sort());
  });

  it('reads exactly the bytes on disk', async () => {
    const bytes = new Uint8Array(await readFile(join(CHECKPOINT, 'model.safetensors')));
    await checkReads(BrowserFileSource.fromFileList(files), bytes);
  });

  it('plans the checkpoint exactly as from disk', async () => {
    expect(await planSummary(BrowserFileSource.fromFileList(files))).toEqual(await planSummary(new NodeFileSource(CHECKPOINT)));
  });
});
