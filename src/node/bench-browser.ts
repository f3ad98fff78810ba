// `paligemma bench kernels --browser`: the bench page (dist/bench-page) served on 127.0.0.1 and run
// in headless Chromium through playwright-core, so the page path is checked end to end from the
// CLI. Its report comes back as the page's JSON (the same schema as --json, checked here too).

import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { realpath } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KernelsReport } from '../../bench/kernels.js';
import { checkKernelsReport } from '../../bench/schema.js';
import { HttpError, resolveInside, sendFile } from './serve-files.js';

/** Chromium's flags for WebGPU on this kind of machine; developer features turn off Chrome's 100 µs timestamp quantization. */
export const CHROMIUM_WEBGPU_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--enable-webgpu-developer-features', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** dist/bench-page, seen from the bundled CLI (dist/node) or from the sources (src/node, tests). */
export function benchPageDir(): string {
  const candidates = ['../bench-page/', '../../dist/bench-page/'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`the bench page is not built (looked in ${candidates.join(', ')}); run \`npm run build\``);
  return found;
}

/** Serves `dir` read-only on 127.0.0.1 (a free port). */
export async function serveStatic(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const root = await realpath(dir);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    resolveInside(root, path === '/' ? 'index.html' : path.slice(1))
      .then((file) => sendFile(res, file, undefined))
      .catch((e: unknown) => {
        res.statusCode = e instanceof HttpError ? e.status : 500;
        res.end(e instanceof Error ? e.message : String(e));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())),
  };
}

export interface BrowserBenchOptions {
  quick: boolean;
  peers: string[];
  runs: number;
  skip?: string[];
  quantize?: string[];
  /** Chromium executable (default /usr/bin/chromium, or $CHROMIUM). */
  chromium?: string;
  /** Extra Chromium flags (e.g. to pick an adapter). */
  chromiumArgs?: string[];
  log: (line: string) => void;
}

export async function benchKernelsInBrowser(o: BrowserBenchOptions): Promise<KernelsReport> {
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch {
    throw new Error('bench kernels --browser needs playwright-core (npm install playwright-core) and a Chromium');
  }
  const executablePath = o.chromium ?? process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`bench kernels --browser: no Chromium at ${executablePath} (set $CHROMIUM)`);
  const server = await serveStatic(benchPageDir());
  const browser = await playwright.chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_WEBGPU_ARGS, ...(o.chromiumArgs ?? [])] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.text().startsWith('bench: ')) o.log(`[page] ${m.text().slice(7)}`);
    });
    const q = new URLSearchParams({ run: '1', quick: o.quick ? '1' : '0', peers: o.peers.join(',') || 'none', runs: String(o.runs) });
    if (o.skip) q.set('skip', o.skip.join(','));
    if (o.quantize) q.set('quantize', o.quantize.join(','));
    const load = () => loadavg().map((x) => Math.round(x * 100) / 100);
    const loadBefore = load();
    await page.goto(`${server.url}?${q}`);
    // No time limit of our own: the full shapes take many minutes on a software adapter.
    await page.waitForFunction(() => ['done', 'error', 'stopped'].includes((window as unknown as { bench?: { state: string } }).bench?.state ?? ''), undefined, { timeout: 0, polling: 500 });
    const out = await page.evaluate(() => (window as unknown as { bench: { state: string; error: string; report: unknown } }).bench);
    if (out.state !== 'done') throw new Error(`the bench page failed: ${out.error || out.state}${errors.length ? ` (page errors: ${errors.join('; ')})` : ''}`);
    checkKernelsReport(out.report, 'the bench page\'s report');
    // A page cannot see the load averages; this process runs on the same machine and can.
    const report = out.report as KernelsReport;
    report.machine = { ...report.machine, load: loadBefore, loadAfter: load() };
    return report;
  } finally {
    await browser.close();
    await server.close();
  }
}
