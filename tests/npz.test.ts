import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NpzArchive, NpzError, type NpzProblem } from '../src/loader/npz.js';
import { npy, zip } from './helpers/npz.js';
import { randomF32 } from './helpers/gpu.js';

const a = randomF32(6, 1);
const b = randomF32(24, 2);
const files = (o: Parameters<typeof npy>[2] = {}) => ({ 'a.npy': npy([2, 3], a, o), 'b.npy': npy([2, 3, 4], b), 'scalar.npy': npy([], Float32Array.of(7)) });

async function problem(bytes: Uint8Array, key = 'a', shape?: (number | null)[]): Promise<NpzError> {
  try {
    await NpzArchive.open('w.npz', bytes).float32(key, shape);
  } catch (e) {
    expect(e).toBeInstanceOf(NpzError);
    expect((e as NpzError).message.startsWith('w.npz: ')).toBe(true);
    return e as NpzError;
  }
  throw new Error('no error');
}

const expectKind = async (bytes: Uint8Array, kind: NpzProblem, text: RegExp, key?: string, shape?: (number | null)[]) => {
  const e = await problem(bytes, key, shape);
  expect(e.kind).toBe(kind);
  expect(e.message).toMatch(text);
};

describe('npz reader', () => {
  it.each([
    [1, false],
    [2, false],
    [3, true],
  ] as const)('reads .npy v%i (deflate %s)', async (version, deflate) => {
    const npz = NpzArchive.open('t.npz', zip(files({ version }), deflate));
    expect(npz.keys().sort()).toEqual(['a', 'b', 'scalar']);
    expect(await npz.float32('a', [2, 3])).toEqual({ shape: [2, 3], data: a });
    expect(await npz.float32('b', [null, 3, 4])).toEqual({ shape: [2, 3, 4], data: b });
    expect(await npz.float32('scalar')).toEqual({ shape: [], data: Float32Array.of(7) });
  });

  it('reads the numpy-written fixture (stored, zip64 local headers)', async () => {
    const bytes = new Uint8Array(readFileSync('tests/fixtures/vae-oid-random-seed0/vae-oid.npz'));
    const npz = NpzArchive.open('vae-oid.npz', bytes);
    expect(npz.has('_vq_vae._ema_w')).toBe(true);
    const emb = await npz.float32('_vq_vae._embedding', [128, 512]);
    expect(emb.data.length).toBe(128 * 512);
    expect((await npz.float32('decoder.4.weight')).shape).toEqual([128, 128, 4, 4]);
  });

  it('rejects a file that is not a zip', async () => {
    await expectKind(new TextEncoder().encode('{"not": "a zip"}'.repeat(3)), 'not-zip', /not a zip archive/);
    await expectKind(new Uint8Array(0), 'not-zip', /not a zip/);
  });

  it('rejects truncated files', async () => {
    const whole = zip(files());
    await expectKind(whole.subarray(0, whole.length - 30), 'truncated', /cut short/);
    await expectKind(whole.subarray(0, 100), 'truncated', /cut short/);
    // Directory intact, data cut: the entry's bytes run past the end.
    const holed = new Uint8Array(whole);
    new DataView(holed.buffer).setUint32(holed.length - 6, whole.length + 10, true);
    await expectKind(holed, 'truncated', /past the end/);
  });

  it('rejects a missing key, naming what is there', async () => {
    await expectKind(zip(files()), 'missing-key', /no array 'decoder\.0\.weight' \(the file has: a, b, scalar\)/, 'decoder.0.weight');
  });

  it('rejects a wrong shape', async () => {
    await expectKind(zip(files()), 'shape', /array 'a' has shape \[2, 3\], expected \[3, 2\]/, 'a', [3, 2]);
    await expectKind(zip(files()), 'shape', /expected \[2, 3, \*\]/, 'a', [2, 3, null]);
  });

  it('rejects other dtypes', async () => {
    await expectKind(zip(files({ descr: '<f8' })), 'dtype', /dtype '<f8', expected '<f4'/);
    await expectKind(zip(files({ descr: '>f4' })), 'dtype', /dtype '>f4'/);
  });

  it('rejects Fortran order', async () => {
    await expectKind(zip(files({ fortran: true })), 'fortran-order', /Fortran order/);
  });

  it('rejects a corrupt deflate stream', async () => {
    const bytes = zip({ 'a.npy': npy([64, 64], randomF32(4096, 3)) }, true);
    bytes[60] = 0xff; // inside the first block's header/codes
    bytes[61] = 0xff;
    const e = await problem(bytes);
    expect(e.kind).toBe('corrupt');
    expect(e.message).toMatch(/entry 'a\.npy': corrupt deflate stream/);
  });

  it('rejects damaged data through the CRC check', async () => {
    const bytes = zip(files());
    bytes[200] ^= 1; // inside a's float data, stored
    await expectKind(bytes, 'corrupt', /CRC-32/);
  });

  it('rejects unsupported compression', async () => {
    const bytes = zip(files());
    const v = new DataView(bytes.buffer);
    const dir = v.getUint32(bytes.length - 6, true);
    v.setUint16(dir + 10, 12, true); // bzip2
    await expectKind(bytes, 'unsupported', /compression method 12/);
  });
});
