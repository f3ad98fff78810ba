// JPEG marker parsing and frame setup: decodes a baseline, extended (8-bit) or
// progressive Huffman JPEG into its component sample planes, with libjpeg's
// islow IDCT (jpeg-idct.ts). Upsampling and colour conversion are in jpeg.ts.
// All errors are JpegError; the input length bounds every loop.
import { BitReader, JpegError, NO_TABLE, buildHuffmanTable, findMarker } from './jpeg-bits.js';
import type { HuffmanTable } from './jpeg-bits.js';
import { idctIslow } from './jpeg-idct.js';
import { NATURAL_ORDER, decodeScan } from './jpeg-scan.js';
import type { Frame, FrameComponent, Scan } from './jpeg-scan.js';

/** How the component planes map to RGB (jdapimin.c default_decompress_parms). */
export type JpegColorSpace = 'gray' | 'ycc' | 'rgb';

export interface JpegPlane {
  /** Samples with `stride` per row; only the first width x height are image data. */
  samples: Uint8Array;
  stride: number;
  /** The component's own (downsampled) size: jdinput.c downsampled_width/height. */
  width: number;
  height: number;
  /** Upsampling ratios to the full image (max factor / own factor). */
  ratioH: number;
  ratioV: number;
}

export interface JpegPlanes {
  width: number;
  height: number;
  colorSpace: JpegColorSpace;
  planes: JpegPlane[];
}

interface FrameState extends Frame {
  width: number;
  height: number;
  maxH: number;
  maxV: number;
  components: FrameComponent[];
  /** Whether each component has appeared in a scan. */
  scanned: boolean[];
}

const u16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];

function unsupportedSof(marker: number): string | null {
  if (marker === 0xc3) return 'lossless JPEG (SOF3)';
  if (marker >= 0xc5 && marker <= 0xc7) return `hierarchical JPEG (SOF${marker - 0xc0})`;
  if (marker >= 0xc9 && marker <= 0xcf && marker !== 0xcc) return `arithmetic-coded JPEG (SOF${marker - 0xc0})`;
  return null;
}

function readFrame(seg: Uint8Array, fileLength: number, progressive: boolean, checkSize: (width: number, height: number) => void): FrameState {
  if (seg.length < 6) throw new JpegError('corrupt JPEG: short frame header');
  if (seg[0] !== 8) throw new JpegError(`unsupported JPEG: ${seg[0]}-bit samples (only 8-bit)`);
  const height = u16(seg, 1);
  const width = u16(seg, 3);
  const count = seg[5];
  checkSize(width, height); // before allocating anything
  if (count === 4) throw new JpegError('unsupported JPEG: 4 components (CMYK/YCCK)');
  if (count !== 1 && count !== 3) throw new JpegError(`unsupported JPEG: ${count} components (only grayscale or 3-component colour)`);
  if (seg.length < 6 + 3 * count) throw new JpegError('corrupt JPEG: short frame header');
  const specs = [];
  for (let i = 0; i < count; i++) {
    const at = 6 + 3 * i;
    const h = seg[at + 1] >> 4;
    const v = seg[at + 1] & 15;
    if (h < 1 || h > 4 || v < 1 || v > 4) throw new JpegError('corrupt JPEG: bad sampling factors');
    if (seg[at + 2] > 3) throw new JpegError('corrupt JPEG: bad quantization table index');
    specs.push({ id: seg[at], h, v, quantIndex: seg[at + 2] });
  }
  const maxH = Math.max(...specs.map((c) => c.h));
  const maxV = Math.max(...specs.map((c) => c.v));
  // jdsample.c refuses sampling ratios that are not integers (JERR_FRACT_SAMPLE_NOTIMPL).
  if (specs.some((c) => maxH % c.h !== 0 || maxV % c.v !== 0)) throw new JpegError('unsupported JPEG: fractional chroma sampling');
  // Every block costs at least one bit (its DC code), so a frame needing more
  // blocks than the file has bits is truncated: refuse it before allocating planes.
  const blocks = specs.reduce((n, c) => n + Math.ceil((width * c.h) / (8 * maxH)) * Math.ceil((height * c.v) / (8 * maxV)), 0);
  if (blocks > 8 * fileLength) throw new JpegError(`truncated JPEG (too little data for ${width}x${height})`);
  const mcusPerLine = Math.ceil(width / (8 * maxH));
  const mcusPerColumn = Math.ceil(height / (8 * maxV));
  const components = specs.map((c): FrameComponent => {
    const blocksPerLine = mcusPerLine * c.h;
    const blocksPerColumn = mcusPerColumn * c.v;
    return {
      ...c,
      widthInBlocks: Math.ceil((width * c.h) / (8 * maxH)),
      heightInBlocks: Math.ceil((height * c.v) / (8 * maxV)),
      blocksPerLine,
      blocksPerColumn,
      coefs: progressive ? new Int16Array(blocksPerLine * blocksPerColumn * 64) : null,
      plane: new Uint8Array(blocksPerLine * blocksPerColumn * 64),
      quant: null,
    };
  });
  return { progressive, width, height, maxH, maxV, mcusPerLine, mcusPerColumn, components, scanned: components.map(() => false) };
}

