// Hub model ids against a local server that answers like the Hugging Face Hub (helpers/hub-server.ts):
// the cache layout huggingface_hub writes and reads, downloads (redirect to a CDN, token only to the
// Hub, resume with Range after a cut connection, sha256 of LFS files), offline use, clear errors,
// the browser's Hub source, and `dump --model ORG/NAME` through the CLI.

import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hubFileSource } from '../src/browser/hub-source.js';
import { HubError, parseHubUrl, parseRepoRef } from '../src/loader/hub.js';
import { planCheckpoint } from '../src/loader/layout.js';
import { NodeFileSource } from '../src/loader/node-source.js';
import type { FileSource } from '../src/loader/source.js';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken } from '../src/node/hub-cache.js';
import { modelFolder, resolveHubModel, type HubOptions } from '../src/node/hub-model.js';
import { startPlaygroundServer } from '../src/node/playground-server.js';
import { HttpFileSource } from '../src/browser/http-source.js';
import { MODEL_INFO_PATH, MODEL_PREFIX } from '../src/browser/playground-routes.js';
import { gitSha1, sha256, startHubServer, type HubServer } from './helpers/hub-server.js';

const FIXTURE = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded');
const CHECKPOINT = join(FIXTURE, 'checkpoint');
const COMMIT = 'a'.repeat(40);
const SHARD = 'model-00001-of-00003.safetensors';
const TOKEN = 'hf_test_token';

function filesOf(dir: string): Map<string, Uint8Array> {
  return new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

async function planSummary(source: FileSource) {
  const plan = await planCheckpoint(source);
  await source.close?.();
  return { config: plan.config, tensors: [...plan.tensors.values()].map((t) => [t.name, t.file, t.offset, t.byteLength, t.shape, t.dtype]) };
}

let server: HubServer;
let cacheDir: string;
const warnings: string[] = [];
const opts = (extra: HubOptions = {}): HubOptions => ({
  cacheDir,
  endpoint: server.url,
  token: false,
  offline: false,
  retryDelayMs: 0,
  onWarning: (m) => warnings.push(m),
  ...extra,
});
const requests = () => server.log.splice(0);

beforeAll(async () => {
  server = await startHubServer();
});
afterAll(async () => {
  await server?.close();
});
beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'pg-hub-cache-'));
  server.repos.clear();
  server.repos.set('test-org/pg-tiny', { files: filesOf(CHECKPOINT), commit: COMMIT, refs: { main: COMMIT } });
  server.cutOnce.clear();
  server.shortOnce.clear();
  server.shortAlways = undefined;
  server.ignoreRange = false;
  server.log.length = 0;
  warnings.length = 0;
});

