// A checkpoint behind HTTP (the playground server, or any static server that honours Range):
// every read is one `Range: bytes=a-b` request, so a multi-GB checkpoint is never downloaded
// whole or held in memory. Uses only fetch, so it runs in browsers and in Node ≥ 18.

import type { FileSource } from '../loader/source.js';

export interface HttpFileSourceOptions {
  /** Shown in error messages (default: the base URL). */
  name?: string;
  /** The folder's files, when the server can list them (only used for nicer error messages). */
  files?: string[];
  /** Passed to every fetch, e.g. to abort a load. */
  signal?: AbortSignal;
  /** Sent with every request (e.g. the Hub's `Authorization: Bearer …`; fetch drops it on a redirect to another origin). */
  headers?: Record<string, string>;
  /** The error for a failed response (default: `name/path: HTTP status`). */
  httpError?: (res: Response, path: string) => Error;
}

export class HttpFileSource implements FileSource {
  readonly name: string;
  private readonly base: URL;
  private readonly sizes = new Map<string, Promise<number>>();

  /** `baseUrl` is the folder, e.g. "http://127.0.0.1:8000/model/" (a trailing slash is added). */
  constructor(baseUrl: string | URL, private readonly opts: HttpFileSourceOptions = {}) {
    const s = String(baseUrl);
    this.base = new URL(s.endsWith('/') ? s : `${s}/`);
    this.name = opts.name ?? this.base.href;
  }

  private where(path: string): string {
    return this.name.endsWith('/') ? this.name + path : `${this.name}/${path}`;
  }

  private url(path: string): URL {
    // A name from an index file must not climb out of the folder: URL resolution would apply '..'
    // before the server saw it, so such names are refused here, and every segment is encoded.
    const segments = path.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..')) throw new Error(`${this.where(path)}: not a path inside the model folder`);
    return new URL(segments.map(encodeURIComponent).join('/'), this.base);
  }

  private async fetch(path: string, range?: string): Promise<Response> {
    const headers = { ...this.opts.headers, ...(range ? { Range: range } : {}) };
    const res = await fetch(this.url(path), { headers, signal: this.opts.signal, cache: 'no-store' });
    if (!res.ok) {
      await res.body?.cancel();
      throw this.opts.httpError?.(res, path) ?? new Error(`${this.where(path)}: HTTP ${res.status}${res.status === 404 ? ' (no such file)' : ''}`);
    }
    return res;
  }

  async list(): Promise<string[]> {
    return [...(this.opts.files ?? [])].sort();
  }

  /** The size comes from Content-Range of a one-byte request (servers that ignore Range: Content-Length). */
  size(path: string): Promise<number> {
    let p = this.sizes.get(path);
    if (!p) {
      p = (async () => {
        const res = await this.fetch(path, 'bytes=0-0');
        await res.body?.cancel();
        const total = res.status === 206 ? /\/(\d+)$/.exec(res.headers.get('Content-Range') ?? '')?.[1] : res.headers.get('Content-Length');
        if (total == null) throw new Error(`${this.where(path)}: the server did not say how large the file is`);
        return Number(total);
      })();
      this.sizes.set(path, p);
      p.catch(() => this.sizes.delete(path));
    }
    return p;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(path, offset, out);
    return out;
  }

  /** Streams the range straight into `target` (no intermediate copy of the chunk). */
  async readInto(path: string, offset: number, target: Uint8Array): Promise<void> {
    if (target.length === 0) return;
    const res = await this.fetch(path, `bytes=${offset}-${offset + target.length - 1}`);
    if (res.status !== 206) {
      await res.body?.cancel();
      throw new Error(`${this.where(path)}: the server ignored the Range request (HTTP ${res.status}); it must support byte ranges`);
    }
    const reader = res.body!.getReader();
    let done = 0;
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      if (done + value.length > target.length) {
        await reader.cancel();
        throw new Error(`${this.where(path)}: the server sent more than the ${target.length} bytes asked for at ${offset}`);
      }
      target.set(value, done);
      done += value.length;
    }
    if (done !== target.length) throw new Error(`${this.where(path)}: short read at ${offset} (${done} of ${target.length} bytes)`);
  }

  async readText(path: string): Promise<string> {
    return (await this.fetch(path)).text();
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.size(path);
      return true;
    } catch {
      return false;
    }
  }
}
