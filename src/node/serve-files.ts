// Read-only static files for the playground server: a URL path is turned into a file strictly
// inside one folder, and files are sent whole or as one byte range (the browser loader reads
// checkpoints in Range chunks).

import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * The real path of the file that `rawPath` (still percent-encoded, relative to `root`) names.
 * Segments are decoded one by one, so an encoded slash can never create a new segment; '.', '..',
 * empty segments (absolute paths, '//') and backslashes are refused outright rather than
 * normalised, and the resolved path (symlinks followed) must still lie inside the folder, or
 * inside `linked` (a Hugging Face cache snapshot's files are symlinks into the repository's blobs/).
 * `root` and `linked` must themselves be real paths.
 */
export async function resolveInside(root: string, rawPath: string, linked?: string): Promise<string> {
  const segments = rawPath.split('/').map((s) => {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      throw new HttpError(400, 'bad percent-encoding in path');
    }
    if (d === '' || d === '.' || d === '..' || /[/\\\0]/.test(d)) throw new HttpError(403, 'path not allowed');
    return d;
  });
  let full: string;
  try {
    full = await realpath(join(root, ...segments));
  } catch {
    throw new HttpError(404, 'not found');
  }
  if (!full.startsWith(root + sep) && !(linked && full.startsWith(linked + sep))) throw new HttpError(403, 'path leads outside the served folder');
  return full;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

/** One `bytes=` range of a file of `size` bytes, or null to send the whole file (no or multi-range header). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // A server may ignore a Range it does not handle (RFC 9110 §14.2); multi-range is not worth it.
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) throw new HttpError(416, `range not satisfiable (file has ${size} bytes)`);
  return { start, end };
}

/** Sends a file (already resolved with resolveInside), honouring a single byte range. */
export async function sendFile(res: ServerResponse, file: string, rangeHeader: string | undefined): Promise<void> {
  const st = await stat(file);
  if (!st.isFile()) throw new HttpError(404, 'not found');
  let range: { start: number; end: number } | null;
  try {
    range = parseRange(rangeHeader, st.size);
  } catch (e) {
    res.setHeader('Content-Range', `bytes */${st.size}`);
    throw e;
  }
  res.setHeader('Content-Type', TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
  res.setHeader('Accept-Ranges', 'bytes');
  const start = range?.start ?? 0;
  const end = range?.end ?? st.size - 1;
  if (range) {
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${start}-${end}/${st.size}`);
  }
  res.setHeader('Content-Length', Math.max(0, end - start + 1));
  if (st.size === 0) {
    res.end();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file, { start, end });
    stream.on('error', reject);
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
}
