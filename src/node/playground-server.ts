// The playground's HTTP server: the built page, the model folder (read-only, Range requests) and
// the fallback tokenizer, on 127.0.0.1 only. Nothing else on the machine is reachable through it.

import { existsSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_PREFIX, FALLBACK_TOKENIZER_PATH, LORA_INFO_PATH, LORA_MERGE_HEADER, LORA_PREFIX, MODEL_INFO_PATH, MODEL_PREFIX, type ModelInfo } from '../browser/playground-routes.js';
import { buildPaligemmaTokenizerJson } from '../tokenizer/paligemma-tokenizer-json.js';
import { benchPageDir } from './bench-browser.js';
import { HttpError, resolveInside, sendFile } from './serve-files.js';

export interface PlaygroundServerOptions {
  modelDir: string;
  /** Shown in the page instead of the folder's name (a Hub model id). */
  modelName?: string;
  /** A Hub cache snapshot's blobs/ folder: the model folder's symlinks into it are served too. */
  modelBlobsDir?: string;
  /** LoRA adapter folders the page may load (served read-only like the model). */
  loraDirs?: string[];
  /** The page starts with the adapters merged into f32 copies of their weights (--lora-merge). */
  loraMerge?: boolean;
  /** 0 (default) picks a free port. */
  port?: number;
  /** The built page (dist/playground); found next to this module by default. */
  pageDir?: string;
  /** The built kernel bench page (dist/bench-page), served under /bench/; found like pageDir by default. */
  benchDir?: string;
}

export interface PlaygroundServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** dist/playground, seen from the bundled CLI (dist/node) or from the sources (src/node, tests). */
export function defaultPageDir(): string {
  const candidates = ['../playground/', '../../dist/playground/'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`the playground page is not built (looked in ${candidates.join(', ')}); run \`npm run build\``);
  return found;
}

async function folderInfo(root: string, name: string, linked?: string): Promise<ModelInfo> {
  const files: ModelInfo['files'] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    // Folders are not served, nor symlinks but those into `linked`, so they are not listed either.
    const served = entry.isFile() || (linked !== undefined && entry.isSymbolicLink() && (await realpath(join(root, entry.name)).catch(() => '')).startsWith(linked + sep));
    if (!served) continue;
    files.push({ path: entry.name, size: (await stat(join(root, entry.name))).size });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { name, files };
}

async function realFolder(dir: string, what: string): Promise<string> {
  const root = await realpath(dir).catch(() => {
    throw new Error(`${what} folder not found: ${dir}`);
  });
  if (!(await stat(root)).isDirectory()) throw new Error(`not a folder: ${dir}`);
  return root;
}

export async function startPlaygroundServer(opts: PlaygroundServerOptions): Promise<PlaygroundServer> {
  const modelRoot = await realFolder(opts.modelDir, 'model');
  const modelBlobs = opts.modelBlobsDir && (await realFolder(opts.modelBlobsDir, 'model blobs'));
  const loraRoots: string[] = [];
  for (const d of opts.loraDirs ?? []) loraRoots.push(await realFolder(d, 'LoRA adapter'));
  const pageRoot = await realpath(opts.pageDir ?? defaultPageDir());
  // Found on first use: a server for the playground alone must not need the bench page built.
  let benchRoot: Promise<string> | undefined;
  const modelName = opts.modelName ?? basename(modelRoot);
  // Built on first request: it parses the 17 MB Gemma tokenizer.json.
  let tokenizer: Buffer | undefined;
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    // A web page elsewhere could point its own host name at 127.0.0.1 (DNS rebinding) and read the
    // model through the victim's browser; only our own host names are answered.
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) throw new HttpError(403, 'unexpected Host header');
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      throw new HttpError(405, 'read-only: only GET is allowed');
    }
    const target = req.url ?? '';
    if (!target.startsWith('/')) throw new HttpError(400, 'bad request target');
    const path = target.split('?', 1)[0]!;
    if (path === '/') {
      // media-src blob:: a picked video plays from an object URL while its frames are sampled;
      // 'wasm-unsafe-eval': the loader quantizes through WebAssembly (--quantize; no eval of JS).
      res.setHeader('Content-Security-Policy', "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; media-src 'self' blob:");
      return sendFile(res, join(pageRoot, 'index.html'), undefined);
    }
    if (path === BENCH_PREFIX.slice(0, -1)) {
      res.statusCode = 301;
      res.setHeader('Location', BENCH_PREFIX + target.slice(path.length));
      res.end();
      return;
    }
    if (path.startsWith(BENCH_PREFIX)) {
      res.setHeader('Content-Security-Policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:");
      benchRoot ??= (async () => realpath(opts.benchDir ?? benchPageDir()))().catch((e: Error) => {
        benchRoot = undefined; // built later: found on the next request
        throw new HttpError(404, e.message);
      });
      return sendFile(res, await resolveInside(await benchRoot, path.slice(BENCH_PREFIX.length) || 'index.html'), undefined);
    }
    if (path === MODEL_INFO_PATH) {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(await folderInfo(modelRoot, modelName, modelBlobs)));
      return;
    }
    if (path === LORA_INFO_PATH) {
      res.setHeader('Content-Type', 'application/json');
      if (opts.loraMerge) res.setHeader(LORA_MERGE_HEADER, '1');
      res.end(JSON.stringify(await Promise.all(loraRoots.map((r) => folderInfo(r, basename(r))))));
      return;
    }
    if (path.startsWith(LORA_PREFIX)) {
      const [index, ...rest] = path.slice(LORA_PREFIX.length).split('/');
      const root = /^\d+$/.test(index!) ? loraRoots[Number(index)] : undefined;
      if (!root) throw new HttpError(404, 'no such adapter');
      return sendFile(res, await resolveInside(root, rest.join('/')), req.headers.range);
    }
    if (path === FALLBACK_TOKENIZER_PATH) {
      tokenizer ??= Buffer.from(buildPaligemmaTokenizerJson());
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Content-Length', tokenizer.length);
      res.end(tokenizer);
      return;
    }
    if (path.startsWith(MODEL_PREFIX)) {
      return sendFile(res, await resolveInside(modelRoot, path.slice(MODEL_PREFIX.length), modelBlobs), req.headers.range);
    }
    return sendFile(res, await resolveInside(pageRoot, path.slice(1)), undefined);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) console.error(`playground: ${req.method} ${req.url}: ${e instanceof Error ? e.message : String(e)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.statusCode = status;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(`${status} ${e instanceof HttpError ? e.message : 'internal error'}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: the model and the page are never offered to the network.
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
