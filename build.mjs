// Bundles the library twice with esbuild: for Node (ESM, Dawn from npm `webgpu`) and for the
// browser (ESM, navigator.gpu; Node-only modules left out), plus the CLI and the playground page
// (dist/playground: index.html, app.js and a sample image, served by `paligemma playground`).
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

const common = { bundle: true, format: 'esm', sourcemap: true, logLevel: 'warning', target: 'es2022' };

await Promise.all([
  build({
    ...common,
    platform: 'node',
    entryPoints: { index: 'src/index.node.ts', cli: 'src/cli/main.ts' },
    outdir: 'dist/node',
    splitting: true,
    packages: 'external',
  }),
  build({
    ...common,
    platform: 'browser',
    entryPoints: { index: 'src/index.browser.ts' },
    outdir: 'dist/browser',
  }),
  build({
    ...common,
    platform: 'browser',
    entryPoints: { app: 'playground/app.ts' },
    outdir: 'dist/playground',
  }),
  mkdir('dist/playground', { recursive: true }).then(() =>
    Promise.all([copyFile('playground/index.html', 'dist/playground/index.html'), copyFile('examples/shapes.png', 'dist/playground/sample.png')]),
  ),
]);
