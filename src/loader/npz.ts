// NumPy .npz archives (np.savez / np.savez_compressed): a zip of .npy files, stored or deflated.
// Only float32 little-endian C-order arrays are read (what the mask decoder file holds). Inflate is
// the platform's DecompressionStream('deflate-raw') (browsers, Node ≥ 20.12), so the same code runs
// in both; every entry's CRC-32 is checked because a damaged stored or deflated entry can otherwise
// decode to silent garbage.

import { CheckpointError } from './errors.js';

export type NpzProblem = 'not-zip' | 'truncated' | 'unsupported' | 'corrupt' | 'missing-key' | 'dtype' | 'shape' | 'fortran-order';

/** A problem with an .npz file: `kind` says which, `file` and `problem` say where and what. */
export class NpzError extends CheckpointError {
  readonly kind: NpzProblem;
  constructor(file: string, kind: NpzProblem, problem: string) {
    super(file, problem);
    this.name = 'NpzError';
    this.kind = kind;
  }
}

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

interface Entry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_END64 = 0x06064b50;
const SIG_END64_LOCATOR = 0x07064b50;

/** An opened archive: the directory is read at once, entries are inflated when asked for. */
export class NpzArchive {
  private constructor(
    readonly file: string,
    private readonly bytes: Uint8Array,
    private readonly entries: Map<string, Entry>,
  ) {}

  /** Reads the zip directory of `bytes` (the whole file); `file` names it in errors. */
  static open(file: string, bytes: Uint8Array): NpzArchive {
    return new NpzArchive(file, bytes, readDirectory(file, bytes));
  }

  /** Array names (the entry names without ".npy"). */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * The float32 array `key`. With `shape`, its shape must match (null = any size on that axis).
   */
  async float32(key: string, shape?: readonly (number | null)[]): Promise<NpyArray> {
    const entry = this.entries.get(key);
    if (!entry) {
      const known = this.keys();
      const list = known.length > 8 ? `${known.slice(0, 8).join(', ')}, … (${known.length} in all)` : known.join(', ');
      throw new NpzError(this.file, 'missing-key', `no array '${key}' (the file has: ${list || 'nothing'})`);
    }
    const array = parseNpy(this.file, key, await this.entryBytes(entry));
    if (shape && (shape.length !== array.shape.length || shape.some((d, i) => d !== null && d !== array.shape[i]))) {
      const want = shape.map((d) => (d === null ? '*' : d)).join(', ');
      throw new NpzError(this.file, 'shape', `array '${key}' has shape [${array.shape.join(', ')}], expected [${want}]`);
    }
    return array;
  }