function readQuantTables(seg: Uint8Array, tables: (Uint16Array | undefined)[]): void {
  let at = 0;
  while (at < seg.length) {
    const precision = seg[at] >> 4;
    const index = seg[at] & 15;
    if (precision > 1 || index > 3 || at + 1 + 64 * (precision + 1) > seg.length) throw new JpegError('corrupt JPEG: bad quantization table');
    const table = new Uint16Array(64);
    for (let k = 0; k < 64; k++) {
      table[NATURAL_ORDER[k]] = precision === 0 ? seg[at + 1 + k] : u16(seg, at + 1 + 2 * k);
    }
    tables[index] = table;
    at += 1 + 64 * (precision + 1);
  }
}

function readHuffmanTables(seg: Uint8Array, dc: (HuffmanTable | undefined)[], ac: (HuffmanTable | undefined)[]): void {
  let at = 0;
  while (at < seg.length) {
    const tableClass = seg[at] >> 4;
    const index = seg[at] & 15;
    if (tableClass > 1 || index > 3 || at + 17 > seg.length) throw new JpegError('corrupt JPEG: bad Huffman table');
    const counts = seg.subarray(at + 1, at + 17);
    const total = counts.reduce((a, b) => a + b, 0);
    if (total > 256 || at + 17 + total > seg.length) throw new JpegError('corrupt JPEG: bad Huffman table');
    const table = buildHuffmanTable(counts, seg.subarray(at + 17, at + 17 + total));
    (tableClass === 0 ? dc : ac)[index] = table;
    at += 17 + total;
  }
}

interface Tables {
  quant: (Uint16Array | undefined)[];
  dc: (HuffmanTable | undefined)[];
  ac: (HuffmanTable | undefined)[];
}

function readScanHeader(seg: Uint8Array, frame: FrameState, tables: Tables, restartInterval: number): Scan {
  const count = seg[0];
  if (count < 1 || count > 4 || seg.length < 4 + 2 * count) throw new JpegError('corrupt JPEG: bad scan header');
  const at = 1 + 2 * count;
  const ss = seg[at];
  const se = seg[at + 1];
  const ah = seg[at + 2] >> 4;
  const al = seg[at + 2] & 15;
  if (frame.progressive) {
    // jdphuff.c start_pass_phuff_decoder's checks.
    const bad = (ss === 0 ? se !== 0 : ss > se || se > 63 || count !== 1) || (ah !== 0 && al !== ah - 1) || al > 13;
    if (bad) throw new JpegError('corrupt JPEG: invalid progressive scan parameters');
  }
  const scan: Scan = { components: [], dcTables: [], acTables: [], ss, se, ah, al, restartInterval };
  for (let i = 0; i < count; i++) {
    const ci = frame.components.findIndex((c) => c.id === seg[1 + 2 * i]);
    const c = frame.components[ci];
    if (c === undefined || scan.components.includes(c)) throw new JpegError('corrupt JPEG: bad component in scan header');
    // Only the tables this kind of scan uses must exist.
    const needDc = !frame.progressive || (ss === 0 && ah === 0);
    const needAc = !frame.progressive || ss !== 0;
    const dc = tables.dc[seg[2 + 2 * i] >> 4];
    const ac = tables.ac[seg[2 + 2 * i] & 15];
    if ((needDc && dc === undefined) || (needAc && ac === undefined)) throw new JpegError('unsupported JPEG: scan uses an undefined Huffman table');
    scan.dcTables.push(dc ?? NO_TABLE);
    scan.acTables.push(ac ?? NO_TABLE);
    // libjpeg latches a component's quantization table at its first scan (jdinput.c latch_quant_tables).
    if (c.quant === null) {
      const quant = tables.quant[c.quantIndex];
      if (quant === undefined) throw new JpegError('corrupt JPEG: missing quantization table');
      c.quant = quant;
    }
    frame.scanned[ci] = true;
    scan.components.push(c);
  }
  if (count > 1 && scan.components.reduce((n, c) => n + c.h * c.v, 0) > 10) {
    throw new JpegError('corrupt JPEG: too many blocks in an MCU'); // D_MAX_BLOCKS_IN_MCU
  }
  return scan;
}

