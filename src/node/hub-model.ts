// A PaliGemma repository on the Hub → a snapshot folder in the Hugging Face cache holding what the
// loader reads: config.json, the optional preprocessor_config.json, generation_config.json and
// tokenizer.json, and model.safetensors or model.safetensors.index.json plus every shard it names.
// Files already cached are used as they are; missing ones are downloaded (hub-download.ts).

import { existsSync } from 'node:fs';
import { mkdir, readFile, statfs } from 'node:fs/promises';
import { checkRepoPath, COMMIT_HASH, HubError, isMissingEntry, isRepoId, parseRepoRef, resolveUrl } from '../loader/hub.js';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken, RepoCache } from './hub-cache.js';
import { downloadBlob, headFile, HubUnreachableError, linkPointer, markMissing, writeRef, type HubFileInfo, type HubRequestOptions } from './hub-download.js';

export const CONFIG_FILE = 'config.json';
/** Read when present; the loader has defaults (or, for the tokenizer, the Gemma tokenizer) without them. */
export const OPTIONAL_FILES = ['preprocessor_config.json', 'generation_config.json', 'tokenizer.json'] as const;
export const SINGLE_WEIGHTS = 'model.safetensors';
export const WEIGHTS_INDEX = 'model.safetensors.index.json';

export interface HubDownloadProgress {
  /** The file being downloaded. */
  file: string;
  /** Bytes of all the files this call downloads, done so far and in all. */
  bytesDone: number;
  bytesTotal: number;
}

export interface HubOptions {
  /** Branch, tag or commit (default: after '@' in the id, else "main"). */
  revision?: string;
  /** Default: HF_HUB_CACHE / HF_HOME as huggingface_hub. */
  cacheDir?: string;
  /** Default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN or the saved token file; false sends none. */
  token?: string | false;
  /** Use only the cache (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  onProgress?: (p: HubDownloadProgress) => void;
  /** Notes for the user (using the cache because the Hub is unreachable, waiting for a lock). Default: console.warn. */
  onWarning?: (message: string) => void;
  retries?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/** The weight files of a snapshot that has config.json, or undefined when something is missing. */
async function cachedWeights(cache: RepoCache, commit: string): Promise<string[] | undefined> {
  if (cache.has(commit, SINGLE_WEIGHTS)) return [SINGLE_WEIGHTS];
  if (!cache.has(commit, WEIGHTS_INDEX)) return undefined;
  const shards = shardNames(await readFile(cache.pointer(commit, WEIGHTS_INDEX), 'utf8'), `${cache.repoId}@${commit}`);
  return shards.every((s) => cache.has(commit, s)) ? [WEIGHTS_INDEX, ...shards] : undefined;
}

/** The shard files an index names, each once, checked to stay inside the repository. */
function shardNames(text: string, where: string): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(text) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new HubError(where, WEIGHTS_INDEX, `not JSON (${(e as Error).message})`);
  }
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new HubError(where, WEIGHTS_INDEX, 'has no weight_map object');
  const names = [...new Set(Object.values(map))];
  for (const n of names) {
    if (typeof n !== 'string') throw new HubError(where, WEIGHTS_INDEX, `weight_map has a non-string shard name ${JSON.stringify(n)}`);
    checkRepoPath(n, where);
  }
  return (names as string[]).sort();
}

/**
 * The cached snapshot of `revision` when it holds everything the loader reads: config.json and the
 * weights, and each optional file either cached or recorded as absent (when `strict`).
 */
async function completeSnapshot(cache: RepoCache, revision: string, strict: boolean): Promise<string | undefined> {
  const commit = cache.commitOf(revision);
  if (!commit || !cache.has(commit, CONFIG_FILE) || !(await cachedWeights(cache, commit))) return undefined;
  if (strict && !OPTIONAL_FILES.every((f) => cache.has(commit, f) || cache.knownMissing(commit, f))) return undefined;
  return cache.snapshot(commit);
}

/** True when `pathOrId` is no path on disk but has the form of a Hub model id. */
export function isHubModel(pathOrId: string): boolean {
  return !existsSync(pathOrId) && isRepoId(pathOrId);
}

/**
 * A folder on disk, or when no such folder exists, a Hugging Face model id (`ORG/NAME[@REVISION]`),
 * found in the Hugging Face cache or downloaded into it.
 */
export async function modelFolder(pathOrId: string, hub?: HubOptions): Promise<string> {
  if (!isHubModel(pathOrId)) return pathOrId;
  return resolveHubModel(pathOrId, hub).catch((e) => {
    // A mistyped folder name looks like a repo id too: say both places were tried.
    if (e instanceof HubError && /no such repository/.test(e.problem)) throw new HubError(e.where, e.file, `${e.problem}; there is no folder "${pathOrId}" on disk either`, e.status);
    throw e;
  });
}

/**
 * The local folder (a snapshot in the Hugging Face cache) of a Hub model, downloading what is
 * missing. `model` is `ORG/NAME` or `ORG/NAME@REVISION`.
 */
