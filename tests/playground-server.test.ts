// The playground server offers the page, the model folder and the fallback tokenizer on 127.0.0.1
// only, read-only, and nothing outside the model folder: traversal in every spelling (raw '..',
// percent-encoded dots and slashes, absolute paths, symlinks out of the folder) is refused.

import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaygroundServer, type PlaygroundServer } from '../src/node/playground-server.js';

const SECRET = 'top secret: must never be served';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with the path sent exactly as written (fetch would normalise '..' and '%2e%2e' away). */
function raw(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; host?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: opts.host ?? '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('playground server', () => {
  let root: string;
  let server: PlaygroundServer;
  let config: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pg-server-'));
    const model = join(root, 'model');
    const page = join(root, 'page');
    await mkdir(join(model, 'sub'), { recursive: true });
    await mkdir(page);
    config = JSON.stringify({ model_type: 'paligemma', note: '0123456789' });
    await writeFile(join(model, 'config.json'), config);
    await writeFile(join(model, 'sub', 'inner.txt'), 'inner');
    await writeFile(join(model, 'empty.bin'), '');
    await writeFile(join(root, 'secret.txt'), SECRET);
    await writeFile(join(page, 'index.html'), '<!doctype html><title>page</title>');
    await writeFile(join(page, 'app.js'), 'export {};');
    await symlink(join(root, 'secret.txt'), join(model, 'escape.txt')); // absolute link out
    await symlink('../secret.txt', join(model, 'escape-relative.txt')); // relative link out
    await symlink(root, join(model, 'escape-dir')); // a folder link out
    await symlink('config.json', join(model, 'alias.json')); // a link that stays inside is fine
    server = await startPlaygroundServer({ modelDir: model, pageDir: page, port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 only', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    const other = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    // With no other interface on this machine there is nothing else to try.
    if (other) await expect(raw(server.port, '/', { host: other.address })).rejects.toThrow(/ECONNREFUSED/);
    await expect(raw(server.port, '/', { host: '::1' })).rejects.toThrow(/ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH/);
  });

  it('serves the page with a content security policy', async () => {
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await res.text()).toContain('<title>page</title>');
    expect((await fetch(new URL('app.js', server.url))).status).toBe(200);
  });

  it('serves model files whole and in byte ranges', async () => {
    const whole = await fetch(new URL('model/config.json', server.url));
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(await whole.text()).toBe(config);

    const part = await fetch(new URL('model/config.json', server.url), { headers: { Range: 'bytes=2-11' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 2-11/${config.length}`);
    expect(await part.text()).toBe(config.slice(2, 12));

    const suffix = await fetch(new URL('model/config.json', server.url), { headers: { Range: 'bytes=-5' } });
    expect(await suffix.text()).toBe(config.slice(-5));
    const open = await fetch(new URL('model/config.json', server.url), { headers: { Range: 'bytes=10-' } });
    expect(await open.text()).toBe(config.slice(10));

    const beyond = await fetch(new URL('model/config.json', server.url), { headers: { Range: `bytes=${config.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${config.length}`);

    expect(await (await fetch(new URL('model/sub/inner.txt', server.url))).text()).toBe('inner');
    expect(await (await fetch(new URL('model/alias.json', server.url))).text()).toBe(config);
    const empty = await fetch(new URL('model/empty.bin', server.url));
    expect([empty.status, await empty.text()]).toEqual([200, '']);
  });

  it('describes the model folder (regular files only)', async () => {
    const info = (await (await fetch(new URL('api/model', server.url))).json()) as { name: string; files: { path: string; size: number }[] };
    expect(info).toEqual({ name: 'model', files: [{ path: 'config.json', size: config.length }, { path: 'empty.bin', size: 0 }] });
  });

  // [path as sent, status]: 403 for anything that tries to leave the folder, 404 for what is not there.
  const traversal: [string, number][] = [
    ['/model/../secret.txt', 403],
    ['/model/sub/../../secret.txt', 403],
    ['/model/%2e%2e/secret.txt', 403],
    ['/model/%2E%2E/secret.txt', 403],
    ['/model/.%2e/secret.txt', 403],
    ['/model/..%2fsecret.txt', 403],
    ['/model/sub%2f..%2f..%2fsecret.txt', 403],
    ['/model/..%5csecret.txt', 403],
    ['/model/%2fetc%2fpasswd', 403],
    ['/model//etc/passwd', 403],
    ['/model/./config.json', 403],
    ['/model/config.json%00', 403],
    ['/model/escape.txt', 403],
    ['/model/escape-relative.txt', 403],
    ['/model/escape-dir/secret.txt', 403],
    ['/../secret.txt', 403],
    ['/%2e%2e/secret.txt', 403],
    ['/secret.txt', 404],
    ['/etc/passwd', 404],
    ['/model/nope.json', 404],
    ['/model/%zz', 400],
  ];
  it.each(traversal)('refuses %s (%i)', async (path, status) => {
    const res = await raw(server.port, path);
    expect(res.status).toBe(status);
    expect(res.body).not.toContain(SECRET);
  });

  it('refuses an absolute-form request target', async () => {
    const res = await raw(server.port, `http://127.0.0.1:${server.port}/model/config.json`);
    expect(res.status).toBe(400);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'])('answers %s with 405', async (method) => {
    const res = await raw(server.port, '/model/config.json', { method });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET');
    expect(await readFile(join(root, 'model', 'config.json'), 'utf8')).toBe(config);
  });

  it('answers only its own host names (no DNS rebinding)', async () => {
    const evil = await raw(server.port, '/model/config.json', { headers: { Host: `evil.example:${server.port}` } });
    expect(evil.status).toBe(403);
    const local = await raw(server.port, '/model/config.json', { headers: { Host: `localhost:${server.port}` } });
    expect(local.status).toBe(200);
  });

  it('serves the real Gemma tokenizer with PaliGemma tokens as the fallback', async () => {
    const res = await fetch(new URL('tokenizer/gemma-paligemma.json', server.url));
    expect(res.status).toBe(200);
    const json = (await res.json()) as { added_tokens: { id: number; content: string }[] };
    const byId = new Map(json.added_tokens.map((t) => [t.id, t.content]));
    expect(byId.get(256000)).toBe('<loc0000>');
    expect(byId.get(257151)).toBe('<seg127>');
    expect(byId.get(257152)).toBe('<image>');
  });

  it('refuses a model folder that does not exist', async () => {
    await expect(startPlaygroundServer({ modelDir: join(root, 'missing'), pageDir: join(root, 'page') })).rejects.toThrow(/model folder not found/);
  });
});
