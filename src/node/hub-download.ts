// One repository file from the Hub into the cache (hub-cache.ts), as huggingface_hub does it:
// a HEAD on resolve/<revision>/<path> gives the commit (X-Repo-Commit), the etag (X-Linked-Etag for
// LFS files, else ETag) and size (X-Linked-Size, else Content-Length); an LFS file answers with a
// redirect to its CDN copy, which is then downloaded without the Authorization header (a signed
// URL on another host must not see the token). The bytes go to blobs/<etag>.incomplete, resumed
// with `Range: bytes=<have>-` after a dropped connection or in a later run, checked (size; the
// sha256 for LFS files, whose etag is their sha256, hashed while streaming), renamed to
// blobs/<etag> and linked from snapshots/<commit>/<path>.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, lstat, mkdir, open, readFile, rename, rm, stat, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkRepoPath, HubError, hubResponseError, resolveUrl, SHA256 } from '../loader/hub.js';
import type { RepoCache } from './hub-cache.js';

export interface HubRequestOptions {
  endpoint: string;
  /** Sent as `Authorization: Bearer …` to the Hub (never to a CDN on another host). */
  token?: string;
  /** Reconnections after a dropped download that brought no new bytes (default 5, as huggingface_hub). */
  retries?: number;
  /** Pause before reconnecting (default 1000 ms). */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/** What a HEAD on resolve/ says about a file. */
export interface HubFileInfo {
  path: string;
  commit: string;
  /** The blob's name: sha256 for LFS files, the git blob sha1 otherwise. */
  etag: string;
  size: number;
  /** Where the bytes are: the resolve URL, or the CDN address it redirects to. */
  location: string;
}

/** The Hub could not be reached at all (no network, wrong HF_ENDPOINT): the cache may still serve. */
export class HubUnreachableError extends HubError {
  override name = 'HubUnreachableError';
}

const MAX_REDIRECTS = 10;

function causeOf(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message ?? (e as Error).message;
}

function isAbort(e: unknown): boolean {
  return (e as Error)?.name === 'AbortError';
}

function headers(token: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  // identity: a compressed body's Content-Length is not the file's size (huggingface_hub does the same).
  return { 'Accept-Encoding': 'identity', 'User-Agent': 'paligemma-webgpu', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra };
}

/**
 * HEAD resolve/<revision>/<path>. Relative redirects (a renamed repository) are followed on the
 * Hub; an absolute one (the CDN) is not: its address is where the GET goes.
 */
export async function headFile(repoId: string, revision: string, path: string, opts: HubRequestOptions): Promise<HubFileInfo> {
  const where = `${repoId}@${revision}`;
  checkRepoPath(path, where);
  let url = resolveUrl(opts.endpoint, repoId, revision, path);
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await fetch(url, { method: 'HEAD', redirect: 'manual', headers: headers(opts.token), signal: opts.signal });
    } catch (e) {
      if (isAbort(e)) throw e;
      throw new HubUnreachableError(where, path, `cannot reach ${opts.endpoint} (${causeOf(e)})`);
    }
    const location = res.headers.get('Location');
    const redirect = res.status >= 300 && res.status < 400 && location !== null;
    if (redirect && !/^([a-z][a-z0-9+.-]*:)?\/\//i.test(location) && hop < MAX_REDIRECTS) {
      url = new URL(location, url).href;
      continue;
    }
    if (!redirect && !res.ok) throw hubResponseError(res, where, path, opts.token !== undefined);
    const commit = res.headers.get('X-Repo-Commit');
    const etag = (res.headers.get('X-Linked-Etag') ?? res.headers.get('ETag'))?.replace(/^W\//, '').replace(/"/g, '');
    const size = Number(res.headers.get('X-Linked-Size') ?? (redirect ? NaN : res.headers.get('Content-Length') ?? NaN));
    if (!commit) throw new HubError(where, path, `the server sent no X-Repo-Commit header: ${opts.endpoint} does not answer like the Hugging Face Hub (check HF_ENDPOINT and any proxy)`);
    if (!etag || /[/\\]|^\.\.?$/.test(etag)) throw new HubError(where, path, 'the server sent no usable ETag, so the file cannot be cached reliably');
    if (!Number.isSafeInteger(size) || size < 0) throw new HubError(where, path, 'the server did not say how large the file is (no X-Linked-Size or Content-Length)');
    return { path, commit, etag, size, location: redirect ? new URL(location, url).href : url };
  }
}

const heldHere = new Set<string>();

/**
 * Creates a lock file holding our pid; waits while a live process (or another download in this
 * one) holds it, and takes it over from a process that died.
 */
async function lock(file: string, say: (msg: string) => void): Promise<() => Promise<void>> {
  await mkdir(dirname(file), { recursive: true });
  let warned = false;
  for (;;) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      heldHere.add(file);
      return async () => {
        heldHere.delete(file);
        await unlink(file).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(await readFile(file, 'utf8').catch(() => ''));
    let alive = pid === process.pid && heldHere.has(file);
    if (!alive && pid !== process.pid && Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (!alive) {
      await unlink(file).catch(() => undefined);
      continue;
    }
    if (!warned) say(`waiting for process ${pid}, which is downloading the same file (lock ${file})`);
    warned = true;
    await sleep(200);
  }
}

/** Feeds the first `bytes` of `file` to `hash` (a resumed download's hash covers the old bytes too). */
async function hashPrefix(file: string, bytes: number, hash: Hash): Promise<void> {
  if (bytes === 0) return;
  for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1 })) hash.update(chunk as Buffer);
}

/**
 * Downloads `info` into blobs/<etag> unless it is there. `onBytes(n)` reports bytes as they are
 * written (including, once, those found in a partial file from an earlier run).
 */
