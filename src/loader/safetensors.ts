import { CheckpointError } from './errors.js';
import type { FileSource } from './source.js';

/** Bytes per element of every fixed-width safetensors dtype (sub-byte F4/F6 are not accepted). */
export const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

/** Same limit as the reference Rust reader (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  dtype: string;
  shape: number[];
  /** Byte offsets relative to the start of the data buffer (end exclusive). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N, the JSON header length. */
  headerSize: number;
  /** Absolute file offset of the data buffer (8 + N). */
  dataStart: number;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Read and validate the header of one safetensors file. Reads only the prefix and the header. */
export async function readSafetensorsHeader(source: FileSource, path: string): Promise<SafetensorsHeader> {
  const fileSize = await source.size(path);
  if (fileSize === 0) throw new CheckpointError(path, 'file is empty (0 bytes)');
  if (fileSize < 8) throw new CheckpointError(path, `file is too short (${fileSize} bytes) to hold the 8-byte header length`);
  const n = checkHeaderLength(path, await source.read(path, 0, 8), fileSize);
  return parseHeaderBytes(path, await source.read(path, 8, n), fileSize);
}

/** Parse a whole safetensors file held in memory (tests, small files). */
export function parseSafetensors(path: string, bytes: Uint8Array): SafetensorsHeader {
  if (bytes.length === 0) throw new CheckpointError(path, 'file is empty (0 bytes)');
  if (bytes.length < 8) throw new CheckpointError(path, `file is too short (${bytes.length} bytes) to hold the 8-byte header length`);
  const n = checkHeaderLength(path, bytes.subarray(0, 8), bytes.length);
  return parseHeaderBytes(path, bytes.subarray(8, 8 + n), bytes.length);
}

/** Validate the u64 header length against the file size before anything is allocated from it. */
function checkHeaderLength(path: string, prefix: Uint8Array, fileSize: number): number {
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(path, `header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  if (n > BigInt(fileSize - 8)) {
    throw new CheckpointError(path, `header length ${n} is larger than the file allows (${fileSize - 8} bytes after the length prefix)`);
  }
  return Number(n);
}

function parseHeaderBytes(path: string, bytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerSize = bytes.length;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new CheckpointError(path, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new CheckpointError(path, 'header is not a JSON object (must start with "{")');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError(path, 'header is not a JSON object');
  }
  // JSON.parse keeps the last of duplicate keys silently; the format forbids duplicates.
  const dup = firstDuplicateTopLevelKey(text);
  if (dup !== null) throw new CheckpointError(path, `duplicate tensor name ${JSON.stringify(dup)} in header`);

  const dataStart = 8 + headerSize;
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new CheckpointError(path, '__metadata__ must be an object of strings');
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new CheckpointError(path, `__metadata__ value for ${JSON.stringify(k)} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.set(name, parseEntry(path, name, value, dataSize));
  }
  checkCoverage(path, tensors, dataSize);
  return { headerSize, dataStart, tensors, metadata };
}

function parseEntry(path: string, name: string, value: unknown, dataSize: number): TensorEntry {
  const bad = (problem: string) => new CheckpointError(path, `tensor ${JSON.stringify(name)}: ${problem}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('entry is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (dtype === undefined) throw bad('missing "dtype"');
  if (shape === undefined) throw bad('missing "shape"');
  if (offsets === undefined) throw bad('missing "data_offsets"');
  if (typeof dtype !== 'string') throw bad('"dtype" must be a string');
  const itemSize = DTYPE_SIZES[dtype];
  if (itemSize === undefined) throw bad(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad('"shape" must be an array of non-negative integers');
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw bad('"data_offsets" must be [begin, end] with non-negative integers');
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw bad(`data_offsets [${begin}, ${end}] has begin after end`);
  if (end > dataSize) throw bad(`data_offsets [${begin}, ${end}] out of range: the data buffer holds ${dataSize} bytes`);
  // Count elements with an early stop so huge shapes cannot overflow into a false match.
  let numel = 1;
  if (!shape.includes(0)) {
    for (const d of shape as number[]) {
      numel *= d;
      if (numel > 2 ** 50) throw bad(`shape [${shape.join(', ')}] is too large`);
    }
  } else numel = 0;
  if (end - begin !== numel * itemSize) {
    throw bad(`shape [${shape.join(', ')}] × ${dtype} is ${numel * itemSize} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { dtype, shape: shape as number[], begin, end };
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** The data buffer must be covered exactly once: no overlaps, no holes, nothing after the last tensor. */
function checkCoverage(path: string, tensors: Map<string, TensorEntry>, dataSize: number): void {
  const sorted = [...tensors].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let pos = 0;
  let prev = '';
  for (const [name, t] of sorted) {
    if (t.begin < pos) {
      throw new CheckpointError(path, `tensor ${JSON.stringify(name)} data_offsets [${t.begin}, ${t.end}] overlap tensor ${JSON.stringify(prev)} (ends at ${pos})`);
    }
    if (t.begin > pos) {
      throw new CheckpointError(path, `hole in the data buffer: bytes ${pos}..${t.begin} before tensor ${JSON.stringify(name)} belong to no tensor`);
    }
    pos = t.end;
    prev = name;
  }
  if (pos !== dataSize) {
    throw new CheckpointError(path, `hole in the data buffer: bytes ${pos}..${dataSize} at the end belong to no tensor`);
  }
}

/**
 * Scan already-validated JSON text and return the first key that appears twice in the
 * top-level object (keys of nested objects are separate namespaces and are not compared).
 * Keys are compared after unescaping, so "a" and "\u0061" collide as they do for JSON.parse.
 */
export function firstDuplicateTopLevelKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i++;
      while (text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c /* \ */ ? 2 : 1;
      i++;
      if (depth === 1) {
        let j = i;
        while (j < text.length && /\s/.test(text[j]!)) j++;
        if (text[j] === ':') {
          const key = JSON.parse(text.slice(start, i)) as string;
          if (seen.has(key)) return key;
          seen.add(key);
        }
      }
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) depth++;
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
    i++;
  }
  return null;
}
