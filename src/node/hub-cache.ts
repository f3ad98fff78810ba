// The Hugging Face cache on disk, in huggingface_hub's layout, so models downloaded by Python
// (transformers, `hf download`) are found and ours are found by Python:
//
//   $HF_HUB_CACHE/models--ORG--NAME/
//     blobs/<etag>                      file contents, named by etag (git sha1, or sha256 for LFS)
//     blobs/<etag>.incomplete           a download in progress (resumed with a Range request)
//     refs/<revision>                   the commit a branch or tag pointed at when last resolved
//     snapshots/<commit>/<path>         symlinks to ../../blobs/<etag>
//     .no_exist/<commit>/<path>         empty files: "this file is not in that commit"
//
// Settings come from the same environment variables: HF_HUB_CACHE (else HUGGINGFACE_HUB_CACHE, else
// $HF_HOME/hub with HF_HOME defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface),
// HF_ENDPOINT, HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), HF_TOKEN (else HUGGING_FACE_HUB_TOKEN, else
// the file $HF_TOKEN_PATH, default $HF_HOME/token, which `hf auth login` writes).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { COMMIT_HASH, normalizeEndpoint } from '../loader/hub.js';

type Env = Record<string, string | undefined>;

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

export function hfHome(env: Env = process.env): string {
  return expandHome(env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface'));
}

export function hubCacheDir(env: Env = process.env): string {
  return resolve(expandHome(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(hfHome(env), 'hub')));
}

export function hubEndpoint(env: Env = process.env): string {
  return normalizeEndpoint(env.HF_ENDPOINT);
}

const TRUE = new Set(['1', 'ON', 'YES', 'TRUE']);

export function hubOffline(env: Env = process.env): boolean {
  return TRUE.has((env.HF_HUB_OFFLINE || env.TRANSFORMERS_OFFLINE || '').toUpperCase());
}

/** The token to send, or undefined: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then the saved token file. */
export function hubToken(env: Env = process.env): string | undefined {
  const clean = (t: string | undefined) => t?.replace(/[\r\n]/g, '').trim() || undefined;
  const fromEnv = clean(env.HF_TOKEN) ?? clean(env.HUGGING_FACE_HUB_TOKEN);
  if (fromEnv) return fromEnv;
  const file = expandHome(env.HF_TOKEN_PATH || join(hfHome(env), 'token'));
  try {
    return clean(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** models--ORG--NAME (huggingface_hub's repo_folder_name for a model). */
export function repoFolderName(repoId: string): string {
  return ['models', ...repoId.split('/')].join('--');
}

export class RepoCache {
  readonly root: string;
  constructor(readonly cacheDir: string, readonly repoId: string) {
    this.root = join(cacheDir, repoFolderName(repoId));
  }

  blob(etag: string): string {
    return join(this.root, 'blobs', etag);
  }
  ref(revision: string): string {
    return join(this.root, 'refs', ...revision.split('/'));
  }
  snapshot(commit: string): string {
    return join(this.root, 'snapshots', commit);
  }
  pointer(commit: string, path: string): string {
    return join(this.snapshot(commit), ...path.split('/'));
  }
  noExist(commit: string, path: string): string {
    return join(this.root, '.no_exist', commit, ...path.split('/'));
  }
  lock(etag: string): string {
    return join(this.cacheDir, '.locks', repoFolderName(this.repoId), `${etag}.lock`);
  }

  /** The commit `revision` names: itself when it is a commit hash, else what refs/ recorded (or undefined). */
  commitOf(revision: string): string | undefined {
    if (COMMIT_HASH.test(revision)) return revision;
    try {
      const commit = readFileSync(this.ref(revision), 'utf8').trim();
      return COMMIT_HASH.test(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** True when the snapshot holds `path` as a readable file (a symlink whose blob exists). */
  has(commit: string, path: string): boolean {
    try {
      return statSync(this.pointer(commit, path)).isFile();
    } catch {
      return false;
    }
  }

  /** True when a previous lookup recorded that `path` is not in `commit`. */
  knownMissing(commit: string, path: string): boolean {
    return existsSync(this.noExist(commit, path));
  }
}
