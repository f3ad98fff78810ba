// The kernel bench page end to end: served by the playground server under /bench/, the quick suite
// run through the page in headless Chromium (SwiftShader), its JSON downloaded and checked against
// the schema the CLI's --json is checked against, Stop, and the comparison view over two result
// files. One measured run per case and no peer keep this file around a minute on 2 cores; so does
// leaving out the quick cases whose pipelines SwiftShader compiles slowly (the convolutions, the
// mask decoder built on them and the sampler: ≈65 s of a 100 s page run on the loaded 2-core
// machine). The same code runs them in Node (tests/bench.test.ts) and `bench kernels --browser --quick` runs all.

import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelCases } from '../bench/cases.js';
import { chartSvg } from '../bench/chart.js';
import { compareText } from '../bench/compare.js';
import { kernelsText } from '../bench/report.js';
import { kernelsReportErrors } from '../bench/schema.js';
import { CHROMIUM_WEBGPU_ARGS } from '../src/node/bench-browser.js';
import { startPlaygroundServer, type PlaygroundServer } from '../src/node/playground-server.js';

const ROOT = join(__dirname, '..');
const RESULTS = join(ROOT, 'bench', 'results');
const LAVAPIPE = join(RESULTS, 'lavapipe-kernels-2026-11-28-0158.json');
const H200 = join(RESULTS, 'h200-kernels-2026-11-27.json');
const SKIP = ['conv2d', 'conv-transpose2d', 'mask-decoder', 'sample'];
const QUERY = `quick=1&peers=none&runs=1&skip=${SKIP.join(',')}`;

type BenchWindow = { bench: { state: string; error: string } };

describe('bench page in Chromium', { timeout: 240_000 }, () => {
  let server: PlaygroundServer;
  let pageDir: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    // Only the bench page, bundled as build.mjs bundles it (the whole build, declarations included, takes ~30 s here).
    pageDir = mkdtempSync(join(tmpdir(), 'bench-page-'));
    await build({ entryPoints: { app: join(ROOT, 'bench/page/app.ts') }, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outdir: pageDir, logLevel: 'warning' });
    copyFileSync(join(ROOT, 'bench/page/index.html'), join(pageDir, 'index.html'));
    // The playground's own page is not under test: the bench page's folder stands in for it.
    server = await startPlaygroundServer({ modelDir: join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224', 'checkpoint'), pageDir, benchDir: pageDir });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_WEBGPU_ARGS });
    page = await browser.newPage({ acceptDownloads: true });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (pageDir) rmSync(pageDir, { recursive: true, force: true });
  });

  it('runs the quick suite, and its downloaded JSON is a valid `bench kernels --json` report', async () => {
    // /bench (no slash) is redirected to the page.
    await page.goto(`${server.url}bench?${QUERY}`);
    expect(page.url()).toBe(`${server.url}bench/?${QUERY}`);
    await page.waitForSelector('#status[data-state=idle], #status[data-state=error]');
    expect(await page.textContent('#status'), 'the page found no WebGPU adapter').toBe('ready');
    expect(await page.isChecked('#quick')).toBe(true);
    await page.click('#run');
    await page.waitForSelector('#status[data-state=done], #status[data-state=error]', { timeout: 200_000 });
    expect(await page.evaluate(() => (window as unknown as BenchWindow).bench.error)).toBe('');
    const bar = await page.$eval('#progress', (p) => [(p as HTMLProgressElement).value, (p as HTMLProgressElement).max]);
    expect(bar[0]).toBe(bar[1]);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toMatch(/^browser-swiftshader-kernels-.*\.json$/);
    const report = JSON.parse(readFileSync((await download.path())!, 'utf8'));
    expect(kernelsReportErrors(report)).toEqual([]);
    expect(report).toMatchObject({ platform: 'browser', timing: 'gpu-timestamps', peers: [], peerErrors: [] });
    expect(report.browser.userAgent).toMatch(/HeadlessChrome/);
    expect(report.adapter.architecture).toBe('swiftshader');
    // The very cases `bench kernels --quick` runs, in its order, each timed.
    expect(report.kernels.map((k: { label: string }) => k.label)).toEqual(kernelCases(true).filter((c) => !SKIP.includes(c.name)).map((c) => c.label));
    for (const k of report.kernels) expect(k.ms).toBeGreaterThan(0);
    expect(report.ceilings.read_gbps).toBeGreaterThan(0);
    expect(report.ceilings.blas_gflops).toBeNull();
    expect(report.ceilings.memcpy_method).toBe('Uint8Array.set');

    // The roofline chart (one point per GFLOP/s kernel, the read roof, no BLAS roof) and the table.
    const flopKernels = report.kernels.filter((k: { gflops?: number }) => k.gflops).length;
    expect(await page.locator('#chart svg circle title').count()).toBe(flopKernels);
    expect(await page.textContent('#chart svg')).toContain('no BLAS ceiling on this platform');
    const table = (await page.textContent('#table'))!;
    expect(table).toContain('kernel ms = GPU time from timestamp queries');
    expect(table).toContain('BLAS-class f32 GEMM: none in a page');
    for (const k of report.kernels) expect(table).toContain(k.label);
    expect(pageErrors).toEqual([]);
  });

  it('stops at the Stop button', async () => {
    await page.click('#run');
    await page.waitForFunction(() => Number((document.getElementById('progress') as HTMLProgressElement).value) >= 1);
    await page.click('#stop');
    await page.waitForSelector('#status[data-state=stopped], #status[data-state=done], #status[data-state=error]', { timeout: 120_000 });
    expect(await page.textContent('#status')).toMatch(/^stopped after \d+ of \d+ steps$/);
    expect(await page.isEnabled('#run')).toBe(true);
  });

  it('compares two result files, each machine against its own ceilings, and names a file that is not a report', async () => {
    await page.setInputFiles('#compare-files', [LAVAPIPE, H200]);
    await page.waitForSelector('#compare-status[data-count="2"]');
    const lavapipe = JSON.parse(readFileSync(LAVAPIPE, 'utf8'));
    const h200 = JSON.parse(readFileSync(H200, 'utf8'));
    const heads = await page.locator('table.compare thead th').allTextContents();
    expect(heads.join(' | ')).toContain('#1 lavapipe-kernels-2026-11-28-0158.json');
    expect(heads.join(' | ')).toContain('#2 h200-kernels-2026-11-27.json');
    // The down-projection GEMV ran on both: its share of each machine's own streaming read, and the ms ratio.
    const label = 'gemma down decode';
    const row = page.locator(`table.compare tr[data-kernel="${label}"] td`);
    const cells = await row.allTextContents();
    const pct = (r: { kernels: { label: string; gbps: number }[]; ceilings: { read_gbps: number } }) => (100 * r.kernels.find((k) => k.label === label)!.gbps) / r.ceilings.read_gbps;
    // Cells show about three significant digits.
    const near = (shown: string, exact: number) => expect(Math.abs(parseFloat(shown) / exact - 1)).toBeLessThan(0.02);
    expect(cells[2]).toMatch(/% read/);
    near(cells[2]!, pct(lavapipe));
    near(cells[3]!, pct(h200));
    const ms = (r: { kernels: { label: string; ms: number }[] }) => r.kernels.find((k) => k.label === label)!.ms;
    near(cells[4]!, ms(h200) / ms(lavapipe));

    const file = (name: string, buffer: Buffer) => ({ name, mimeType: 'application/json', buffer });
    await page.setInputFiles('#compare-files', [file('lavapipe.json', readFileSync(LAVAPIPE)), file('broken.json', Buffer.from('{"date": 1}'))]);
    await page.waitForSelector('#compare-status[data-count="1"]');
    expect(await page.textContent('#compare-status')).toMatch(/broken\.json: not a `bench kernels --json` report: report\.date: expected a string, got number/);
  });
});