export async function downloadBlob(
  cache: RepoCache,
  info: HubFileInfo,
  where: string,
  opts: HubRequestOptions & { onBytes?: (n: number) => void; say?: (msg: string) => void },
): Promise<string> {
  const blob = cache.blob(info.etag);
  if (existsSync(blob)) return blob;
  await mkdir(dirname(blob), { recursive: true });
  const release = await lock(cache.lock(info.etag), opts.say ?? (() => undefined));
  try {
    if (existsSync(blob)) return blob;
    const part = `${blob}.incomplete`;
    let have = await stat(part).then((s) => s.size, () => 0);
    if (have > info.size) {
      await truncate(part, 0);
      have = 0;
    }
    const sink: { hash?: Hash } = { hash: SHA256.test(info.etag) ? createHash('sha256') : undefined };
    if (sink.hash) await hashPrefix(part, have, sink.hash);
    opts.onBytes?.(have);
    // The token goes only to the Hub's own host: a CDN address is signed (huggingface_hub's rule).
    const sameHost = new URL(info.location).host === new URL(opts.endpoint).host;
    const token = sameHost ? opts.token : undefined;
    let retries = opts.retries ?? 5;
    while (have < info.size) {
      const before = have;
      let cause = 'the response ended early';
      try {
        have = await getRange(info, where, part, have, token, opts, sink, (n) => opts.onBytes?.(n));
      } catch (e) {
        if (e instanceof HubError || isAbort(e)) throw e;
        cause = causeOf(e);
        // Each chunk is hashed only after its write completed, so the hash covers exactly these bytes.
        have = await stat(part).then((s) => s.size, () => 0);
      }
      if (have < info.size) {
        // A response that ends short (or brings nothing) counts as a drop too, so this cannot loop forever.
        if (have > before) retries = opts.retries ?? 5;
        if (retries-- <= 0) {
          throw new HubError(where, info.path, `download interrupted at ${have} of ${info.size} bytes (${cause}); run again to resume from ${part}`);
        }
        await sleep(opts.retryDelayMs ?? 1000);
      }
    }
    if (sink.hash) {
      const got = sink.hash.digest('hex');
      if (got !== info.etag) {
        await rm(part, { force: true });
        throw new HubError(
          where,
          info.path,
          `sha256 mismatch: the Hub's LFS pointer says ${info.etag}, the ${info.size} bytes received hash to ${got}. The partial file was deleted; run again (if it persists, the repository's LFS object is corrupt).`,
        );
      }
    }
    await rename(part, blob);
    return blob;
  } finally {
    await release();
  }
}

/** One GET from `have` to the end, appended to `part` (and to `sink.hash`); returns the new size of `part`. */
async function getRange(
  info: HubFileInfo,
  where: string,
  part: string,
  have: number,
  token: string | undefined,
  opts: HubRequestOptions,
  sink: { hash?: Hash },
  onBytes: (n: number) => void,
): Promise<number> {
  const res = await fetch(info.location, { headers: headers(token, have > 0 ? { Range: `bytes=${have}-` } : {}), signal: opts.signal });
  if (!res.ok) {
    await res.body?.cancel();
    throw hubResponseError(res, where, info.path, token !== undefined);
  }
  let size = 0;
  if (res.status === 206) {
    size = Number(/^bytes (\d+)-/.exec(res.headers.get('Content-Range') ?? '')?.[1] ?? NaN);
    if (size !== have) {
      await res.body?.cancel();
      throw new HubError(where, info.path, `asked for bytes from ${have}, the server sent the range ${res.headers.get('Content-Range')}`);
    }
  } else if (have > 0) {
    // A server that ignores Range sends the whole file again: start over (huggingface_hub does too).
    if (sink.hash) sink.hash = createHash('sha256');
    onBytes(-have);
  }
  const fh = await open(part, size > 0 ? 'a' : 'w');
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (size + chunk.length > info.size) throw new HubError(where, info.path, `the server sent more than the ${info.size} bytes the Hub announced`);
      // A full disk is not a network hiccup: no reconnecting, say where.
      const { bytesWritten } = await fh.write(chunk).catch((e: Error) => {
        throw new HubError(where, info.path, `cannot write ${part}: ${e.message}`);
      });
      if (bytesWritten !== chunk.length) throw new HubError(where, info.path, `cannot write ${part}: ${bytesWritten} of ${chunk.length} bytes written (disk full?)`);
      sink.hash?.update(chunk);
      size += chunk.length;
      onBytes(chunk.length);
    }
  } finally {
    await fh.close();
  }
  return size;
}

/** snapshots/<commit>/<path> → the blob, as a relative symlink (the cache folder can move). */
export async function linkPointer(cache: RepoCache, commit: string, path: string, blob: string): Promise<string> {
  const pointer = cache.pointer(commit, path);
  await mkdir(dirname(pointer), { recursive: true });
  const target = relative(dirname(pointer), blob);
  const existing = await lstat(pointer).catch(() => undefined);
  if (existing) await rm(pointer, { force: true });
  try {
    await symlink(target, pointer);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return pointer;
    // No symlinks here (Windows without developer mode, some network filesystems): a copy, as huggingface_hub falls back to.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    await copyFile(blob, pointer);
  }
  return pointer;
}

/** refs/<revision> ← commit, when the revision is a branch or tag. */
export async function writeRef(cache: RepoCache, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const ref = cache.ref(revision);
  if ((await readFile(ref, 'utf8').catch(() => '')) === commit) return;
  await mkdir(dirname(ref), { recursive: true });
  await writeFile(ref, commit);
}

/** Records that `path` is not in `commit`, so a later offline run knows not to look for it. */
export async function markMissing(cache: RepoCache, commit: string, path: string): Promise<void> {
  const file = cache.noExist(commit, path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, '');
}
