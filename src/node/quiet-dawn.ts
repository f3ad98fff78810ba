// Dawn prints two lines on every run on lavapipe:
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from …
// They come from Dawn's limit normalisation while it discovers adapters (dawn::WarningLog, an
// fprintf to the C stderr with no switch or callback), from the driver's own limits, whatever limits
// the device is then requested with; they only say that Dawn caps dynamic-offset buffers per
// pipeline layout at 16 (this runtime binds one: the uniform arena's). So while requestAdapter discovers adapters, file descriptor 2 points at a
// temporary file, and what it caught is written back to stderr without those lines: every other
// message (Mesa's, Vulkan's, Dawn's) still shows. Node has no dup2: a descriptor opened right after
// closing 2 gets 2 (POSIX: the lowest free number), and /dev/fd/N reopens the original target.
// Where any step does not go as planned (no /dev/fd, stderr a socket), the request runs unfiltered.

import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The exact lines dropped (nothing else matches). */
export const DAWN_LIMIT_WARNING = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/** `text` without Dawn's limit warnings. */
export function withoutLimitWarnings(text: string): string {
  return text
    .split(/(?<=\n)/)
    .filter((line) => !DAWN_LIMIT_WARNING.test(line.replace(/\r?\n$/, '')))
    .join('');
}

/** Opens `path` on fd 2 (the lowest free descriptor after closing it); true when that is where it landed. */
function openAsStderr(path: string, flags: string): boolean {
  let fd = -1;
  try {
    fd = openSync(path, flags);
  } catch {
    return false;
  }
  if (fd === 2) return true;
  closeSync(fd);
  return false;
}

/** Runs `request` (an adapter request) with the C stderr caught, then writes back all but Dawn's limit warnings. */
export async function filterDawnStderr<T>(request: () => Promise<T>): Promise<T> {
  let original: number;
  try {
    original = openSync('/dev/fd/2', 'a');
  } catch {
    return request();
  }
  const file = join(tmpdir(), `paligemma-dawn-stderr-${process.pid}-${Date.now()}`);
  closeSync(2);
  const caught = openAsStderr(file, 'w+');
  if (!caught) openAsStderr(`/dev/fd/${original}`, 'a');
  try {
    return await request();
  } finally {
    if (caught) {
      closeSync(2);
      openAsStderr(`/dev/fd/${original}`, 'a');
      const text = withoutLimitWarnings(readFileSync(file, 'utf8'));
      if (text) process.stderr.write(text);
    }
    closeSync(original);
    rmSync(file, { force: true });
  }
}