describe('reports from a page', () => {
  it('say when kernel times are wall clock and when there is no BLAS ceiling', () => {
    const r = JSON.parse(readFileSync(LAVAPIPE, 'utf8'));
    expect(kernelsText(r)).toContain('kernel ms = GPU time from timestamp queries');
    Object.assign(r, { platform: 'browser', timing: 'wall' });
    r.ceilings.blas_gflops = null;
    expect(kernelsReportErrors(r)).toEqual([]);
    const text = kernelsText(r);
    expect(text).toContain('kernel ms = WALL CLOCK (the adapter has no timestamp-query)');
    expect(text).toContain('BLAS-class f32 GEMM: none in a page');
    const svg = chartSvg(r);
    expect(svg).toContain('WALL-CLOCK times');
    expect(svg).toContain('no BLAS ceiling on this platform');
    expect(svg).not.toContain('NaN');
  });
});

describe('bench compare', () => {
  it('sets the kernels of two machines side by side, each against its own ceilings, with the ms ratio', () => {
    const lavapipe = JSON.parse(readFileSync(LAVAPIPE, 'utf8'));
    const h200 = JSON.parse(readFileSync(H200, 'utf8'));
    const text = compareText([{ name: 'a.json', report: lavapipe }, { name: 'b.json', report: h200 }]);
    expect(text).toMatch(/^#1: a\.json — llvmpipe: Mesa .* \(node\), 2026-11-28T01:58/);
    const row = text.split('\n').find((l) => l.startsWith('gemv') && l.includes('gemma down decode'))!;
    const down = (r: typeof lavapipe) => r.kernels.find((k: { label: string }) => k.label === 'gemma down decode');
    const pct = (r: typeof lavapipe) => ((100 * down(r).gbps) / r.ceilings.read_gbps).toFixed(1);
    expect(row).toContain(`${pct(lavapipe)} % read`);
    expect(row).toContain(`${pct(h200)} % read`);
    expect(row.trim().split(/\s+/).at(-1)).toBe((down(h200).ms / down(lavapipe).ms).toPrecision(2));
    // A kernel only one machine ran has an empty cell and no ratio.
    expect(text.split('\n').find((l) => l.includes('gemma LM head decode (sharded)'))!.trim().endsWith('–')).toBe(true);
  });
});

describe('the kernels report schema', () => {
  it('accepts every kernels report in bench/results and names what is wrong with a broken one', () => {
    const r = JSON.parse(readFileSync(LAVAPIPE, 'utf8'));
    expect(kernelsReportErrors(r)).toEqual([]);
    expect(kernelsReportErrors(JSON.parse(readFileSync(H200, 'utf8')))).toEqual([]);
    delete r.kernels[3].ms;
    r.ceilings.read_gbps = 'fast';
    r.peers[0].timing = 'sundial';
    expect(kernelsReportErrors(r)).toEqual([
      "report.ceilings.read_gbps: expected a number, got string",
      'report.kernels[3].ms: missing',
      "report.peers[0].timing: expected 'gpu-timestamps' or 'wall', got string",
    ]);
    expect(kernelsReportErrors([])).toEqual(['report: expected an object, got array']);
  });
});
