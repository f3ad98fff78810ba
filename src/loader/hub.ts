// Hugging Face Hub names, URLs and errors, shared by the Node cache/downloader (node/hub-*.ts) and
// the browser's Hub source (browser/hub-source.ts). Browser-safe: no Node imports.
//
// The rules follow huggingface_hub: a file is `{endpoint}/{repo_id}/resolve/{revision}/{path}` with
// the revision percent-encoded as one segment (so "refs/pr/1" stays one), the endpoint from
// HF_ENDPOINT (default https://huggingface.co), and repo ids validated like validate_repo_id.

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

/** A commit hash, which names a snapshot folder and needs no refs/ lookup. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;
/** An LFS file's etag is the sha256 of its content. */
export const SHA256 = /^[0-9a-f]{64}$/;

// huggingface_hub's validate_repo_id: "name" or "namespace/name", word characters, '-' and '.',
// not starting or ending with '-' or '.', no "--" or "..", at most 96 characters.
const REPO_ID = /^(?:[\w.-]+\/)?[\w.-]+$/;

export interface RepoRef {
  repoId: string;
  revision: string;
}

/** True when `s` is a valid Hub repo id (`org/name` or `name`), optionally with `@revision`. */
export function isRepoId(s: string): boolean {
  return parseRepoRef(s) !== undefined;
}

/** `org/name` or `org/name@revision` → its parts, or undefined when it is not a valid repo id. */
export function parseRepoRef(s: string): RepoRef | undefined {
  const at = s.indexOf('@');
  const repoId = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? DEFAULT_REVISION : s.slice(at + 1);
  if (!REPO_ID.test(repoId) || repoId.length > 96 || repoId.includes('--') || repoId.includes('..')) return undefined;
  if (repoId.split('/').some((part) => /^[-.]|[-.]$/.test(part))) return undefined;
  if (revision === '' || /[\s\\]/.test(revision) || revision.split('/').some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return { repoId, revision };
}

/** The Hub endpoint without a trailing slash (HF_ENDPOINT's rule). */
export function normalizeEndpoint(endpoint: string | undefined): string {
  return (endpoint || DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** Refuses paths that could climb out of a snapshot folder (a shard name comes from an index file). */
export function checkRepoPath(path: string, where: string): void {
  const segments = path.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\'))) {
    throw new HubError(where, path, `not a file path inside the repository (${JSON.stringify(path)})`);
  }
}

/** `{endpoint}/{repo}/resolve/{revision}/{path}`; the file path keeps its slashes, each segment encoded. */
export function resolveUrl(endpoint: string, repoId: string, revision: string, path = ''): string {
  const file = path.split('/').map(encodeURIComponent).join('/');
  return `${normalizeEndpoint(endpoint)}/${repoId}/resolve/${encodeURIComponent(revision)}/${file}`;
}

/**
 * A Hub web address → repo and revision: `https://huggingface.co/org/name`, `…/tree/REV`,
 * `…/resolve/REV/` or `…/blob/REV/…`. The endpoint is the address's origin (plus any path before
 * the repo, for a Hub mirror under a prefix, when `endpoint` says so).
 */
export function parseHubUrl(url: string, endpoint?: string): RepoRef & { endpoint: string } {
  const u = new URL(url);
  const base = endpoint && url.startsWith(normalizeEndpoint(endpoint) + '/') ? normalizeEndpoint(endpoint) : u.origin;
  const rest = decodeURIComponent(url.slice(base.length).replace(/[?#].*$/, ''))
    .split('/')
    .filter((s) => s !== '');
  const kind = rest.findIndex((s) => s === 'resolve' || s === 'tree' || s === 'blob');
  const repoParts = kind < 0 ? rest : rest.slice(0, kind);
  const revision = kind < 0 ? DEFAULT_REVISION : rest[kind + 1];
  const ref = revision === undefined ? undefined : parseRepoRef(`${repoParts.join('/')}@${revision}`);
  if (!ref || repoParts.length === 0 || repoParts.length > 2) {
    throw new HubError(url, '', 'not a Hub repository address (expected https://huggingface.co/ORG/NAME, optionally …/tree/REVISION)');
  }
  return { ...ref, endpoint: base };
}

/**
 * A problem fetching a repository file: `where` is `repo@revision`, `file` the path in the repo.
 * The message is `where/file: problem` (or `where: problem` for the repository as a whole).
 */
export class HubError extends Error {
  override name = 'HubError';
  constructor(
    readonly where: string,
    readonly file: string,
    readonly problem: string,
    readonly status?: number,
  ) {
    super(`${file ? `${where}/${file}` : where}: ${problem}`);
  }
}

/**
 * The error for a failed Hub response, worded for what the user has to do. The Hub says why in
 * X-Error-Code (GatedRepo, RepoNotFound, RevisionNotFound, EntryNotFound) and answers 401 both
 * for gated/private repos without a token and for repos that do not exist.
 */
export function hubResponseError(res: { status: number; headers: { get(name: string): string | null } }, where: string, file: string, hadToken: boolean): HubError {
  const code = res.headers.get('X-Error-Code');
  const message = res.headers.get('X-Error-Message');
  const detail = message ? ` (the Hub says: ${message})` : '';
  const status = res.status;
  let problem: string;
  if (code === 'GatedRepo' || ((status === 401 || status === 403) && code !== 'RepoNotFound' && code !== 'EntryNotFound' && code !== 'RevisionNotFound')) {
    problem = hadToken
      ? `HTTP ${status}: access refused with the token given${detail}. For a gated repository (PaliGemma is one), accept its license on the model's Hub page with the account the token belongs to, and check the token can read gated repositories.`
      : `HTTP ${status}: this repository is gated or private and no token was sent${detail}. Accept the license on the model's Hub page, then set HF_TOKEN to an access token of that account (or log in with \`hf auth login\`).`;
  } else if (code === 'RepoNotFound') {
    problem = `HTTP ${status}: no such repository${hadToken ? '' : ' (or it is private or gated: set HF_TOKEN)'}${detail}`;
  } else if (code === 'RevisionNotFound') {
    problem = `HTTP ${status}: the repository has no revision named here${detail}`;
  } else if (status === 404) {
    problem = `HTTP 404: the repository has no such file at this revision${detail}`;
  } else if (status === 416) {
    problem = `HTTP 416: the server refused the byte range asked for${detail}`;
  } else {
    problem = `HTTP ${status}${detail}`;
  }
  return new HubError(where, file, problem, status);
}

/** True for a 404 that means "this file is not in the repository" (not a missing repo or revision). */
export function isMissingEntry(e: unknown): boolean {
  return e instanceof HubError && e.status === 404 && !/no such repository|no revision/.test(e.problem);
}
