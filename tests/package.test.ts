// The package as its users get it: `npm pack`, the tarball installed into a fresh project outside
// the checkout (its dependencies from the registry, served from npm's cache when it has them), the
// README's and docs' TypeScript samples and the examples type-checked there with `strict` against
// the published .d.ts, then run in Node on the demo checkpoint, and the minimal browser page bundled
// with esbuild from the installed package and run in Chromium. The samples are cut out of the
// markdown here, so the docs cannot drift from what runs.

import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../src/image/decode.js';
import { demoModelDir } from '../src/node/demo-model.js';
import { HttpError, resolveInside, sendFile } from '../src/node/serve-files.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples');
const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// The samples and examples read examples/shapes.png relative to the working directory, as from a clone.
const opts = { cwd: ROOT, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, maxBuffer: 1 << 26 };

/** The ```ts blocks of a markdown file, in order. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

const SAMPLE_FILES = ['README.md', 'docs/loader.md', 'docs/concurrency.md'];

// Imports every entry and checks they share one copy of the code (the Node build's chunks).
const ENTRIES_TS = `import * as root from 'paligemma-webgpu';
import * as kernels from 'paligemma-webgpu/kernels';
import * as graph from 'paligemma-webgpu/graph';
import * as loader from 'paligemma-webgpu/loader';
import type { Request, Result } from 'paligemma-webgpu';

const shared: boolean = root.Gpu === kernels.Gpu && root.linear === kernels.linear && root.PaliGemma === graph.PaliGemma && root.loadCheckpoint === loader.loadCheckpoint;
const request: Request = { image: { width: 1, height: 1, rgb: new Uint8Array(3) }, prompt: root.taskPrompt('detect', { text: ['cat'] }) };
const result: Pick<Result, 'detections'> = { detections: root.parseDetections('<loc0000><loc0000><loc0512><loc0512> cat', 100, 50) };
console.log(JSON.stringify({ shared, prompt: request.prompt, box: result.detections[0], loader: typeof loader.NodeFileSource }));
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
    // The published declarations are checked too, as a consumer without skipLibCheck would.
    skipLibCheck: false, allowJs: true, checkJs: true, lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: ['node'], outDir: 'build',
  },
  include: ['*.ts', 'examples/*.mjs', 'examples/browser/*.mjs'],
};

describe('the packed package', () => {
  let dir: string;
  let files: string[] = [];
  let model: string;
  let tscOutput = '';
  const samples: { name: string; file: string }[] = [];

  beforeAll(async () => {
    // dist/ is fresh: tests/setup/build.ts built it before any test file.
    dir = await realpath(await mkdtemp(join(tmpdir(), 'paligemma-package-')));
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], opts);
    const [pack] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    files = pack!.files.map((f) => f.path);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = (name: string) => readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8').then((t) => (JSON.parse(t) as { version: string }).version);
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'consumer', private: true, type: 'module',
        dependencies: { 'paligemma-webgpu': `file:./${pack!.filename}`, webgpu: await version('webgpu') },
        devDependencies: { '@types/node': await version('@types/node') },
      }),
    );
    expect(pack!.filename).toBe(`paligemma-webgpu-${pkg.version}.tgz`);
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    await writeFile(join(dir, 'entries.ts'), ENTRIES_TS);
    for (const md of SAMPLE_FILES) {
      const blocks = tsBlocks(await readFile(join(ROOT, md), 'utf8'));
      expect(blocks.length, `${md} has no \`\`\`ts sample`).toBeGreaterThan(0);
      for (const [i, code] of blocks.entries()) {
        const name = `${md.replace(/\W+/g, '-')}-${i + 1}`;
        await writeFile(join(dir, `${name}.ts`), code);
        samples.push({ name: `${md} sample ${i + 1}`, file: join(dir, 'build', `${name}.js`) });
      }
    }
    await cp(EXAMPLES, join(dir, 'examples'), { recursive: true });
    // Offline when npm's cache holds every dependency (it does after `npm ci`), else from the registry.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { ...opts, cwd: dir });
    try {
      await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], opts);
    } catch (e) {
      tscOutput = `${(e as { stdout: string }).stdout}`;
    }
    model = await demoModelDir();
  }, 600_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds the build, types, docs and examples, and no tests, fixtures or bench results', () => {
    expect(files).toContain('dist/types/index.node.d.ts');
    expect(files).toContain('dist/node/cli.js');
    expect(files).toContain('examples/caption.mjs');
    const stray = files.filter((f) => /^(tests|bench|src|scripts|test-output|playground)\/|\.(safetensors|npz|tsbuildinfo)$/.test(f));
    expect(stray).toEqual([]);
  });

  it('has every file that package.json exports, with its types', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const targets = (v: unknown): string[] => (typeof v === 'string' ? [v] : Object.values(v as object).flatMap(targets));
    for (const [entry, conditions] of Object.entries(pkg.exports)) {
      for (const t of targets(conditions)) expect(files, `exports["${entry}"] → ${t}`).toContain(t.replace(/^\.\//, ''));
      if (entry !== './package.json') expect(JSON.stringify(conditions), `exports["${entry}"] has node, browser and types`).toMatch(/"browser":\{"types".*"node":\{"types"/);
    }
  });

  it('type-checks a strict consumer: every entry, the README and docs samples, the examples', () => {
    expect(tscOutput).toBe('');
  });

  it('documents the API from its doc comments with TypeDoc, no warnings (npm run docs writes it to dist/api)', async () => {
    const r = await run(process.execPath, [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--emit', 'none'], opts).catch((e: { stdout: string }) => e);
    expect(r.stdout).toMatch(/Found 0 errors and 0 warnings|^$/);
  });

  it('loads every entry in Node, one copy of the code behind them', async () => {
    const { stdout } = await run(process.execPath, [join(dir, 'build/entries.js')], opts);
    expect(JSON.parse(stdout)).toEqual({ shared: true, prompt: 'detect cat', box: { label: 'cat', x0: 0, y0: 0, x1: 50, y1: 25 }, loader: 'function' });
  });

  it('runs the kernels on a device the caller made (examples/kernels.mjs): matmul and RMSNorm against float64', async () => {
    const { stdout } = await run(process.execPath, [join(dir, 'examples/kernels.mjs')], opts);
    const errs = JSON.parse(stdout) as { linear: number; rmsNorm: number };
    expect(errs.linear).toBeLessThan(1e-5);
    expect(errs.rmsNorm).toBeLessThan(1e-5);
  });

  // The Node programs run side by side: much of each is single-threaded (tokenizer, loading), and CI has two cores.
  it('runs the README and docs samples as written', async () => {
    expect(samples.length).toBeGreaterThanOrEqual(3);
    const outputs = await Promise.all(
      samples.map((s) =>
        run(process.execPath, [s.file, model], opts).catch((e: Error & { stderr?: string }) => {
          throw new Error(`${s.name} failed: ${e.message}\n${e.stderr ?? ''}`);
        }),
      ),
    );
    for (const [i, { stdout }] of outputs.entries()) expect(stdout.length, `${samples[i]!.name} printed nothing`).toBeGreaterThan(0);
  });

  let caption = '';
  it('runs examples/caption.mjs and examples/detect.mjs on the demo model', async () => {
    const png = join(dir, 'detections.png');
    const [captioned, { stdout }] = await Promise.all([
      run(process.execPath, [join(dir, 'examples/caption.mjs'), model], opts),
      run(process.execPath, [join(dir, 'examples/detect.mjs'), model, 'examples/shapes.png', 'circle ; square', png], opts),
    ]);
    caption = captioned.stdout;
    // The demo checkpoint samples: varied (meaningless) words, not one token repeated.
    expect(new Set(caption.trim().split(/\s+/)).size, caption).toBeGreaterThan(3);
    expect(stdout).toContain(`wrote ${png}`);
    const shapes = decodeImage(await readFile(join(EXAMPLES, 'shapes.png')), 'shapes.png');
    const drawn = decodeImage(await readFile(png), png);
    expect([drawn.width, drawn.height]).toEqual([shapes.width, shapes.height]);
  });

  it('bundles the minimal browser page from the installed package and captions in Chromium as Node does', async () => {
    const www = join(dir, 'www');
    await mkdir(www);
    await build({ absWorkingDir: dir, entryPoints: ['examples/browser/main.mjs'], bundle: true, format: 'esm', platform: 'browser', outfile: join(www, 'main.js'), logLevel: 'error' });
    await cp(join(EXAMPLES, 'browser/index.html'), join(www, 'index.html'));
    await cp(join(EXAMPLES, 'shapes.png'), join(www, 'shapes.png'));
    const roots: [string, string][] = [['/model/', await realpath(model)], ['/', www]];
    const server: Server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const [prefix, root] = roots.find(([p]) => path.startsWith(p))!;
      resolveInside(root, path.slice(prefix.length) || 'index.html')
        .then((file) => sendFile(res, file, req.headers.range))
        .catch((e: unknown) => {
          res.statusCode = e instanceof HttpError ? e.status : 500;
          res.end(String(e));
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // Three tokens: SwiftShader shares the CPU with the rest of the suite.
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/?tokens=3`);
      const out = page.locator('#out:not([data-state=loading]):not([data-state=generating])');
      await out.waitFor({ timeout: 280_000 });
      const [state, text] = [await out.getAttribute('data-state'), await out.textContent()];
      expect({ state, errors }, text ?? '').toEqual({ state: 'done', errors: [] });
      // Greedy: the page's first tokens are the start of Node's caption.
      expect(text!.length).toBeGreaterThan(0);
      expect(caption.startsWith(text!), `page ${JSON.stringify(text)} vs Node ${JSON.stringify(caption)}`).toBe(true);
    } finally {
      await browser.close();
      server.close();
    }
  });
});