function colorSpaceOf(frame: FrameState, jfif: boolean, adobeTransform: number | null): JpegColorSpace {
  if (frame.components.length === 1) return 'gray';
  if (jfif) return 'ycc';
  if (adobeTransform !== null) return adobeTransform === 0 ? 'rgb' : 'ycc';
  const [a, b, c] = frame.components.map((comp) => comp.id);
  return a === 82 && b === 71 && c === 66 ? 'rgb' : 'ycc'; // component ids 'R', 'G', 'B'
}

/**
 * Decode JPEG bytes to component planes. `checkSize` sees the frame size
 * before any allocation and may throw to refuse it.
 */
export function decodeJpegPlanes(bytes: Uint8Array, checkSize: (width: number, height: number) => void): JpegPlanes {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new JpegError('not a JPEG (no start-of-image marker)');
  const tables: Tables = { quant: [], dc: [], ac: [] };
  let frame: FrameState | null = null;
  let restartInterval = 0;
  let jfif = false;
  let adobeTransform: number | null = null;
  let scans = 0;
  let pos = 2;
  for (;;) {
    const found = findMarker(bytes, pos);
    if (found === null) throw new JpegError('truncated JPEG (no end-of-image marker)');
    const marker = found.marker;
    pos = found.next;
    if (marker === 0xd9) break; // end of image
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // stray RSTn / TEM: no payload
    if (pos + 2 > bytes.length) throw new JpegError('truncated JPEG (segment header cut off)');
    const length = u16(bytes, pos);
    if (length < 2 || pos + length > bytes.length) throw new JpegError('truncated or corrupt JPEG (bad segment length)');
    const seg = bytes.subarray(pos + 2, pos + length);
    pos += length;
    const unsupported = unsupportedSof(marker);
    if (unsupported !== null) throw new JpegError(`unsupported JPEG: ${unsupported}`);
    if (marker === 0xcc) throw new JpegError('unsupported JPEG: arithmetic coding (DAC)');
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      if (frame !== null) throw new JpegError('corrupt JPEG: more than one frame header');
      frame = readFrame(seg, bytes.length, marker === 0xc2, checkSize);
    } else if (marker === 0xdb) {
      readQuantTables(seg, tables.quant);
    } else if (marker === 0xc4) {
      readHuffmanTables(seg, tables.dc, tables.ac);
    } else if (marker === 0xdd) {
      if (seg.length < 2) throw new JpegError('corrupt JPEG: bad restart interval');
      restartInterval = u16(seg, 0);
    } else if (marker === 0xda) {
      if (frame === null) throw new JpegError('corrupt JPEG: scan before frame header');
      const reader = new BitReader(bytes, pos);
      decodeScan(reader, frame, readScanHeader(seg, frame, tables, restartInterval));
      pos = reader.pos;
      scans++;
    } else if (marker === 0xe0) {
      // Like libjpeg, only markers before the first scan decide the colour space.
      if (scans === 0 && seg.length >= 14 && seg[0] === 0x4a && seg[1] === 0x46 && seg[2] === 0x49 && seg[3] === 0x46 && seg[4] === 0) jfif = true;
    } else if (marker === 0xee) {
      if (scans === 0 && seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === 'Adobe') adobeTransform = seg[11];
    } else if (!(marker >= 0xe1 && marker <= 0xef) && marker !== 0xfe && marker !== 0xdc) {
      // APPn, COM and DNL are skipped; libjpeg refuses anything else (JERR_UNKNOWN_MARKER).
      throw new JpegError(`corrupt JPEG: unexpected marker 0x${marker.toString(16)}`);
    }
  }
  if (frame === null) throw new JpegError('truncated or corrupt JPEG: no frame header (SOF)');
  if (frame.scanned.includes(false)) throw new JpegError('truncated or corrupt JPEG: a component has no scan');

  const { width, height, maxH, maxV } = frame;
  const planes = frame.components.map((c): JpegPlane => {
    const stride = c.blocksPerLine * 8;
    if (c.coefs !== null) {
      // Progressive: all scans are in, transform the blocks that hold image samples.
      const quant = c.quant as Uint16Array;
      for (let by = 0; by < c.heightInBlocks; by++) {
        for (let bx = 0; bx < c.widthInBlocks; bx++) {
          idctIslow(c.coefs, (by * c.blocksPerLine + bx) * 64, quant, c.plane, by * 8 * stride + bx * 8, stride);
        }
      }
    }
    return {
      samples: c.plane,
      stride,
      width: Math.ceil((width * c.h) / maxH),
      height: Math.ceil((height * c.v) / maxV),
      ratioH: maxH / c.h,
      ratioV: maxV / c.v,
    };
  });
  return { width, height, colorSpace: colorSpaceOf(frame, jfif, adobeTransform), planes };
}
