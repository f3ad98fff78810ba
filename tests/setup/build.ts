// Once before any test file: the build, so that the CLI, page and package tests (which run dist/)
// test the sources as they are, and no file rebuilds dist/ while another reads it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

export default async function setup(): Promise<void> {
  const root = join(import.meta.dirname, '..', '..');
  try {
    await promisify(execFile)(process.execPath, ['build.mjs'], { cwd: root, maxBuffer: 1 << 26 });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`node build.mjs failed before the tests:\n${stdout ?? ''}${stderr ?? String(e)}`);
  }
}