  private async entryBytes(e: Entry): Promise<Uint8Array> {
    const where = `entry '${e.name}'`;
    const b = this.bytes;
    if (e.localOffset + 30 > b.length) throw new NpzError(this.file, 'truncated', `${where}: its local header lies past the end of the file`);
    const v = view(b);
    if (v.getUint32(e.localOffset, true) !== SIG_LOCAL) throw new NpzError(this.file, 'corrupt', `${where}: no local file header at offset ${e.localOffset}`);
    // The local extra field differs from the central one (numpy writes zip64 sizes only here).
    const start = e.localOffset + 30 + v.getUint16(e.localOffset + 26, true) + v.getUint16(e.localOffset + 28, true);
    const end = start + e.compressedSize;
    if (end > b.length) throw new NpzError(this.file, 'truncated', `${where} needs bytes up to ${end}, the file has ${b.length}`);
    const raw = b.subarray(start, end);
    const data = e.method === 0 ? raw : await inflateRaw(this.file, where, raw);
    if (data.length !== e.size) throw new NpzError(this.file, 'corrupt', `${where} holds ${data.length} bytes, its header says ${e.size}`);
    if (crc32(data) !== e.crc) throw new NpzError(this.file, 'corrupt', `${where} fails its CRC-32 check (damaged data)`);
    return data;
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The end-of-central-directory record, searched backwards over the longest possible comment. */
function findEnd(file: string, b: Uint8Array): number {
  const v = view(b);
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
    if (v.getUint32(i, true) === SIG_END) return i;
  }
  if (b.length >= 4 && v.getUint32(0, true) === SIG_LOCAL) {
    throw new NpzError(file, 'truncated', `zip archive without its central directory (${b.length} bytes: the file is cut short)`);
  }
  throw new NpzError(file, 'not-zip', 'not a zip archive (an .npz file is a zip of .npy files)');
}

function readDirectory(file: string, b: Uint8Array): Map<string, Entry> {
  const v = view(b);
  const end = findEnd(file, b);
  let count = v.getUint16(end + 10, true);
  let dirSize = v.getUint32(end + 12, true);
  let dirOffset = v.getUint32(end + 16, true);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    const loc = end - 20;
    if (loc < 0 || v.getUint32(loc, true) !== SIG_END64_LOCATOR) throw new NpzError(file, 'corrupt', 'zip64 archive without its zip64 end-record locator');
    const end64 = Number(v.getBigUint64(loc + 8, true));
    if (end64 + 56 > b.length || v.getUint32(end64, true) !== SIG_END64) throw new NpzError(file, 'corrupt', 'zip64 end record missing or out of range');
    count = Number(v.getBigUint64(end64 + 32, true));
    dirSize = Number(v.getBigUint64(end64 + 40, true));
    dirOffset = Number(v.getBigUint64(end64 + 48, true));
  }
  if (dirOffset + dirSize > b.length) throw new NpzError(file, 'truncated', `the central directory (bytes ${dirOffset}..${dirOffset + dirSize}) lies past the end of the file (${b.length} bytes)`);
  const entries = new Map<string, Entry>();
  const decoder = new TextDecoder();
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dirOffset + dirSize || v.getUint32(p, true) !== SIG_CENTRAL) throw new NpzError(file, 'corrupt', `central directory entry ${i} of ${count} is damaged`);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const name = decoder.decode(b.subarray(p + 46, p + 46 + nameLen));
    const e: Entry = {
      name,
      flags: v.getUint16(p + 8, true),
      method: v.getUint16(p + 10, true),
      crc: v.getUint32(p + 16, true),
      compressedSize: v.getUint32(p + 20, true),
      size: v.getUint32(p + 24, true),
      localOffset: v.getUint32(p + 42, true),
    };
    readZip64Extra(v, p + 46 + nameLen, extraLen, e);
    if (e.flags & 1) throw new NpzError(file, 'unsupported', `entry '${name}' is encrypted`);
    if (e.method !== 0 && e.method !== 8) throw new NpzError(file, 'unsupported', `entry '${name}' uses compression method ${e.method} (only stored and deflate are read)`);
    entries.set(name.endsWith('.npy') ? name.slice(0, -4) : name, e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Zip64 extra field (id 1): 8-byte values for whichever 32-bit fields are saturated, in this order. */
function readZip64Extra(v: DataView, start: number, length: number, e: Entry): void {
  for (let p = start; p + 4 <= start + length; ) {
    const id = v.getUint16(p, true);
    const size = v.getUint16(p + 2, true);
    if (id === 1) {
      let q = p + 4;
      const next = (): number => {
        const x = Number(v.getBigUint64(q, true));
        q += 8;
        return x;
      };
      if (e.size === 0xffffffff) e.size = next();
      if (e.compressedSize === 0xffffffff) e.compressedSize = next();
      if (e.localOffset === 0xffffffff) e.localOffset = next();
    }
    p += 4 + size;
  }
}

async function inflateRaw(file: string, where: string, raw: Uint8Array): Promise<Uint8Array> {
  let stream: DecompressionStream;
  try {
    stream = new DecompressionStream('deflate-raw' as CompressionFormat);
  } catch {
    throw new NpzError(file, 'unsupported', `${where} is deflated and this platform has no DecompressionStream('deflate-raw') (Node ≥ 20.12 or a current browser)`);
  }
  try {
    const out = new Response(new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream));
    return new Uint8Array(await out.arrayBuffer());
  } catch (e) {
    throw new NpzError(file, 'corrupt', `${where}: corrupt deflate stream (${(e as Error).message})`);
  }
}

let crcTable: Uint32Array | undefined;

function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One .npy file (format versions 1–3): magic, version, header length, a Python dict literal, data. */
function parseNpy(file: string, key: string, b: Uint8Array): NpyArray {
  const where = `array '${key}'`;
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (b.length < 10 || magic.some((m, i) => b[i] !== m)) throw new NpzError(file, 'corrupt', `${where} is not an .npy file (bad magic)`);
  const major = b[6]!;
  if (major < 1 || major > 3) throw new NpzError(file, 'unsupported', `${where}: .npy format version ${major}.${b[7]} (1 to 3 are read)`);
  const v = view(b);
  const headerStart = major === 1 ? 10 : 12;
  if (b.length < headerStart) throw new NpzError(file, 'truncated', `${where}: .npy header cut short`);
  const headerLen = major === 1 ? v.getUint16(8, true) : v.getUint32(8, true);
  if (headerStart + headerLen > b.length) throw new NpzError(file, 'truncated', `${where}: .npy header runs past the end of the array`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(b.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new NpzError(file, 'corrupt', `${where}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  if (descr !== '<f4') throw new NpzError(file, 'dtype', `${where} has dtype '${descr}', expected '<f4' (little-endian float32)`);
  if (fortran === 'True') throw new NpzError(file, 'fortran-order', `${where} is stored in Fortran order; save it C-ordered (np.ascontiguousarray)`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new NpzError(file, 'corrupt', `${where}: bad shape (${shapeText})`);
  const count = shape.reduce((a, d) => a * d, 1);
  const dataStart = headerStart + headerLen;
  if (b.length - dataStart !== count * 4) {
    const kind = b.length - dataStart < count * 4 ? 'truncated' : 'corrupt';
    throw new NpzError(file, kind, `${where} of shape [${shape.join(', ')}] needs ${count * 4} data bytes, the .npy holds ${b.length - dataStart}`);
  }
  // A copy: the data need not be 4-byte aligned inside the archive.
  return { shape, data: new Float32Array(b.slice(dataStart).buffer) };
}
