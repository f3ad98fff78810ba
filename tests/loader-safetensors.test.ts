import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/loader/errors.js';
import { firstDuplicateTopLevelKey, parseSafetensors, readSafetensorsHeader } from '../src/loader/safetensors.js';
import { NodeFileSource } from '../src/loader/node-source.js';
import { assemble, buildSafetensors, fixtureDir, memorySource, randomBytes } from './loader-helpers.js';

const F = 'model.safetensors';

function expectError(fn: () => unknown, phrase: string | RegExp): CheckpointError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CheckpointError);
  const ce = err as CheckpointError;
  expect(ce.file).toBe(F);
  expect(ce.message.startsWith(`${F}: `)).toBe(true);
  if (typeof phrase === 'string') expect(ce.problem).toContain(phrase);
  else expect(ce.problem).toMatch(phrase);
  return ce;
}

const parse = (bytes: Uint8Array) => () => parseSafetensors(F, bytes);
const entry = (dtype: string, shape: number[], b: number, e: number) => ({ dtype, shape, data_offsets: [b, e] });
const file = (header: Record<string, unknown>, dataBytes: number) => assemble(JSON.stringify(header), [new Uint8Array(dataBytes)]);

describe('safetensors header', () => {
  it('parses a valid file and reports offsets', () => {
    const bytes = buildSafetensors({
      b: { dtype: 'BF16', shape: [2, 3], data: randomBytes(12, 1) },
      a: { dtype: 'F32', shape: [], data: randomBytes(4, 2) },
      z: { dtype: 'U8', shape: [0, 5], data: new Uint8Array(0) },
    });
    const h = parseSafetensors(F, bytes);
    expect(h.headerSize % 8).toBe(0);
    expect(h.dataStart).toBe(8 + h.headerSize);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.tensors.get('a')).toEqual({ dtype: 'F32', shape: [], begin: 0, end: 4 });
    expect(h.tensors.get('b')).toEqual({ dtype: 'BF16', shape: [2, 3], begin: 4, end: 16 });
    expect(h.tensors.get('z')).toEqual({ dtype: 'U8', shape: [0, 5], begin: 16, end: 16 });
  });

  it('reads a real fixture header through the Node source without reading the data', async () => {
    const src = new NodeFileSource(fixtureDir('pg-tiny-fullvocab-224'));
    const h = await readSafetensorsHeader(src, F);
    await src.close();
    expect(h.headerSize).toBe(7472);
    expect(h.tensors.get('language_model.model.embed_tokens.weight')).toEqual({ dtype: 'BF16', shape: [257216, 32], begin: 0, end: 16461824 });
  });

  it('rejects an empty file', async () => {
    expectError(parse(new Uint8Array(0)), 'empty');
    await expect(readSafetensorsHeader(memorySource(new Map([[F, new Uint8Array(0)]])), F)).rejects.toThrow(/empty/);
  });

  it('rejects a file shorter than 8 bytes', () => {
    expectError(parse(new Uint8Array(5)), 'too short (5 bytes)');
  });

  it('rejects a header length beyond the file or the 100 MB limit', () => {
    const b = assemble('{}');
    new DataView(b.buffer).setBigUint64(0, BigInt(b.length), true);
    expectError(parse(b), 'larger than the file allows');
    new DataView(b.buffer).setBigUint64(0, 100_000_001n, true);
    expectError(parse(b), 'exceeds the limit of 100000000');
    new DataView(b.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    expectError(parse(b), 'exceeds the limit');
  });

  it('rejects headers that are not UTF-8, not JSON or not an object', () => {
    const bad = assemble('{"a":1}');
    bad[10] = 0xff;
    expectError(parse(bad), 'not valid UTF-8');
    expectError(parse(assemble('{"a": ')), 'not valid JSON');
    expectError(parse(assemble('[1, 2, 3]')), 'not a JSON object');
    expectError(parse(assemble('"text"')), 'not a JSON object');
    expectError(parse(assemble('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}} trailing')), 'not valid JSON');
  });

  it('checks __metadata__ is string -> string', () => {
    expectError(parse(file({ __metadata__: { format: 1 } }, 0)), '__metadata__ value for "format" must be a string');
    expectError(parse(file({ __metadata__: ['pt'] }, 0)), '__metadata__ must be an object');
  });

  it('checks entry fields and types, naming the tensor', () => {
    expectError(parse(file({ w: { shape: [1], data_offsets: [0, 4] } }, 4)), 'tensor "w": missing "dtype"');
    expectError(parse(file({ w: { dtype: 'F32', data_offsets: [0, 4] } }, 4)), 'tensor "w": missing "shape"');
    expectError(parse(file({ w: { dtype: 'F32', shape: [1] } }, 4)), 'tensor "w": missing "data_offsets"');
    expectError(parse(file({ w: entry('F32', [-1], 0, 4) }, 4)), 'non-negative integers');
    expectError(parse(file({ w: entry('F32', [1.5], 0, 4) }, 4)), 'non-negative integers');
    expectError(parse(file({ w: entry('F32', [2 ** 53], 0, 4) }, 4)), 'non-negative integers');
    expectError(parse(file({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4)), '"data_offsets" must be [begin, end]');
    expectError(parse(file({ w: 7 }, 4)), 'tensor "w": entry is not an object');
  });

  it('rejects unknown dtypes', () => {
    expectError(parse(file({ w: entry('F128', [1], 0, 16) }, 16)), 'tensor "w": unknown dtype "F128"');
  });

  it('rejects shape x dtype sizes that disagree with the offsets', () => {
    expectError(parse(file({ w: entry('BF16', [2, 3], 0, 8) }, 8)), /shape \[2, 3\] × BF16 is 12 bytes but data_offsets \[0, 8\] span 8/);
    expectError(parse(file({ w: entry('F32', [1e9, 1e9], 0, 8) }, 8)), 'shape [1000000000, 1000000000] is too large');
  });

  it('rejects offsets out of range, overlapping and holes', () => {
    expectError(parse(file({ w: entry('F32', [2], 0, 8) }, 4)), 'out of range: the data buffer holds 4 bytes');
    expectError(parse(file({ w: entry('F32', [1], 4, 0) }, 4)), 'begin after end');
    expectError(parse(file({ a: entry('F32', [2], 0, 8), b: entry('F32', [1], 4, 8) }, 8)), 'tensor "b" data_offsets [4, 8] overlap tensor "a"');
    expectError(parse(file({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) }, 12)), 'hole in the data buffer: bytes 4..8');
    expectError(parse(file({ a: entry('F32', [1], 0, 4) }, 12)), 'bytes 4..12 at the end');
    expectError(parse(file({ a: entry('F32', [1], 4, 8) }, 8)), 'bytes 0..4 before tensor "a"');
  });

  it('rejects duplicate tensor names, which JSON.parse would silently merge', () => {
    const text = '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}';
    expectError(parse(assemble(text, [new Uint8Array(4)])), 'duplicate tensor name "a"');
    const escaped = '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "\\u0061": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}';
    expectError(parse(assemble(escaped, [new Uint8Array(4)])), 'duplicate tensor name "a"');
  });

  it('compares only top-level keys when looking for duplicates', () => {
    expect(firstDuplicateTopLevelKey('{"a": {"x": 1, "y": {"x": 2}}, "b": {"x": 3}, "s": "a", "t": ["a", {"a": 1}]}')).toBeNull();
    expect(firstDuplicateTopLevelKey('{"q\\"": 1, "r": "\\\\", "q\\"" : 2}')).toBe('q"');
    expect(firstDuplicateTopLevelKey('{"x": {"a": 1}, "y": [{"b": 2}], "x"\n:3}')).toBe('x');
  });
});
