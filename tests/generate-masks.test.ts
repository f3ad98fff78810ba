import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../src/image/decode.js';
import { generateMasks, segmentJson } from '../src/node/generate-masks.js';
import type { Request, Result } from '../src/pipeline.js';
import { parseSegmentations } from '../src/tasks.js';
import { testGpu } from './helpers/gpu.js';

const DIR = 'tests/fixtures/vae-oid-random-seed0';
const { text } = JSON.parse(readFileSync(`${DIR}/expected.json`, 'utf8')) as { text: string };
const image = { width: 40, height: 30, rgb: new Uint8Array(40 * 30 * 3).fill(90) };
const result = (prompt: string): [Request, Result] => [
  { image, prompt },
  { ids: [], text, detections: [], segmentations: prompt.startsWith('segment') ? parseSegmentations(text, 40, 30) : [] },
];

describe('generate: masks for segment prompts', () => {
  it('decodes each segment, writes PNGs per request and a JSON mask per segment', async () => {
    const gpu = await testGpu();
    const [[q0, r0], [q1, r1]] = [result('segment cat ; dog'), result('caption en')];
    const out = mkdtempSync(join(tmpdir(), 'pg-gen-masks-'));
    const g = await generateMasks(gpu, [q0, q1], [r0, r1], { vae: `${DIR}/vae-oid.npz`, masksOut: out });
    expect(g.note).toBeUndefined();
    expect(g.masks!.map((m) => m.length)).toEqual([3, 0]);
    expect(g.masks![0]!.map((m) => m.label)).toEqual(['cat', 'dog', 'red ball']);
    expect(g.files.map((f) => f.slice(out.length + 1))).toEqual(['request-0/mask-0.png', 'request-0/mask-1.png', 'request-0/mask-2.png', 'request-0/overlay.png']);
    const overlay = decodeImage(new Uint8Array(readFileSync(join(out, 'request-0', 'overlay.png'))), 'overlay.png');
    expect([overlay.width, overlay.height]).toEqual([40, 30]);
    expect(existsSync(join(out, 'request-1'))).toBe(false);
    const m = g.masks![0]![1]!;
    const j = segmentJson(m, 40, 30);
    expect(j.box).toEqual({ x1: 0, y1: 0, x2: 40, y2: 30 });
    expect(j.mask.area).toBe(m.area);
    const png = decodeImage(new Uint8Array(Buffer.from(j.mask.png_base64, 'base64')), 'mask.png');
    expect(Array.from(png.rgb.filter((_, i) => i % 3 === 0))).toEqual(Array.from(m.mask));
  });

  it('without a decoder file: a note saying where it comes from, no failure', async () => {
    const gpu = await testGpu();
    const empty = mkdtempSync(join(tmpdir(), 'pg-no-vae-'));
    const prev = process.env.PALIGEMMA_CACHE;
    process.env.PALIGEMMA_CACHE = empty;
    try {
      const [q, r] = result('segment cat');
      const g = await generateMasks(gpu, [q], [r], { modelDir: empty });
      expect(g.masks).toBeUndefined();
      expect(g.note).toMatch(/no mask decoder: put vae-oid\.npz .* in .*pg-no-vae-.*--vae FILE/);
      expect((await generateMasks(gpu, [result('detect cat')[0]], [r], { modelDir: empty })).note).toBeUndefined();
    } finally {
      if (prev === undefined) delete process.env.PALIGEMMA_CACHE;
      else process.env.PALIGEMMA_CACHE = prev;
    }
  });
});
