// A local server that answers like the Hugging Face Hub, for the Hub cache/download tests:
//   HEAD|GET /ORG/NAME/resolve/REV/PATH   X-Repo-Commit; small files: 200 with ETag = git blob sha1;
//                                         LFS files (*.safetensors): 302 to the CDN with
//                                         X-Linked-Etag = sha256 and X-Linked-Size
//   GET /cdn/SHA256                       the LFS object, on another port (another host for the client)
// Errors as the Hub sends them: 401 + X-Error-Code GatedRepo (gated repo, no or wrong token),
// 401 RepoNotFound, 404 RevisionNotFound, 404 EntryNotFound. Range requests are honoured (one range).
// CORS as the Hub and its CDN answer pages (any origin, Authorization and Range allowed, the Hub's
// headers exposed), so a browser can load from it. Every request is logged (path, Range, whether
// Authorization was sent) for the tests to inspect.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { HttpError, parseRange } from '../../src/node/serve-files.js';

export interface HubRepo {
  files: Map<string, Uint8Array>;
  commit: string;
  /** Branch or tag name → commit (the commit itself always resolves). */
  refs: Record<string, string>;
  /** Requests need `Authorization: Bearer <token>`. */
  gatedToken?: string;
  /** The sha256 the LFS pointer claims, when it should differ from the content's. */
  lfsShaOverride?: Map<string, string>;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export interface HubServer {
  url: string;
  cdnUrl: string;
  repos: Map<string, HubRepo>;
  log: LoggedRequest[];
  /** The CDN sends this many bytes of an object, then drops the connection (once per entry). */
  cutOnce: Map<string, number>;
  /** The CDN sends this many bytes of an object without a Content-Length and ends the response cleanly (once per entry). */
  shortOnce: Map<string, number>;
  /** The CDN ends every response cleanly after this many bytes (a broken server). */
  shortAlways?: number;
  /** The CDN answers Range requests with the whole file (200). */
  ignoreRange: boolean;
  close(): Promise<void>;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const isLfs = (path: string) => path.endsWith('.safetensors');

function send(res: ServerResponse, req: IncomingMessage, bytes: Uint8Array, rangeHeader: string | undefined, cutAt?: number, shortAt?: number): void {
  let range = null;
  try {
    range = parseRange(rangeHeader, bytes.length);
  } catch (e) {
    res.writeHead((e as HttpError).status, { 'Content-Range': `bytes */${bytes.length}` }).end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? bytes.length - 1;
  res.setHeader('Accept-Ranges', 'bytes');
  // Chunked, so ending early is a well-formed (short) response rather than a broken connection.
  if (shortAt === undefined) res.setHeader('Content-Length', end - start + 1);
  if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${bytes.length}`);
  res.writeHead(range ? 206 : 200);
  if (req.method === 'HEAD') return void res.end();
  if (cutAt !== undefined && cutAt < end - start + 1) {
    // Half the body, then the socket goes: the client sees a connection closed before Content-Length.
    res.write(bytes.subarray(start, start + cutAt), () => res.socket?.destroy());
    return;
  }
  res.end(bytes.subarray(start, shortAt === undefined ? end + 1 : Math.min(end + 1, start + shortAt)));
}

const EXPOSED = 'X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag';

/** CORS headers on every answer; true when the request was a preflight (answered here). */
function cors(req: IncomingMessage, res: ServerResponse): boolean {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', EXPOSED);
  if (req.method !== 'OPTIONS') return false;
  res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Allow-Headers': 'authorization, range, content-type', 'Access-Control-Max-Age': '600' }).end();
  return true;
}

function error(res: ServerResponse, status: number, code: string, message: string, commit?: string): void {
  res.writeHead(status, { 'X-Error-Code': code, 'X-Error-Message': message, ...(commit ? { 'X-Repo-Commit': commit } : {}) });
  res.end(message);
}

export async function startHubServer(): Promise<HubServer> {
  const state = { repos: new Map<string, HubRepo>(), log: [] as LoggedRequest[], cutOnce: new Map<string, number>(), shortOnce: new Map<string, number>(), shortAlways: undefined as number | undefined, ignoreRange: false };
  const objects = new Map<string, Uint8Array>();
  const listen = async (s: Server) => {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
  };
  const logged = (server: 'hub' | 'cdn', req: IncomingMessage) =>
    state.log.push({ server, method: req.method!, path: req.url!, range: req.headers.range, authorization: req.headers.authorization });

  const cdn = createServer((req, res) => {
    logged('cdn', req);
    if (cors(req, res)) return;
    const sha = /^\/cdn\/([0-9a-f]{64})/.exec(req.url!)?.[1];
    const bytes = sha && objects.get(sha);
    if (!bytes) return void res.writeHead(404).end();
    const [cut, short] = [state.cutOnce.get(sha), state.shortOnce.get(sha) ?? state.shortAlways];
    state.cutOnce.delete(sha);
    state.shortOnce.delete(sha);
    send(res, req, bytes, state.ignoreRange ? undefined : req.headers.range, cut, short);
  });
  const cdnUrl = await listen(cdn);

  const hub = createServer((req, res) => {
    logged('hub', req);
    if (cors(req, res)) return;
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url!.split('?')[0]!);
    if (!m) return error(res, 404, 'RepoNotFound', 'not a resolve/ path');
    const [, repoId, rawRev, rawPath] = m;
    const repo = state.repos.get(repoId!);
    if (!repo) return error(res, 401, 'RepoNotFound', 'Repository not found');
    if (repo.gatedToken !== undefined && req.headers.authorization !== `Bearer ${repo.gatedToken}`) {
      return error(res, 401, 'GatedRepo', `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    }
    const rev = decodeURIComponent(rawRev!);
    const commit = rev === repo.commit ? rev : repo.refs[rev];
    if (!commit) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const path = rawPath!.split('/').map(decodeURIComponent).join('/');
    const bytes = repo.files.get(path);
    if (!bytes) return error(res, 404, 'EntryNotFound', `${path} does not exist on "${rev}"`, commit);
    res.setHeader('X-Repo-Commit', commit);
    if (isLfs(path)) {
      const sha = sha256(bytes);
      objects.set(sha, bytes);
      const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${bytes.length}\n`;
      res.writeHead(302, {
        Location: `${cdnUrl}/cdn/${sha}?X-Amz-Signature=test`,
        ETag: `"${gitSha1(new TextEncoder().encode(pointer))}"`,
        'X-Linked-Etag': `"${repo.lfsShaOverride?.get(path) ?? sha}"`,
        'X-Linked-Size': String(bytes.length),
        'Content-Length': '0',
      });
      return void res.end();
    }
    res.setHeader('ETag', `"${gitSha1(bytes)}"`);
    send(res, req, bytes, req.headers.range);
  });
  const url = await listen(hub);

  return Object.assign(state, {
    url,
    cdnUrl,
    close: async () => {
      for (const s of [hub, cdn]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  });
}
