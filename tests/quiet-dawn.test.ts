// Dawn's limit warnings are dropped from what adapter discovery writes to fd 2, and only those: the
// C-level writes are stood in for by fs.writeSync(2, …), which goes where fprintf(stderr) goes.
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { filterDawnStderr, withoutLimitWarnings } from '../src/node/quiet-dawn.js';

const UNIFORM = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';
const STORAGE = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 500000 to 16 to fit dynamic offset allocation limit.\n';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'test-output');

describe('Dawn limit warnings', () => {
  it('drops exactly the two lines', () => {
    expect(withoutLimitWarnings(`${UNIFORM}WARNING: lavapipe is not a conformant vulkan implementation\n${STORAGE}`)).toBe('WARNING: lavapipe is not a conformant vulkan implementation\n');
    expect(withoutLimitWarnings(`x ${UNIFORM}`)).toBe(`x ${UNIFORM}`);
    expect(withoutLimitWarnings('Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced (other)\n')).not.toBe('');
  });

  // In a Node child with piped stdio (vitest's worker included) fd 2 is a socket, which /dev/fd cannot
  // reopen, so there the filter stands aside: this runs in a process whose stderr is a file.
  it('catches what is written to fd 2 during the request, writes the rest back, and puts fd 2 back; real Dawn discovery prints neither line', async () => {
    const harness = `
      import { fstatSync, writeSync } from 'node:fs';
      import { filterDawnStderr } from './src/node/quiet-dawn.ts';
      import { requestGpu } from './src/node/gpu.ts';
      const before = fstatSync(2).ino;
      const v = await filterDawnStderr(async () => {
        writeSync(2, ${JSON.stringify(UNIFORM)});
        await new Promise((r) => setTimeout(r, 5));
        writeSync(2, 'Vulkan says hello\\n' + ${JSON.stringify(STORAGE)});
        return 42;
      });
      await filterDawnStderr(() => Promise.reject(new Error('no adapter'))).catch((e) => writeSync(2, e.message + '\\n'));
      await requestGpu();
      process.stderr.write('after ' + v + ' ' + (fstatSync(2).ino === before) + '\\n');
      process.exit(0);`;
    await mkdir(OUT, { recursive: true });
    const script = join(OUT, 'quiet-dawn-harness.mjs');
    await build({ stdin: { contents: harness, resolveDir: ROOT, loader: 'ts' }, bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: script, logLevel: 'error' });
    const err = join(OUT, 'quiet-dawn-stderr.txt');
    await run('sh', ['-c', `"${process.execPath}" "${script}" 2>"${err}"`], { cwd: ROOT });
    const lines = (await readFile(err, 'utf8')).split('\n');
    expect(lines.filter((l) => /artificially reduced/.test(l))).toEqual([]);
    expect(lines.filter((l) => /hello|adapter|after/.test(l))).toEqual(['Vulkan says hello', 'no adapter', 'after 42 true']);
  });
});
