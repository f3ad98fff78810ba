// Bundles the library twice with esbuild: for Node (ESM, Dawn from npm `webgpu`) and for the
// browser (ESM, navigator.gpu; Node-only modules left out), plus the CLI and the playground page
// (dist/playground: index.html, app.js and a sample image, served by `paligemma playground`) and the
// kernel bench page (dist/bench-page).
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const run = promisify(execFile);

/** The package's subpath entries (package.json "exports"): kernels and graph are the same code for both, the loader reads disk in Node and picked files in the browser. */
const subpaths = (platform) => ({
  kernels: 'src/kernels/index.ts',
  graph: 'src/graph/index.ts',
  loader: `src/loader/index.${platform}.ts`,
});

/** Deletes the chunks of earlier builds from a split build's folder (they would pile up in the package). */
async function dropStale({ metafile }) {
  const outputs = new Set(Object.keys(metafile.outputs));
  const dir = Object.keys(metafile.outputs)[0].replace(/\/[^/]*$/, '');
  for (const f of await readdir(dir)) if (!outputs.has(`${dir}/${f}`)) await rm(`${dir}/${f}`);
}

// Type declarations for every entry (dist/types, the "types" conditions), incremental: a rebuild
// after a small change takes seconds. Type errors fail the build (they would reach the consumers).
async function declarations() {
  try {
    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json']);
  } catch (e) {
    throw new Error(`tsc -p tsconfig.build.json (the .d.ts files) failed:\n${e.stdout}${e.stderr}`);
  }
}

const common = { bundle: true, format: 'esm', sourcemap: true, logLevel: 'warning', target: 'es2022' };

// Settled together: a type error in the declarations still leaves the JavaScript built.
const settled = await Promise.allSettled([
  declarations(),
  build({
    ...common,
    platform: 'node',
    entryPoints: { index: 'src/index.node.ts', cli: 'src/cli/main.ts', ...subpaths('node') },
    outdir: 'dist/node',
    splitting: true,
    packages: 'external',
    metafile: true,
  }).then(dropStale),
  build({
    ...common,
    platform: 'browser',
    entryPoints: { index: 'src/index.browser.ts', ...subpaths('browser') },
    outdir: 'dist/browser',
    splitting: true,
    metafile: true,
  }).then(dropStale),
  build({
    ...common,
    platform: 'browser',
    entryPoints: { app: 'playground/app.ts' },
    outdir: 'dist/playground',
  }),
  mkdir('dist/playground', { recursive: true }).then(() =>
    Promise.all([copyFile('playground/index.html', 'dist/playground/index.html'), copyFile('examples/shapes.png', 'dist/playground/sample.png')]),
  ),
  // The kernel bench page (bench/page): static files that work from any host, also served by
  // `paligemma playground` under /bench/ and driven by `paligemma bench kernels --browser`.
  build({
    ...common,
    platform: 'browser',
    entryPoints: { app: 'bench/page/app.ts' },
    outdir: 'dist/bench-page',
  }),
  mkdir('dist/bench-page', { recursive: true }).then(() => copyFile('bench/page/index.html', 'dist/bench-page/index.html')),
]);
const failed = settled.filter((r) => r.status === 'rejected');
for (const r of failed) console.error(r.reason instanceof Error ? r.reason.message : r.reason);
if (failed.length) process.exit(1);

// What `npm pack` would publish (the "files" list), so that a stray file in it shows up at once.
const [pack] = JSON.parse((await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'])).stdout);
const mib = (n) => `${(n / 2 ** 20).toFixed(2)} MiB`;
console.log(`npm pack: ${pack.entryCount} files, ${mib(pack.size)} packed, ${mib(pack.unpackedSize)} unpacked`);