export async function resolveHubModel(model: string, opts: HubOptions = {}): Promise<string> {
  const ref = parseRepoRef(model);
  if (!ref) throw new HubError(model, '', 'not a Hugging Face model id (ORG/NAME or ORG/NAME@REVISION)');
  const revision = opts.revision ?? ref.revision;
  const where = `${ref.repoId}@${revision}`;
  const cache = new RepoCache(opts.cacheDir ?? hubCacheDir(), ref.repoId);
  const warn = opts.onWarning ?? ((m: string) => console.warn(`warning: ${m}`));

  if (opts.offline ?? hubOffline()) {
    const dir = await completeSnapshot(cache, revision, false);
    if (dir) return dir;
    const commit = cache.commitOf(revision);
    throw new HubError(
      where,
      '',
      `offline (HF_HUB_OFFLINE is set) and the cache has no complete copy of it: ` +
        (commit ? `snapshot ${cache.snapshot(commit)} lacks config.json or weight files` : `nothing under ${cache.root}${COMMIT_HASH.test(revision) ? '' : ` for revision "${revision}"`}`) +
        '. Run once with network access to download it.',
    );
  }
  // A commit is immutable: when everything is cached, no request is needed.
  if (COMMIT_HASH.test(revision)) {
    const dir = await completeSnapshot(cache, revision, true);
    if (dir) return dir;
  }

  const endpoint = opts.endpoint ?? hubEndpoint();
  const token = opts.token === false ? undefined : (opts.token ?? hubToken());
  const req: HubRequestOptions = { endpoint, token, retries: opts.retries, retryDelayMs: opts.retryDelayMs, signal: opts.signal };

  let config: HubFileInfo;
  try {
    config = await headFile(ref.repoId, revision, CONFIG_FILE, req);
  } catch (e) {
    // As huggingface_hub: when the Hub cannot answer (no network, refused, down), a cached copy
    // serves; a revision or file the Hub says does not exist is an error all the same.
    if (!(e instanceof HubError) || (e.status === 404 && !/no such repository/.test(e.problem))) throw e;
    const dir = await completeSnapshot(cache, revision, false);
    if (!dir) throw e instanceof HubUnreachableError ? new HubError(where, '', `${e.problem}, and the cache (${cache.root}) has no complete copy of it`) : e;
    warn(`${e.message}; using the cached snapshot ${dir}`);
    return dir;
  }
  const commit = config.commit;
  const pinned = `${ref.repoId}@${commit}`;
  await writeRef(cache, revision, commit);
  // config.json's bytes, too, from the commit rather than the branch (a CDN address is already fixed).
  if (config.location === resolveUrl(endpoint, ref.repoId, revision, CONFIG_FILE)) config.location = resolveUrl(endpoint, ref.repoId, commit, CONFIG_FILE);

  // Every other file at the commit config.json came from, so a push in between cannot mix versions.
  const head = async (path: string, optional: boolean): Promise<HubFileInfo | undefined> => {
    if (optional && cache.knownMissing(commit, path)) return undefined;
    try {
      return await headFile(ref.repoId, commit, path, req);
    } catch (e) {
      if (!optional || !isMissingEntry(e)) throw e;
      await markMissing(cache, commit, path);
      return undefined;
    }
  };
  const files: HubFileInfo[] = [config];
  for (const f of OPTIONAL_FILES) {
    const info = await head(f, true);
    if (info) files.push(info);
  }
  const single = await head(SINGLE_WEIGHTS, true);
  if (single) files.push(single);
  else {
    const index = await head(WEIGHTS_INDEX, true);
    if (!index) {
      throw new HubError(pinned, '', `has neither ${SINGLE_WEIGHTS} nor ${WEIGHTS_INDEX} (only safetensors weights can be read; a pytorch_model.bin repository is not supported)`);
    }
    // The index is small: fetched before the weights, outside the progress the caller sees.
    await fetchFiles(cache, commit, pinned, [index], req, { ...opts, onProgress: undefined }, warn);
    const shards = shardNames(await readFile(cache.pointer(commit, WEIGHTS_INDEX), 'utf8'), pinned);
    for (const s of shards) files.push((await head(s, false))!);
  }
  await fetchFiles(cache, commit, pinned, files, req, opts, warn);
  return cache.snapshot(commit);
}

/** Downloads the files not yet in the snapshot (progress over all of them) and links each into it. */
async function fetchFiles(
  cache: RepoCache,
  commit: string,
  where: string,
  files: HubFileInfo[],
  req: HubRequestOptions,
  opts: HubOptions,
  warn: (m: string) => void,
): Promise<void> {
  const pending = files.filter((f) => !cache.has(commit, f.path));
  const bytesTotal = pending.reduce((n, f) => n + (existsSync(cache.blob(f.etag)) ? 0 : f.size), 0);
  await mkdir(cache.root, { recursive: true });
  const free = await statfs(cache.root).then((s) => s.bavail * s.bsize, () => Infinity);
  if (bytesTotal > free) warn(`${where}: the download needs ${(bytesTotal / 1e9).toFixed(2)} GB and ${cache.cacheDir} has ${(free / 1e9).toFixed(2)} GB free (set HF_HUB_CACHE to put the cache elsewhere)`);
  let bytesDone = 0;
  for (const f of pending) {
    const blob = await downloadBlob(cache, f, where, {
      ...req,
      say: warn,
      onBytes: (n) => {
        bytesDone += n;
        opts.onProgress?.({ file: f.path, bytesDone, bytesTotal });
      },
    });
    await linkPointer(cache, commit, f.path, blob);
  }
}