describe('Hub cache layout and downloads', () => {
  it('downloads into models--ORG--NAME/{blobs,refs,snapshots} as huggingface_hub does, and the loader reads the snapshot', async () => {
    const dir = await resolveHubModel('test-org/pg-tiny', opts());
    const root = join(cacheDir, 'models--test-org--pg-tiny');
    expect(dir).toBe(join(root, 'snapshots', COMMIT));
    expect(readFileSync(join(root, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    for (const [name, bytes] of filesOf(CHECKPOINT)) {
      const etag = name.endsWith('.safetensors') ? sha256(bytes) : gitSha1(bytes);
      expect(lstatSync(join(dir, name)).isSymbolicLink(), name).toBe(true);
      expect(readlinkSync(join(dir, name))).toBe(`../../blobs/${etag}`);
      expect(new Uint8Array(readFileSync(join(root, 'blobs', etag)))).toEqual(bytes);
    }
    // The repository has no tokenizer.json: recorded as absent at that commit, as huggingface_hub does.
    expect(existsSync(join(root, '.no_exist', COMMIT, 'tokenizer.json'))).toBe(true);
    expect(readdirSync(join(root, 'blobs')).some((f) => f.endsWith('.incomplete'))).toBe(false);
    expect(await planSummary(new NodeFileSource(dir))).toEqual(await planSummary(new NodeFileSource(CHECKPOINT)));

    // The LFS shards came from the CDN after a redirect; the small files from resolve/ itself.
    const log = requests();
    expect(log.filter((r) => r.server === 'cdn').map((r) => r.path.split('?')[0]).sort()).toEqual(
      [...filesOf(CHECKPOINT)].filter(([f]) => f.endsWith('.safetensors')).map(([, b]) => `/cdn/${sha256(b)}`).sort(),
    );
    expect(log.filter((r) => r.server === 'hub' && r.method === 'GET').map((r) => r.path)).toContain(`/test-org/pg-tiny/resolve/${COMMIT}/config.json`);

    // Again: one HEAD per file and nothing downloaded (main may have moved); by commit or offline: no request at all.
    expect(await resolveHubModel('test-org/pg-tiny', opts())).toBe(dir);
    expect(requests().every((r) => r.method === 'HEAD' && r.server === 'hub')).toBe(true);
    expect(await resolveHubModel(`test-org/pg-tiny@${COMMIT}`, opts())).toBe(dir);
    expect(await resolveHubModel('test-org/pg-tiny', opts({ offline: true }))).toBe(dir);
    expect(requests()).toEqual([]);
  });

  it('uses a cache another tool wrote (plain files in the snapshot, refs/main), offline', async () => {
    const commit = 'b'.repeat(40);
    const root = join(cacheDir, 'models--google--paligemma-3b-mix-224');
    await mkdir(join(root, 'refs'), { recursive: true });
    await writeFile(join(root, 'refs', 'main'), commit);
    await cp(CHECKPOINT, join(root, 'snapshots', commit), { recursive: true });
    expect(await resolveHubModel('google/paligemma-3b-mix-224', opts({ offline: true }))).toBe(join(root, 'snapshots', commit));
    // A snapshot missing a shard is not complete.
    await rm(join(root, 'snapshots', commit, SHARD));
    await expect(resolveHubModel('google/paligemma-3b-mix-224', opts({ offline: true }))).rejects.toThrow(/offline \(HF_HUB_OFFLINE is set\).*lacks config\.json or weight files/);
    expect(requests()).toEqual([]);
  });

  it('reads HF_HUB_CACHE / HF_HOME / XDG_CACHE_HOME, HF_TOKEN / the token file, HF_HUB_OFFLINE and HF_ENDPOINT as huggingface_hub', async () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/a/hub', HF_HOME: '/b' })).toBe('/a/hub');
    expect(hubCacheDir({ HUGGINGFACE_HUB_CACHE: '/c', HF_HOME: '/b' })).toBe('/c');
    expect(hubCacheDir({ HF_HOME: '/b' })).toBe('/b/hub');
    expect(hubCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/hub');
    expect(hubToken({ HF_TOKEN: ' hf_a\n', HUGGING_FACE_HUB_TOKEN: 'hf_b' })).toBe('hf_a');
    await writeFile(join(cacheDir, 'token'), 'hf_saved\n');
    expect(hubToken({ HF_HOME: cacheDir })).toBe('hf_saved');
    expect(hubToken({ HF_HOME: join(cacheDir, 'none') })).toBeUndefined();
    expect([hubOffline({ HF_HUB_OFFLINE: '1' }), hubOffline({ TRANSFORMERS_OFFLINE: 'yes' }), hubOffline({ HF_HUB_OFFLINE: '0' }), hubOffline({})]).toEqual([true, true, false, false]);
    expect([hubEndpoint({ HF_ENDPOINT: 'http://mirror.local/hf/' }), hubEndpoint({})]).toEqual(['http://mirror.local/hf', 'https://huggingface.co']);
  });

  it('parses ids and Hub addresses', () => {
    expect(parseRepoRef('google/paligemma-3b-mix-224')).toEqual({ repoId: 'google/paligemma-3b-mix-224', revision: 'main' });
    expect(parseRepoRef('google/paligemma-3b-mix-224@bfloat16')).toEqual({ repoId: 'google/paligemma-3b-mix-224', revision: 'bfloat16' });
    for (const bad of ['~/models/x', '/abs/path', 'a/b/c', 'org/-x', 'a--b/c', 'org/x@', 'org/x@../y', './x']) expect(parseRepoRef(bad), bad).toBeUndefined();
    expect(parseHubUrl('https://huggingface.co/google/paligemma-3b-mix-224/tree/bfloat16')).toEqual({ repoId: 'google/paligemma-3b-mix-224', revision: 'bfloat16', endpoint: 'https://huggingface.co' });
    expect(parseHubUrl('https://huggingface.co/google/paligemma-3b-mix-224')).toMatchObject({ revision: 'main' });
    expect(() => parseHubUrl('https://huggingface.co/')).toThrow(/not a Hub repository address/);
  });
});

describe('Hub errors and recovery', () => {
  it('a gated repository: 401 without a token says HF_TOKEN and the license; with it, the CDN never sees the token', async () => {
    server.repos.get('test-org/pg-tiny')!.gatedToken = TOKEN;
    const err = await resolveHubModel('test-org/pg-tiny', opts()).catch((e) => e);
    expect(err).toBeInstanceOf(HubError);
    expect(err.message).toMatch(/^test-org\/pg-tiny@main\/config\.json: HTTP 401: this repository is gated .* accept the license .* set HF_TOKEN/i);
    const wrong = await resolveHubModel('test-org/pg-tiny', opts({ token: 'hf_other' })).catch((e) => e);
    expect(wrong.message).toMatch(/HTTP 401: access refused with the token given .*accept its license/);
    requests();

    const dir = await resolveHubModel('test-org/pg-tiny', opts({ token: TOKEN }));
    expect(await planSummary(new NodeFileSource(dir))).toEqual(await planSummary(new NodeFileSource(CHECKPOINT)));
    const log = requests();
    expect(log.filter((r) => r.server === 'hub').every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(log.filter((r) => r.server === 'cdn').length).toBe(3);
    expect(log.filter((r) => r.server === 'cdn').every((r) => r.authorization === undefined)).toBe(true);
  });

  it('names the repository, revision and file that are missing', async () => {
    await expect(resolveHubModel('test-org/nothing', opts())).rejects.toThrow(/^test-org\/nothing@main\/config\.json: HTTP 401: no such repository \(or it is private or gated: set HF_TOKEN\)/);
    await expect(modelFolder('test-org/nothing', opts())).rejects.toThrow(/no such repository .*; there is no folder "test-org\/nothing" on disk either$/);
    expect(await modelFolder(CHECKPOINT, opts())).toBe(CHECKPOINT);
    await expect(resolveHubModel('test-org/pg-tiny@v9', opts())).rejects.toThrow(/^test-org\/pg-tiny@v9\/config\.json: HTTP 404: the repository has no revision/);
    // A revision the Hub no longer has is an error even when the cache remembers it (huggingface_hub raises too).
    await resolveHubModel('test-org/pg-tiny', opts());
    await writeFile(join(cacheDir, 'models--test-org--pg-tiny', 'refs', 'v9'), COMMIT);
    await expect(resolveHubModel('test-org/pg-tiny@v9', opts())).rejects.toThrow(/^test-org\/pg-tiny@v9\/config\.json: HTTP 404: the repository has no revision/);
    expect(await resolveHubModel('test-org/pg-tiny@v9', opts({ offline: true }))).toContain(COMMIT);
    await rm(cacheDir, { recursive: true });
    server.repos.get('test-org/pg-tiny')!.files.delete('model-00002-of-00003.safetensors');
    await expect(resolveHubModel('test-org/pg-tiny', opts())).rejects.toThrow(
      new RegExp(`^test-org/pg-tiny@${COMMIT}/model-00002-of-00003\\.safetensors: HTTP 404: the repository has no such file at this revision`),
    );
    server.repos.get('test-org/pg-tiny')!.files.delete('model.safetensors.index.json');
    await expect(resolveHubModel('test-org/pg-tiny', opts())).rejects.toThrow(/has neither model\.safetensors nor model\.safetensors\.index\.json/);
  });

  it('resumes a cut download with Range from the .incomplete size, in the same call or the next', async () => {
    const bytes = filesOf(CHECKPOINT).get(SHARD)!;
    const sha = sha256(bytes);
    const part = join(cacheDir, 'models--test-org--pg-tiny', 'blobs', `${sha}.incomplete`);

    server.cutOnce.set(sha, 100_000);
    const err = await resolveHubModel('test-org/pg-tiny', opts({ retries: 0 })).catch((e) => e);
    expect(err.message).toBe(`test-org/pg-tiny@${COMMIT}/${SHARD}: download interrupted at 100000 of ${bytes.length} bytes (UND_ERR_SOCKET); run again to resume from ${part}`);
    expect(statSync(part).size).toBe(100_000);
    requests();
    const progress: number[] = [];
    const dir = await resolveHubModel('test-org/pg-tiny', opts({ onProgress: (p) => progress.push(p.bytesDone / p.bytesTotal) }));
    const gets = requests().filter((r) => r.server === 'cdn');
    expect(gets.find((r) => r.path.startsWith(`/cdn/${sha}`))!.range).toBe('bytes=100000-');
    expect(new Uint8Array(readFileSync(join(dir, SHARD)))).toEqual(bytes);
    expect(existsSync(part)).toBe(false);
    expect(progress.at(-1)).toBe(1);

    // Within one call: the connection drops, the next request asks for the rest.
    await rm(cacheDir, { recursive: true });
    server.cutOnce.set(sha, 123_457);
    await resolveHubModel('test-org/pg-tiny', opts());
    expect(requests().filter((r) => r.path.startsWith(`/cdn/${sha}`)).map((r) => r.range)).toEqual([undefined, 'bytes=123457-']);
    expect(sha256(readFileSync(join(cacheDir, 'models--test-org--pg-tiny', 'blobs', sha)))).toBe(sha);

    // A response that ends cleanly but short (no Content-Length) is continued the same way.
    await rm(cacheDir, { recursive: true });
    server.shortOnce.set(sha, 77_777);
    await resolveHubModel('test-org/pg-tiny', opts());
    expect(requests().filter((r) => r.path.startsWith(`/cdn/${sha}`)).map((r) => r.range)).toEqual([undefined, 'bytes=77777-']);
    expect(sha256(readFileSync(join(cacheDir, 'models--test-org--pg-tiny', 'blobs', sha)))).toBe(sha);

    // Responses that never bring a byte give up after the retries instead of looping.
    await rm(cacheDir, { recursive: true });
    server.shortAlways = 0;
    await expect(resolveHubModel('test-org/pg-tiny', opts({ retries: 2 }))).rejects.toThrow(/model-00001-of-00003\.safetensors: download interrupted at 0 of \d+ bytes \(the response ended early\)/);
    expect(requests().filter((r) => r.path.startsWith('/cdn/')).length).toBe(3);
    server.shortAlways = undefined;

    // A server that ignores the Range sends the whole file again: it is written from the start.
    await rm(cacheDir, { recursive: true });
    server.cutOnce.set(sha, 50_000);
    server.ignoreRange = true;
    await resolveHubModel('test-org/pg-tiny', opts());
    expect(sha256(readFileSync(join(cacheDir, 'models--test-org--pg-tiny', 'blobs', sha)))).toBe(sha);
  });

  it('refuses an LFS file whose bytes do not hash to the sha256 of its pointer, and keeps nothing of it', async () => {
    const wrong = 'f'.repeat(64);
    server.repos.get('test-org/pg-tiny')!.lfsShaOverride = new Map([[SHARD, wrong]]);
    const err = await resolveHubModel('test-org/pg-tiny', opts()).catch((e) => e);
    const actual = sha256(filesOf(CHECKPOINT).get(SHARD)!);
    expect(err.message).toMatch(new RegExp(`^test-org/pg-tiny@${COMMIT}/${SHARD}: sha256 mismatch: the Hub's LFS pointer says ${wrong}, the \\d+ bytes received hash to ${actual}`));
    const blobs = join(cacheDir, 'models--test-org--pg-tiny', 'blobs');
    expect(readdirSync(blobs).filter((f) => f.startsWith(wrong))).toEqual([]);
    expect(existsSync(join(cacheDir, 'models--test-org--pg-tiny', 'snapshots', COMMIT, SHARD))).toBe(false);
  });

  it('offline or unreachable: the cache serves, and says so when it cannot', async () => {
    await expect(resolveHubModel('test-org/pg-tiny', opts({ offline: true }))).rejects.toThrow(
      /^test-org\/pg-tiny@main: offline \(HF_HUB_OFFLINE is set\) and the cache has no complete copy of it: nothing under .*models--test-org--pg-tiny for revision "main"\. Run once with network access/,
    );
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closed = `http://127.0.0.1:${(probe.address() as { port: number }).port}`;
    await new Promise((r) => probe.close(r));
    await expect(resolveHubModel('test-org/pg-tiny', opts({ endpoint: closed }))).rejects.toThrow(/^test-org\/pg-tiny@main: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\), and the cache .* has no complete copy of it/);
    const dir = await resolveHubModel('test-org/pg-tiny', opts());
    expect(await resolveHubModel('test-org/pg-tiny', opts({ endpoint: closed }))).toBe(dir);
    expect(warnings.at(-1)).toMatch(/cannot reach .*; using the cached snapshot/);
  });
});

describe('the browser Hub source (fetch)', () => {
  it('loads from an id or a Hub address, pinned to the commit, the token kept from the CDN', async () => {
    server.repos.get('test-org/pg-tiny')!.gatedToken = TOKEN;
    await expect(hubFileSource('test-org/pg-tiny', { endpoint: server.url })).rejects.toThrow(/config\.json: HTTP 401: this repository is gated/);
    const source = await hubFileSource(`${server.url}/test-org/pg-tiny/tree/main`, { token: TOKEN });
    expect(source.name).toBe('test-org/pg-tiny@main');
    requests();
    expect(await planSummary(source)).toEqual(await planSummary(new NodeFileSource(CHECKPOINT)));
    const log = requests();
    expect(log.filter((r) => r.server === 'hub').every((r) => r.path.includes(`/resolve/${COMMIT}/`) && r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(log.some((r) => r.server === 'cdn' && r.range !== undefined)).toBe(true);
    expect(log.filter((r) => r.server === 'cdn').every((r) => r.authorization === undefined)).toBe(true);
    await expect(source.read('model-00009-of-00003.safetensors', 0, 8)).rejects.toThrow(new RegExp(`^test-org/pg-tiny@${COMMIT}/model-00009-of-00003\\.safetensors: HTTP 404: the repository has no such file`));
  });
});

describe('the browser Hub source in Chromium', () => {
  it('crosses origins as a page: preflights, the redirect to the CDN without the token, X-Repo-Commit read', async () => {
    const { build } = await import('esbuild');
    const { chromium } = await import('playwright-core');
    const script = `
      import { hubFileSource } from './src/browser/hub-source.ts';
      import { planCheckpoint } from './src/loader/layout.ts';
      window.run = async (model, token) => {
        try {
          const source = await hubFileSource(model, { token });
          const plan = await planCheckpoint(source);
          return { name: source.name, tensors: [...plan.tensors.values()].map((t) => [t.name, t.file, t.offset, t.byteLength]) };
        } catch (e) {
          return { error: e.message };
        }
      };`;
    const out = await build({ stdin: { contents: script, resolveDir: join(__dirname, '..'), loader: 'ts' }, bundle: true, format: 'esm', platform: 'browser', write: false });
    const page = createServer((req, res) => {
      if (req.url === '/') return void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><script type="module" src="/run.js"></script>');
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(out.outputFiles[0]!.text);
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
    try {
      server.repos.get('test-org/pg-tiny')!.gatedToken = TOKEN;
      const tab = await browser.newPage();
      await tab.goto(`http://127.0.0.1:${(page.address() as { port: number }).port}/`);
      await tab.waitForFunction(() => 'run' in window);
      const run = (model: string, token?: string) => tab.evaluate(([m, t]) => (window as unknown as { run: (m: string, t?: string) => Promise<unknown> }).run(m!, t), [model, token]);
      expect(await run(`${server.url}/test-org/pg-tiny`)).toEqual({ error: expect.stringMatching(/^test-org\/pg-tiny@main\/config\.json: HTTP 401: this repository is gated/) });
      requests();
      const got = (await run(`${server.url}/test-org/pg-tiny/tree/main`, TOKEN)) as { name: string; tensors: unknown[] };
      const disk = new NodeFileSource(CHECKPOINT);
      const plan = await planCheckpoint(disk);
      await disk.close();
      expect(got).toEqual({ name: 'test-org/pg-tiny@main', tensors: [...plan.tensors.values()].map((t) => [t.name, t.file, t.offset, t.byteLength]) });
      const log = requests().filter((r) => r.method !== 'OPTIONS');
      expect(log.filter((r) => r.server === 'hub').every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
      expect(log.filter((r) => r.server === 'hub' && r.method === 'GET').every((r) => r.path.includes(`/resolve/${COMMIT}/`))).toBe(true);
      expect(log.filter((r) => r.server === 'cdn').length).toBeGreaterThan(0);
      expect(log.filter((r) => r.server === 'cdn').every((r) => r.authorization === undefined && r.range !== undefined)).toBe(true);
    } finally {
      await browser.close();
      page.close();
    }
  });
});

describe('the playground server on a Hub snapshot', () => {
  it('serves the snapshot symlinks into blobs/, and nothing else outside the folder', async () => {
    const dir = await resolveHubModel('test-org/pg-tiny', opts());
    const pageDir = await mkdtemp(join(tmpdir(), 'pg-page-'));
    await writeFile(join(pageDir, 'index.html'), '<!doctype html>');
    const blobs = join(dir, '..', '..', 'blobs');
    const plain = await startPlaygroundServer({ modelDir: dir, pageDir });
    const served = await startPlaygroundServer({ modelDir: dir, modelName: 'test-org/pg-tiny', modelBlobsDir: blobs, pageDir });
    try {
      // Without blobs/ allowed, the symlinks lead outside the folder: refused as before.
      await expect(new HttpFileSource(new URL(MODEL_PREFIX, plain.url)).readText('config.json')).rejects.toThrow(/HTTP 403/);
      const info = await (await fetch(new URL(MODEL_INFO_PATH, served.url))).json();
      expect(info.name).toBe('test-org/pg-tiny');
      expect(info.files.map((f: { path: string }) => f.path)).toEqual([...filesOf(CHECKPOINT).keys()].sort());
      expect(await planSummary(new HttpFileSource(new URL(MODEL_PREFIX, served.url)))).toEqual(await planSummary(new NodeFileSource(CHECKPOINT)));
    } finally {
      await plain.close();
      await served.close();
      await rm(pageDir, { recursive: true, force: true });
    }
  });
});

describe('paligemma dump --model ORG/NAME', () => {
  it('downloads into HF_HUB_CACHE from HF_ENDPOINT and gives the fixture ids', async () => {
    const meta = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8'));
    const out = join(cacheDir, 'dump.safetensors');
    const env = { ...process.env, HF_ENDPOINT: server.url, HF_HUB_CACHE: join(cacheDir, 'hub'), HF_TOKEN: '', HF_HUB_OFFLINE: '' };
    const r = await promisify(execFile)(
      process.execPath,
      [join(__dirname, '..', 'bin', 'paligemma.mjs'), 'dump', '--model', 'test-org/pg-tiny', '--pixel-values', join(FIXTURE, 'expected.safetensors'), '--ids', meta.text_ids.join(','), '--max-new-tokens', '2', '--out', out],
      { env, timeout: 280_000 },
    ).catch((e) => {
      throw new Error(`dump failed: ${e.message}\n${e.stderr}`);
    });
    expect(r.stderr).toContain('downloaded 419.1 kB');
    expect(existsSync(join(cacheDir, 'hub', 'models--test-org--pg-tiny', 'snapshots', COMMIT, SHARD))).toBe(true);
    const { readExpected } = await import('../src/node/golden.js');
    expect(Array.from(readExpected(out).get('generated_ids')!.data as BigInt64Array, Number)).toEqual(meta.generated_ids.slice(0, 2));
  });
});
