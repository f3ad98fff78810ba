// The playground end to end: `paligemma playground` serving the tiny full-vocabulary fixture, the
// page in headless Chromium (WebGPU on SwiftShader), generations compared token for token with the
// Node pipeline (Dawn), boxes drawn, timings, the kernel profile, attention maps, stop, local
// folders without the server, the LoRA panel, and the error messages. Screenshots go to test-output/.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../src/image/decode.js';
import { destroyWeights } from '../src/loader/checkpoint.js';
import { loadModel } from '../src/node/load-model.js';
import { safetensorsBytes } from '../src/node/write-safetensors.js';
import type { Pipeline } from '../src/pipeline.js';
import { buildPaligemmaTokenizerJson } from '../src/tokenizer/paligemma-tokenizer-json.js';
import { randomF32, testGpu } from './helpers/gpu.js';
import { readSafetensors } from './helpers/safetensors.js';
import { referenceProbs } from './helpers/sample-ref.js';

const ROOT = join(__dirname, '..');
const FIXTURE = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224');
const CHECKPOINT = join(FIXTURE, 'checkpoint');
const IMAGE = join(FIXTURE, 'shapes_300x200.png');
const VAE_DIR = join(__dirname, 'fixtures', 'vae-oid-random-seed0');
const VIDEO = join(__dirname, 'fixtures', 'video', 'colours.webm');
const OUT = join(ROOT, 'test-output');
const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// SwiftShader runs on the CPU cores the rest of the suite shares: short generations keep this file
// within minutes (3 tokens still cover prefill, decode steps and a token with two before it).
const MAX_NEW = 3;

/** What the page recorded for its last generation (see RunRecord in playground/app.ts). */
interface PageRun {
  ids: number[];
  deltas: string[];
  text: string;
  stopped: boolean;
  detections: unknown[];
}

interface PlaygroundHook {
  state: {
    run?: { ids: number[]; deltas: string[]; text: string; stopped: boolean; result?: { detections: unknown[] } };
    images: { image: { width: number; height: number; rgb: Uint8Array } }[];
    session?: { pipeline: { model: { attentionMap(l: number, h: number, t: number): Promise<Float64Array> } } };
  };
  drawResultText(
    text: string,
    task: 'detect' | 'segment',
  ): Promise<{ detections: { label: string; x0: number; y0: number; x1: number; y1: number }[]; masks?: { mask: Uint8Array; area: number }[] }>;
}
/** The page's window, as seen inside page.evaluate callbacks (which cannot close over test code). */
type PageWindow = { playground: PlaygroundHook; seen: number[] };

/** Starts `paligemma playground` on a free port and returns its URL. */
function startCli(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['bin/paligemma.mjs', 'playground', '--model', CHECKPOINT, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /playground: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => reject(new Error(`paligemma playground exited (${code}):\n${out}`)));
  });
}

