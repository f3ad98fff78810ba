// A model straight from the Hugging Face Hub in the browser: an HttpFileSource over
// `{endpoint}/{repo}/resolve/{commit}/`, so every read is a Range request that the Hub redirects to
// its CDN (fetch drops the Authorization header on that cross-origin redirect, as the Fetch
// standard requires). Nothing is cached here beyond what the browser's HTTP cache does.

import { HubError, hubResponseError, normalizeEndpoint, parseHubUrl, parseRepoRef, resolveUrl } from '../loader/hub.js';
import { HttpFileSource } from './http-source.js';

export interface HubSourceOptions {
  /** Branch, tag or commit (default: from the id or address, else "main"). */
  revision?: string;
  /** Default https://huggingface.co (or the address's origin). */
  endpoint?: string;
  /** An access token, for gated or private repositories (PaliGemma is gated). */
  token?: string;
  signal?: AbortSignal;
}

/**
 * `ORG/NAME`, `ORG/NAME@REVISION` or a Hub address (`https://huggingface.co/ORG/NAME/tree/REV`) →
 * a FileSource for loadCheckpoint. The revision is pinned to the commit the Hub names for it
 * (X-Repo-Commit, which the Hub exposes to pages), so a push during a load cannot mix versions.
 */
export async function hubFileSource(model: string, opts: HubSourceOptions = {}): Promise<HttpFileSource> {
  const parsed = /^https?:\/\//i.test(model) ? parseHubUrl(model, opts.endpoint) : parseRepoRef(model);
  if (!parsed) throw new HubError(model, '', 'not a Hugging Face model id (ORG/NAME or ORG/NAME@REVISION) or Hub address');
  const endpoint = normalizeEndpoint(opts.endpoint ?? ('endpoint' in parsed ? (parsed.endpoint as string) : undefined));
  const revision = opts.revision ?? parsed.revision;
  const where = `${parsed.repoId}@${revision}`;
  const headers = opts.token ? { Authorization: `Bearer ${opts.token}` } : undefined;
  const hadToken = opts.token !== undefined;

  let res: Response;
  try {
    res = await fetch(resolveUrl(endpoint, parsed.repoId, revision, 'config.json'), { method: 'HEAD', headers, signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new HubError(where, 'config.json', `cannot reach ${endpoint} (${(e as Error).message})`);
  }
  if (!res.ok) throw hubResponseError(res, where, 'config.json', hadToken);
  const commit = res.headers.get('X-Repo-Commit') ?? revision;
  const pinned = `${parsed.repoId}@${commit}`;
  return new HttpFileSource(resolveUrl(endpoint, parsed.repoId, commit), {
    name: where,
    headers,
    signal: opts.signal,
    httpError: (r, path) => hubResponseError(r, pinned, path, hadToken),
  });
}
