// `paligemma masks` as users run it (the built bin/paligemma.mjs) on the vae-oid-random-seed0 fixture.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../src/image/decode.js';
import { NpzArchive } from '../src/loader/npz.js';
import { normErr } from './helpers/gpu.js';
import { npy, zip } from './helpers/npz.js';
import { readSafetensors, tensor } from './helpers/safetensors.js';

const run = promisify(execFile);
const BIN = join(__dirname, '..', 'bin', 'paligemma.mjs');
const DIR = join(__dirname, 'fixtures', 'vae-oid-random-seed0');
const VAE = join(DIR, 'vae-oid.npz');
const fixture = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as { text: string; width: number; height: number };

function cli(args: string[]) {
  return run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const tmp = () => mkdtempSync(join(tmpdir(), 'pg-masks-'));

describe('paligemma masks', () => {
  it('reproduces the fixture and writes PNGs', async () => {
    const dir = tmp();
    const out = join(dir, 'masks.safetensors');
    const r = await cli(['masks', '--vae', VAE, '--text', fixture.text, '--width', String(fixture.width), '--height', String(fixture.height), '--out', out, '--png', join(dir, 'png')]);
    expect(r.code, r.stderr).toBe(0);
    const got = readSafetensors(out);
    const ref = readSafetensors(join(DIR, 'expected.safetensors'));
    expect(tensor(got, 'mask64', 'F32').shape).toEqual([3, 64, 64]);
    expect(normErr(tensor(got, 'mask64', 'F32').data, tensor(ref, 'mask64', 'F32').data)).toBeLessThanOrEqual(1e-4);
    expect(tensor(got, 'codewords', 'I32').data).toEqual(tensor(ref, 'codewords', 'I32').data);
    expect(tensor(got, 'boxes', 'I32').data).toEqual(tensor(ref, 'boxes', 'I32').data);
    const [m, mr] = [tensor(got, 'masks', 'U8'), tensor(ref, 'masks', 'U8')];
    expect(m.shape).toEqual([3, 200, 300]);
    let off = 0;
    for (let i = 0; i < m.data.length; i++) {
      const d = Math.abs(m.data[i]! - mr.data[i]!);
      expect(d).toBeLessThanOrEqual(2);
      if (d) off++;
    }
    expect(off).toBeLessThanOrEqual(0.01 * m.data.length);
    const mask0 = decodeImage(new Uint8Array(readFileSync(join(dir, 'png', 'mask-0.png'))), 'mask-0.png');
    expect([mask0.width, mask0.height]).toEqual([300, 200]);
    expect(mask0.rgb[(100 * 300 + 150) * 3]).toBe(m.data[100 * 300 + 150]);
    const overlay = decodeImage(new Uint8Array(readFileSync(join(dir, 'png', 'overlay.png'))), 'overlay.png');
    expect([overlay.width, overlay.height]).toEqual([300, 200]);
  });

  it('a deflated decoder file, an odd image size, many objects and an empty box', async () => {
    const dir = tmp();
    const npz = NpzArchive.open(VAE, new Uint8Array(readFileSync(VAE)));
    const files: Record<string, Uint8Array> = {};
    for (const key of npz.keys()) {
      const a = await npz.float32(key);
      files[`${key}.npy`] = npy(a.shape, a.data);
    }
    const vae = join(dir, 'vae-compressed.npz');
    writeFileSync(vae, zip(files, true));
    const objs: string[] = [];
    for (let i = 0; i < 9; i++) {
      const segs = Array.from({ length: 16 }, (_, j) => `<seg${String((i * 31 + j * 7) % 128).padStart(3, '0')}>`).join('');
      const y0 = (i * 97) % 900;
      objs.push(`<loc${String(y0).padStart(4, '0')}><loc${String(i * 50).padStart(4, '0')}><loc${String(y0 + 100).padStart(4, '0')}><loc${String(i * 50 + 300).padStart(4, '0')}>${segs} thing ${i}`);
    }
    objs.push(`<loc0500><loc0100><loc0500><loc0900>${'<seg001>'.repeat(16)} flat`);
    objs.push('<loc0000><loc0000><loc0100><loc0100> no mask');
    const out = join(dir, 'm.safetensors');
    const r = await cli(['masks', '--vae', vae, '--text', objs.join(' ; '), '--width', '37', '--height', '23', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const got = readSafetensors(out);
    expect(tensor(got, 'masks', 'U8').shape).toEqual([10, 23, 37]);
    expect(tensor(got, 'mask64', 'F32').shape).toEqual([10, 64, 64]);
    expect(Array.from(tensor(got, 'boxes', 'I32').data.subarray(36, 40))).toEqual([4, 11, 33, 11]) // 900/1024·37 = 32.5 → 33;
    expect(tensor(got, 'masks', 'U8').data.subarray(9 * 23 * 37).every((v) => v === 0)).toBe(true);
    expect(r.stderr).toMatch(/wrote 10 masks/);
  });

  it('says what is wrong with the decoder file or the options', async () => {
    const dir = tmp();
    const notZip = join(dir, 'bad.npz');
    writeFileSync(notZip, 'hello');
    const base = ['masks', '--text', fixture.text, '--width', '10', '--height', '10', '--out', join(dir, 'o.safetensors')];
    let r = await cli([...base, '--vae', notZip]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.npz: not a zip archive/);
    r = await cli([...base, '--vae', join(dir, 'missing.npz')]);
    expect(r.stderr).toMatch(/cannot read mask decoder .*missing\.npz: no such file/);
    r = await cli(['masks', '--vae', VAE, '--text', 'x', '--out', join(dir, 'o.safetensors')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--width and --height/);
  });

  it('generate with a segment prompt: a note without a decoder file, PNGs with one', async () => {
    const model = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224');
    const args = ['generate', '--model', join(model, 'checkpoint'), '--image', join(model, 'shapes_300x200.png'), '--prompt', 'segment cat', '--max-new-tokens', '2'];
    const cache = tmp();
    const noVae = await run(process.execPath, [BIN, ...args, '--json'], { env: { ...process.env, PALIGEMMA_CACHE: cache } });
    expect(noVae.stderr).toMatch(/no mask decoder: put vae-oid\.npz .* or pass --vae FILE/);
    expect(JSON.parse(noVae.stdout).segments).toEqual([]);
    const out = join(tmp(), 'masks');
    const r = await cli([...args, '--vae', VAE, '--masks-out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/no mask decoder/);
    const overlay = decodeImage(new Uint8Array(readFileSync(join(out, 'overlay.png'))), 'overlay.png');
    expect([overlay.width, overlay.height]).toEqual([300, 200]);
  });
});