/** Runs `use` on a fresh empty folder named `name` (the name the page shows), removed afterwards. */
async function inModelFolder(name: string, use: (folder: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-folder-'));
  try {
    const folder = join(dir, name);
    await mkdir(folder);
    await use(folder);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function generateInPage(page: Page, prompt: string, maxNew = MAX_NEW): Promise<PageRun> {
  await page.selectOption('#task', 'custom');
  await page.fill('#prompt', prompt);
  await page.fill('#max-tokens', String(maxNew));
  // The last generation's 'done' must not answer for this one (a new image clears the last run).
  await page.evaluate(() => delete document.getElementById('gen-status')!.dataset.state);
  await page.click('#generate');
  await page.waitForSelector('#gen-status[data-state=done]', { timeout: 280_000 });
  return page.evaluate(() => {
    const r = (window as unknown as PageWindow).playground.state.run!;
    return { ids: r.ids, deltas: r.deltas, text: r.text, stopped: r.stopped, detections: r.result?.detections ?? [] };
  });
}

describe('playground in Chromium', { timeout: 300_000 }, () => {
  let cli: { proc: ChildProcess; url: string };
  let browser: Browser;
  let page: Page;
  let node: Pipeline;
  let webgpu = false;
  const pageErrors: string[] = [];
  const image = decodeImage(new Uint8Array(readFileSync(IMAGE)), IMAGE);

  const needWebGpu = () => expect(webgpu, 'Chromium offers no WebGPU adapter (see the first test)').toBe(true);

  beforeAll(async () => {
    // dist/ (the page the CLI serves) is fresh: tests/setup/build.ts built it before any test file.
    await mkdir(OUT, { recursive: true });
    cli = await startCli();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(cli.url);
    node = (await loadModel(CHECKPOINT, { gpu: await testGpu() })).pipeline;
    node.model.recordQueries = true;
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (cli) {
      const exited = new Promise<number | null>((r) => cli.proc.on('exit', r));
      cli.proc.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  });

  it('Chromium offers WebGPU', async () => {
    const adapter = await page.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter();
      return a ? `${a.info.vendor} ${a.info.architecture}` : null;
    });
    webgpu = adapter !== null;
    expect(adapter, `navigator.gpu.requestAdapter() gave nothing in /usr/bin/chromium with ${CHROMIUM_ARGS.join(' ')}`).not.toBeNull();
  });

  it('loads the served model with the fallback tokenizer, and says so', async () => {
    needWebGpu();
    await page.waitForSelector('body[data-ready=yes]');
    await page.check('#profile');
    await page.click('#load-served');
    await page.waitForSelector('#load-status[data-state=loaded], #load-status[data-state=failed]', { timeout: 200_000 });
    expect(await page.textContent('#error'), 'error banner').toBe('');
    expect(await page.textContent('#load-status')).toMatch(/^Loaded checkpoint: 16\.6 MB/);
    expect(await page.textContent('#tokenizer-note')).toContain('/tokenizer/gemma-paligemma.json');
    await page.setInputFiles('#image-input', IMAGE);
    await page.waitForFunction(() => document.getElementById('image-info')!.textContent!.startsWith('shapes_300x200.png · 300×200'));
  });

  for (const prompt of ['caption en', 'detect circle ; square']) {
    it(`streams "${prompt}" token for token as the Node pipeline does`, async () => {
      needWebGpu();
      // Count the token chips each time the output changes: streaming shows the tokens one by one.
      await page.evaluate(() => {
        const seen: number[] = [];
        (window as unknown as PageWindow).seen = seen;
        new MutationObserver(() => seen.push(document.querySelectorAll('#tokens button').length)).observe(document.getElementById('output')!, { childList: true, subtree: true, characterData: true });
      });
      const got = await generateInPage(page, prompt);
      const request = { image, prompt };
      const [want] = await node.run([request], { maxNewTokens: MAX_NEW });
      expect(got.ids).toEqual(want!.ids);
      expect(got.deltas.join('')).toBe(want!.text);
      expect(got.text).toBe(want!.text);
      expect(got.stopped).toBe(false);
      expect(await page.textContent('#output')).toBe(want!.text);
      const shown = await page.$$eval('#tokens button', (bs) => bs.map((b) => Number((b as HTMLElement).dataset.id)));
      expect(shown).toEqual(want!.ids);
      const seen = await page.evaluate(() => (window as unknown as PageWindow).seen);
      // Every intermediate token count was on screen at some point.
      const partial = new Set(seen.filter((n) => n > 0 && n < want!.ids.length));
      expect(partial.size).toBe(want!.ids.length - 1);
      expect(got.detections).toEqual(JSON.parse(JSON.stringify(want!.detections)));
      await page.screenshot({ path: join(OUT, `playground-${prompt.split(' ')[0]}.png`), fullPage: true });
    });
  }

  it('shows timings and the per-kernel profile', async () => {
    needWebGpu();
    const timings = await page.textContent('#timings');
    for (const label of ['load', 'pipelines built', 'vision', 'prefill', 'first token choice', 'first token', 'decode per token', 'decode tokens/s']) expect(timings).toContain(label);
    expect(await page.isHidden('#profile-box')).toBe(false);
    const kernels = await page.$$eval('#profile-table tbody tr', (rows) => rows.length);
    expect(kernels).toBeGreaterThan(3);
  });

  it('shows where a generated token looked, as the Node graph computes it', async () => {
    needWebGpu();
    await page.click('#tokens button[data-index="2"]');
    await page.waitForFunction(() => /of its attention is on the 256 image patches/.test(document.getElementById('attn-status')!.textContent!));
    const heat = await page.$eval('#heat-canvas', (c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
      let opaque = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) opaque++;
      return opaque;
    });
    expect(heat).toBeGreaterThan(0);
    // The page's last generation was the detect prompt: redo it in Node and compare one map.
    await node.run([{ image, prompt: 'detect circle ; square' }], { maxNewTokens: MAX_NEW });
    const inPage = await page.evaluate(async () => Array.from(await (window as unknown as PageWindow).playground.state.session!.pipeline.model.attentionMap(1, 2, 2)));
    const inNode = Array.from(await node.model.attentionMap(1, 2, 2));
    // Image patches, <bos> + prompt + "\n", and the 2 tokens generated before.
    expect(inPage.length).toBe(256 + node.tokenizer.encodePrompt('detect circle ; square').length + 2);
    expect(inNode.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    for (let i = 0; i < inNode.length; i++) expect(Math.abs(inPage[i]! - inNode[i]!)).toBeLessThan(1e-4);
    await page.screenshot({ path: join(OUT, 'playground-attention.png'), fullPage: true });
  });

  it("shows a clicked token's candidates under the settings shown now, as the float64 reference of Hugging Face's warpers gives them", async () => {
    needWebGpu();
    // The last generation (the detect prompt, greedy) kept each step's logits ('candidates on click' is on by default).
    type Kept = { playground: { state: { run?: { prompt: string; ids: number[]; logits: Float32Array[] } } } };
    const got = await page.evaluate(() => {
      const r = (window as unknown as Kept).playground.state.run;
      return r && { prompt: r.prompt, ids: r.ids, row: Array.from(r.logits[1] ?? []) };
    });
    expect(got, 'the tests before leave a generation in the page').toBeTruthy();
    const row = Float32Array.from(got!.row);
    expect(row.length).toBe(node.model.config.text.vocabSize);

    // Settings typed after the generation apply to the view.
    const settings = { temperature: 0.7, topK: 40, topP: 0.9, repetitionPenalty: 1.3 };
    await page.check('#do-sample');
    await page.fill('#temperature', '0.7');
    await page.fill('#top-k', '40');
    await page.fill('#top-p', '0.9');
    await page.fill('#rep-penalty', '1.3');
    await page.click('#tokens button[data-index="1"]');
    const status = () => document.getElementById('cand-status')!.textContent!;
    await page.waitForFunction((s) => new RegExp(s).test(document.getElementById('cand-status')!.textContent!), 'sampling at temperature 0\\.7, top-k 40, top-p 0\\.9, repetition penalty 1\\.3$', { timeout: 120_000 });
    const rows = () => page.$$eval('#cand-table tbody tr', (trs) => trs.map((r) => ({ id: Number((r as HTMLElement).dataset.id), p: Number((r as HTMLElement).dataset.p) })));
    const shown = await rows();
    // The penalty counts the image tokens, the prompt and the token generated before step 1.
    const seen = new Set([node.model.config.imageTokenId, ...node.tokenizer.encodePrompt(got!.prompt), got!.ids[0]!]);
    const { probs, margin } = referenceProbs(row, settings, seen);
    const want = [...probs.keys()].filter((i) => probs[i]! > 0).sort((a, b) => probs[b]! - probs[a]! || a - b);
    const kept = Number(/the \d+ most probable of the (\d+) tokens/.exec(await page.evaluate(status))![1]);
    expect(Math.abs(kept - want.length)).toBeLessThanOrEqual(margin < 1e-6 ? 1 : 0);
    expect(shown.map((c) => c.id)).toEqual(want.slice(0, 10));
    // f32 masses over the whole vocabulary, and SwiftShader's exp: the sampler's fixture test sees up to 2e-5 at this size.
    const close = (p: number, ref: number) => expect(Math.abs(p - ref) / ref).toBeLessThan(3e-5);
    for (const c of shown) close(c.p, probs[c.id]!);

    // Greedy with no penalty: the softmax the argmax was taken of, the generated token on top.
    await page.fill('#rep-penalty', '1');
    await page.uncheck('#do-sample');
    await page.waitForFunction(() => /greedy \(softmax at temperature 1 shown\)$/.test(document.getElementById('cand-status')!.textContent!), undefined, { timeout: 120_000 });
    const greedy = await rows();
    expect(greedy[0]!.id).toBe(got!.ids[1]); // the row is step 1's: its argmax is the token generated there
    expect(await page.getAttribute('#cand-table tbody tr:first-child', 'class')).toBe('chosen');
    const softmax = referenceProbs(row, { temperature: 1, topK: 0, topP: 1 }).probs;
    for (const c of greedy) close(c.p, softmax[c.id]!);
    await page.screenshot({ path: join(OUT, 'playground-candidates.png'), fullPage: true });
    for (const [field, value] of [['#temperature', '1'], ['#top-k', '50'], ['#top-p', '1']]) await page.fill(field!, value!);
  });

  it('draws boxes and labels for output with <loc> tokens', async () => {
    needWebGpu();
    await page.uncheck('#attn-show');
    const text = '<loc0205><loc0070><loc0700><loc0330> square ; <loc0300><loc0600><loc0900><loc0980> circle';
    const objs = await page.evaluate((t) => (window as unknown as PageWindow).playground.drawResultText(t, 'detect'), text);
    expect(objs.detections.map((d) => d.label)).toEqual(['square', 'circle']);
    expect(objs.detections[0]).toMatchObject({ x0: (70 / 1024) * 300, y0: (205 / 1024) * 200 });
    expect(await page.$$eval('#objects li', (li) => li.map((l) => l.textContent))).toEqual([expect.stringMatching(/^square /), expect.stringMatching(/^circle /)]);
    // The first box's left edge is drawn in the first palette colour (#e8710a, up to antialiasing);
    // away from the boxes the overlay stays transparent.
    const pixel = (x: number, y: number) =>
      page.$eval('#overlay-canvas', (c, [px, py]) => Array.from((c as HTMLCanvasElement).getContext('2d')!.getImageData(px!, py!, 1, 1).data), [x, y]);
    const edge = await pixel(Math.floor((70 / 1024) * 300), 100); // the 1.5 px line is centred on x0 = 20.5
    [0xe8, 0x71, 0x0a, 0xff].forEach((v, i) => expect(Math.abs(edge[i]! - v)).toBeLessThanOrEqual(8));
    expect((await pixel(2, 195))[3]).toBe(0);
    await page.screenshot({ path: join(OUT, 'playground-boxes.png'), fullPage: true });
  });

  it('draws decoded masks under their boxes, with a toggle per object', async () => {
    needWebGpu();
    await page.setInputFiles('#vae-input', join(VAE_DIR, 'vae-oid.npz'));
    await page.waitForSelector('#vae-status[data-state=loaded]', { timeout: 120_000 });
    // The fixture's text is for a 300×200 image, the size of the page's sample.
    const { text } = JSON.parse(readFileSync(join(VAE_DIR, 'expected.json'), 'utf8')) as { text: string };
    const masks = await page.evaluate(async (t) => {
      const objs = await (window as unknown as PageWindow).playground.drawResultText(t, 'segment');
      return objs.masks!.map((m) => Array.from(m.mask));
    }, text);
    const ref = readSafetensors(join(VAE_DIR, 'expected.safetensors')).get('masks')!.data as Uint8Array;
    expect(masks.length).toBe(3);
    let off = 0;
    masks.flat().forEach((v, i) => {
      expect(Math.abs(v - ref[i]!)).toBeLessThanOrEqual(2);
      if (v !== ref[i]) off++;
    });
    expect(off).toBeLessThanOrEqual(0.01 * ref.length);
    expect(await page.$$eval('#objects input[data-mask]', (i) => i.length)).toBe(3);
    // A pixel of the second mask ("dog", the whole image) away from every box line and label.
    const [x, y] = [285, 180];
    const dog = masks[1]![y * 300 + x]!;
    expect(dog).toBeGreaterThan(20);
    const pixel = () => page.$eval('#overlay-canvas', (c, [px, py]) => Array.from((c as HTMLCanvasElement).getContext('2d')!.getImageData(px!, py!, 1, 1).data), [x, y]);
    const shown = await pixel();
    expect(Math.abs(shown[3]! - (0.5 * dog))).toBeLessThanOrEqual(2); // alpha = 50 % of the mask
    // The second palette colour (#1a73e8), up to the canvas storing colour premultiplied by that alpha.
    [0x1a, 0x73, 0xe8].forEach((v, i) => expect(Math.abs(shown[i]! - v)).toBeLessThanOrEqual(8));
    await page.screenshot({ path: join(OUT, 'playground-masks.png'), fullPage: true });
    await page.uncheck('#objects input[data-mask="1"]');
    expect((await pixel())[3]).toBe(0);
    await page.check('#objects input[data-mask="1"]');
    expect((await pixel())[3]).toBe(shown[3]);
  });

  it('stops a generation', async () => {
    needWebGpu();
    await page.selectOption('#task', 'custom');
    await page.fill('#prompt', 'caption en');
    await page.fill('#max-tokens', '200');
    await page.click('#generate');
    await page.waitForSelector('#tokens button', { timeout: 200_000 });
    await page.click('#stop');
    await page.waitForSelector('#gen-status[data-state=done]', { timeout: 200_000 });
    const run = await page.evaluate(() => (window as unknown as PageWindow).playground.state.run!);
    expect(run.stopped).toBe(true);
    expect(run.ids.length).toBeLessThan(200);
    expect(await page.textContent('#gen-status')).toMatch(/^Stopped/);
    expect(await page.textContent('#error')).toBe('');
  });

  it('samples a video into 8 evenly spaced frames (or as many as asked), shows them as a strip, and generates over all of them as Node does', async () => {
    needWebGpu();
    try {
      expect(await page.inputValue('#frames')).toBe('8');
      await page.setInputFiles('#image-input', VIDEO);
      await page.waitForFunction(() => /^colours\.webm · 8 frames of 4\.00 s, evenly spaced · 64×48/.test(document.getElementById('image-info')!.textContent!));
      expect(await page.$$eval('#strip button.thumb small', (s) => s.map((x) => x.textContent))).toEqual([0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75].map((t) => `${t.toFixed(2)} s`));
      const frames = await page.evaluate(() => (window as unknown as PageWindow).playground.state.images.map(({ image: i }) => ({ width: i.width, height: i.height, rgb: Array.from(i.rgb) })));
      // Frame k is the middle of the k-th eighth: segment k's colour (tests/fixtures/video/README.md), up to VP8's loss.
      const centre = (24 * 64 + 32) * 3;
      frames.forEach((f, k) => {
        expect([f.width, f.height]).toEqual([64, 48]);
        [32 * k, 255 - 32 * k, 200 * (k % 2)].forEach((v, c) => expect(Math.abs(f.rgb[centre + c]! - v), `frame ${k} channel ${c}`).toBeLessThanOrEqual(12));
      });
      // The generation over 4 frames (1024 image tokens, a quarter of the attention work): the same video sampled again.
      await page.fill('#frames', '4');
      await page.dispatchEvent('#frames', 'change');
      await page.waitForFunction(() => /^colours\.webm · 4 frames of 4\.00 s/.test(document.getElementById('image-info')!.textContent!));
      expect(await page.$$eval('#strip button.thumb small', (s) => s.map((x) => x.textContent))).toEqual(['0.50 s', '1.50 s', '2.50 s', '3.50 s']);
      frames.splice(0, 8, ...(await page.evaluate(() => (window as unknown as PageWindow).playground.state.images.map(({ image: i }) => ({ width: i.width, height: i.height, rgb: Array.from(i.rgb) })))));
      const got = await generateInPage(page, 'caption en');
      const images = frames.map((f) => ({ width: f.width, height: f.height, rgb: Uint8Array.from(f.rgb) }));
      const [want] = await node.run([{ image: images, prompt: 'caption en' }], { maxNewTokens: MAX_NEW });
      expect(got.ids).toEqual(want!.ids);
      expect(node.model.images).toEqual([4]);

      // The attention view: the 1024 patches of 4 images, each image's share, and which image the stage shows.
      await page.check('#attn-show');
      await page.click('#tokens button[data-index="1"]');
      await page.waitForFunction(() => /of its attention is on the 1024 image patches of 4 images \(image 1: [\d.]+%, .*image 4: [\d.]+%\); the stage shows image 1, patches 0–255$/.test(document.getElementById('attn-status')!.textContent!), undefined, { timeout: 200_000 });
      const inPage = await page.evaluate(async () => Array.from(await (window as unknown as PageWindow).playground.state.session!.pipeline.model.attentionMap(1, 2, 1)));
      const inNode = Array.from(await node.model.attentionMap(1, 2, 1));
      expect(inPage.length).toBe(4 * 256 + node.tokenizer.encodePrompt('caption en').length + 1);
      for (let i = 0; i < inNode.length; i++) expect(Math.abs(inPage[i]! - inNode[i]!)).toBeLessThan(1e-4);
      await page.click('#strip button.thumb[data-index="3"]');
      await page.waitForFunction(() => /the stage shows image 4, patches 768–1023$/.test(document.getElementById('attn-status')!.textContent!), undefined, { timeout: 200_000 });
      const stage = await page.$eval('#image-canvas', (c) => Array.from((c as HTMLCanvasElement).getContext('2d')!.getImageData(32, 24, 1, 1).data));
      expect(stage.slice(0, 3)).toEqual(frames[3]!.rgb.slice(centre, centre + 3));
      const heat = await page.$$eval('#strip canvas.heat', (cs) => cs.map((c) => (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data.some((v, i) => i % 4 === 3 && v > 0)));
      expect(heat).toEqual(Array(4).fill(true));
      const b = (await page.locator('#heat-canvas').boundingBox())!;
      await page.mouse.move(b.x + b.width * 0.99, b.y + b.height * 0.01);
      expect(await page.textContent('#attn-patch')).toMatch(/^patch 783 = image 4 of 4, row 0, column 15: [\d.]+% of the attention$/);
      await page.screenshot({ path: join(OUT, 'playground-video.png'), fullPage: true });

      // Several pictures: one strip entry each, in the order picked.
      await page.setInputFiles('#image-input', [IMAGE, join(__dirname, 'fixtures', 'pg-tiny-v2048-224-2images', 'tall_180x260.png')]);
      await page.waitForFunction(() => document.getElementById('image-info')!.textContent!.startsWith('2 images, in this order: shapes_300x200.png · 300×200; tall_180x260.png · 180×260'));
      expect(await page.$$eval('#strip button.thumb', (b) => b.length)).toBe(2);
    } finally {
      // Back to the sample image for the tests after, whatever happened above.
      await page.setInputFiles('#image-input', IMAGE);
      await page.waitForFunction(() => document.getElementById('image-info')!.textContent!.startsWith('shapes_300x200.png · 300×200'));
    }
    expect(await page.isHidden('#strip')).toBe(true);
  });

  it('opens a local folder without asking the server for anything', async () => {
    needWebGpu();
    await inModelFolder('my-paligemma', async (folder) => {
      for (const f of ['config.json', 'generation_config.json', 'preprocessor_config.json', 'model.safetensors']) await copyFile(join(CHECKPOINT, f), join(folder, f));
      await writeFile(join(folder, 'tokenizer.json'), buildPaligemmaTokenizerJson());
      const requests: string[] = [];
      const onRequest = (r: { url(): string }) => requests.push(r.url());
      page.on('request', onRequest);
      await page.setInputFiles('#folder-input', folder);
      await page.waitForSelector('#load-status[data-state=loaded], #load-status[data-state=failed]', { timeout: 200_000 });
      expect(await page.textContent('#load-status'), (await page.textContent('#error')) ?? '').toMatch(/^Loaded my-paligemma/);
      expect(await page.textContent('#tokenizer-note')).toContain("model folder's tokenizer.json");
      const got = await generateInPage(page, 'caption en');
      const [want] = await node.run([{ image, prompt: 'caption en' }], { maxNewTokens: MAX_NEW });
      expect(got.ids).toEqual(want!.ids);
      page.off('request', onRequest);
      expect(requests).toEqual([]);
    });
  });

  it('loads int4 weights when asked, generating as the Node pipeline does with --quantize int4', async () => {
    needWebGpu();
    await page.selectOption('#quantize', 'int4');
    // The last load's state must not answer for this one.
    await page.evaluate(() => delete document.getElementById('load-status')!.dataset.state);
    await page.click('#load-served');
    await page.waitForSelector('#load-status[data-state=loaded], #load-status[data-state=failed]', { timeout: 200_000 });
    expect(await page.textContent('#load-status'), (await page.textContent('#error')) ?? '').toMatch(/weights int4, [\d.]+ MB on the GPU/);
    const got = await generateInPage(page, 'caption en');
    const quantized = await loadModel(CHECKPOINT, { gpu: await testGpu(), quantize: 'int4' });
    const [want] = await quantized.pipeline.run([{ image, prompt: 'caption en' }], { maxNewTokens: MAX_NEW });
    quantized.pipeline.model.destroy();
    destroyWeights(quantized.pipeline.model.checkpoint.weights);
    expect(got.ids).toEqual(want!.ids);
    await page.selectOption('#quantize', '');
  });

  it('LoRA panel: opens an adapter folder, runs it beside the base (two outputs), switches back to the base', async () => {
    needWebGpu();
    // The served bf16 model again (the test before loaded int4).
    await page.waitForSelector('body[data-ready=yes]');
    await page.click('#load-served');
    await page.waitForFunction(() => /^Loaded checkpoint: 16\.6 MB/.test(document.getElementById('load-status')!.textContent!) && !/int4/.test(document.getElementById('load-status')!.textContent!), undefined, { timeout: 200_000 });
    await page.setInputFiles('#image-input', IMAGE);
    await page.waitForFunction(() => document.getElementById('image-info')!.textContent!.startsWith('shapes_300x200.png'));
    // The base's tokens, as Node computes them (its kernels are compiled by the tests above).
    const [base] = await node.run([{ image, prompt: 'caption en' }], { maxNewTokens: MAX_NEW });
    await inModelFolder('my-lora', async (folder) => {
      // Rank 4 on every Gemma down_proj, large enough to change the greedy ids (Node's lora tests check the values).
      const c = node.model.config.text;
      const tensors = Array.from({ length: c.numLayers }, (_, l) => {
        const [N, K] = node.model.checkpoint.weights.get(`language_model.model.layers.${l}.mlp.down_proj.weight`)!.shape as [number, number];
        const key = `base_model.model.language_model.model.layers.${l}.mlp.down_proj`;
        return [{ name: `${key}.lora_A.weight`, shape: [4, K], data: randomF32(4 * K, 3 + l, 2) }, { name: `${key}.lora_B.weight`, shape: [N, 4], data: randomF32(4 * N, 5 + l, 2) }];
      }).flat();
      await writeFile(join(folder, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['down_proj'], bias: 'none' }));
      await writeFile(join(folder, 'adapter_model.safetensors'), safetensorsBytes(tensors));
      await page.setInputFiles('#lora-input', folder);
      await page.waitForFunction(() => document.querySelectorAll('#lora-list input[type=checkbox]').length === 1);
      expect(await page.textContent('#lora-list')).toContain('my-lora');
    });
    await page.check('#lora-compare');
    const adapted = await generateInPage(page, 'caption en');
    // The base's output beside it, streamed after it.
    expect(await page.isVisible('#base-box')).toBe(true);
    await page.waitForFunction((text) => document.getElementById('output-base')!.textContent === text, base!.text, { timeout: 200_000 });
    expect(adapted.ids, 'the adapter changes the output').not.toEqual(base!.ids);
    expect(await page.textContent('#output')).toBe(adapted.text);
    await page.screenshot({ path: join(OUT, 'playground-lora.png'), fullPage: true });
    // Switched off: the base alone, as beside the adapter.
    await page.uncheck('#lora-list input[type=checkbox]');
    const off = await generateInPage(page, 'caption en');
    expect(off.ids).toEqual(base!.ids);
    expect(await page.isVisible('#base-box')).toBe(false);
    await page.uncheck('#lora-compare');
  });

  it('explains an incomplete model folder', async () => {
    needWebGpu();
    await inModelFolder('half-a-model', async (folder) => {
      await copyFile(join(CHECKPOINT, 'config.json'), join(folder, 'config.json'));
      await page.setInputFiles('#folder-input', folder);
      await page.waitForSelector('#load-status[data-state=failed]', { timeout: 60_000 });
      const banner = await page.textContent('#error');
      expect(banner).toMatch(/^The model folder is incomplete or invalid/);
      expect(banner).toContain('half-a-model');
      expect(banner).toMatch(/safetensors/);
    });
  });

  it('explains a browser without WebGPU', async () => {
    const bare = await browser.newPage();
    try {
      await bare.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
      await bare.goto(cli.url);
      await bare.waitForSelector('body[data-ready=yes]');
      expect(await bare.textContent('#error')).toMatch(/^WebGPU is not available in this browser/);
      expect(await bare.textContent('#adapter')).toBe('WebGPU unavailable');
    } finally {
      await bare.close();
    }
  });

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
