// Entropy decoding of one JPEG scan into DCT coefficients, following libjpeg:
// jdhuff.c decode_mcu (sequential) and jdphuff.c decode_mcu_DC_first /
// DC_refine / AC_first / AC_refine (progressive spectral selection and
// successive approximation). Valid streams give the same coefficients in any
// decoder; what is libjpeg-specific here is the MCU layout and restart
// handling. Corrupt streams are refused (JpegError) where libjpeg would only
// warn and substitute zeros.
import { BitReader, JpegError } from './jpeg-bits.js';
import type { HuffmanTable } from './jpeg-bits.js';
import { idctIslow } from './jpeg-idct.js';

/** Zigzag position -> natural (row-major) position (jutils.c jpeg_natural_order). */
export const NATURAL_ORDER = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57,
  50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

export interface FrameComponent {
  id: number;
  h: number;
  v: number;
  quantIndex: number;
  /** Blocks that hold image samples (jdinput.c width_in_blocks / height_in_blocks). */
  widthInBlocks: number;
  heightInBlocks: number;
  /** Allocated blocks per row: whole MCUs, as interleaved scans also decode the padding blocks. */
  blocksPerLine: number;
  blocksPerColumn: number;
  /** Progressive only: all coefficients, 64 per block in natural order, until the final IDCT. */
  coefs: Int16Array | null;
  /** Samples, blocksPerLine * 8 wide; filled by the IDCT. */
  plane: Uint8Array;
  /** Quantisation table (natural order), latched at the component's first scan as libjpeg does. */
  quant: Uint16Array | null;
}

export interface Frame {
  progressive: boolean;
  mcusPerLine: number;
  mcusPerColumn: number;
}

export interface Scan {
  components: FrameComponent[];
  dcTables: HuffmanTable[];
  acTables: HuffmanTable[];
  ss: number;
  se: number;
  ah: number;
  al: number;
  restartInterval: number;
}

type BlockDecoder = (reader: BitReader, coefs: Int16Array, at: number, ci: number) => void;

/** Decode one scan; sequential scans also run the IDCT, block by block. */
export function decodeScan(reader: BitReader, frame: Frame, scan: Scan): void {
  const { components, dcTables, acTables, ss, se, ah, al } = scan;
  const dcPred = new Int32Array(components.length);
  let eobrun = 0;
  const block = new Int16Array(64);

  const sequential: BlockDecoder = (r, coefs, at, ci) => {
    const s = r.decode(dcTables[ci]);
    if (s > 15) throw new JpegError('corrupt JPEG data (bad DC coefficient size)');
    dcPred[ci] += r.extend(s);
    coefs[at] = dcPred[ci];
    const table = acTables[ci];
    for (let k = 1; k < 64; k++) {
      const rs = r.decode(table);
      const size = rs & 15;
      const run = rs >> 4;
      if (size === 0) {
        if (run !== 15) break; // end of block
        k += 15;
        continue;
      }
      k += run;
      if (k > 63) throw new JpegError('corrupt JPEG data (coefficient index out of range)');
      coefs[at + NATURAL_ORDER[k]] = r.extend(size);
    }
  };

  const dcFirst: BlockDecoder = (r, coefs, at, ci) => {
    const s = r.decode(dcTables[ci]);
    if (s > 15) throw new JpegError('corrupt JPEG data (bad DC coefficient size)');
    dcPred[ci] += r.extend(s);
    coefs[at] = dcPred[ci] * (1 << al);
  };

  const dcRefine: BlockDecoder = (r, coefs, at) => {
    if (r.bits(1)) coefs[at] |= 1 << al;
  };

  const acFirst: BlockDecoder = (r, coefs, at, ci) => {
    if (eobrun > 0) {
      eobrun--;
      return;
    }
    const table = acTables[ci];
    for (let k = ss; k <= se; k++) {
      const rs = r.decode(table);
      const size = rs & 15;
      const run = rs >> 4;
      if (size === 0) {
        if (run === 15) {
          k += 15;
          continue;
        }
        eobrun = (1 << run) + r.bits(run) - 1; // EOBr: this block ends a run of 2^r + extra bits
        break;
      }
      k += run;
      if (k > 63) throw new JpegError('corrupt JPEG data (coefficient index out of range)');
      coefs[at + NATURAL_ORDER[k]] = r.extend(size) * (1 << al);
    }
  };

  const p1 = 1 << al;
  const m1 = -1 * (1 << al);
  /** Correction bit for an already nonzero coefficient: grow its magnitude by p1 unless done already. */
  const refine = (r: BitReader, coefs: Int16Array, pos: number): void => {
    if (r.bits(1) && (coefs[pos] & p1) === 0) coefs[pos] += coefs[pos] >= 0 ? p1 : m1;
  };

  const acRefine: BlockDecoder = (r, coefs, at, ci) => {
    let k = ss;
    if (eobrun === 0) {
      const table = acTables[ci];
      for (; k <= se; k++) {
        const rs = r.decode(table);
        const size = rs & 15;
        let run = rs >> 4;
        let value = 0;
        if (size !== 0) {
          if (size !== 1) throw new JpegError('corrupt JPEG data (bad refinement coefficient size)');
          value = r.bits(1) ? p1 : m1;
        } else if (run !== 15) {
          eobrun = (1 << run) + r.bits(run);
          break; // the rest of this block is handled by the end-of-band logic below
        }
        // Skip `run` still-zero coefficients, refining the nonzero ones on the way.
        for (;;) {
          if (k > se) {
            if (size !== 0) throw new JpegError('corrupt JPEG data (coefficient index out of range)');
            break;
          }
          const pos = at + NATURAL_ORDER[k];
          if (coefs[pos] !== 0) refine(r, coefs, pos);
          else if (--run < 0) break;
          k++;
        }
        if (value !== 0) coefs[at + NATURAL_ORDER[k]] = value;
      }
    }
    if (eobrun > 0) {
      for (; k <= se; k++) {
        const pos = at + NATURAL_ORDER[k];
        if (coefs[pos] !== 0) refine(r, coefs, pos);
      }
      eobrun--;
    }
  };

  let decodeBlock: BlockDecoder;
  if (!frame.progressive) decodeBlock = sequential;
  else if (ss === 0) decodeBlock = ah === 0 ? dcFirst : dcRefine;
  else decodeBlock = ah === 0 ? acFirst : acRefine;

  /** Decode block (bx, by) of component `ci` of the scan. */
  const visit = (ci: number, bx: number, by: number): void => {
    const c = components[ci];
    const index = by * c.blocksPerLine + bx;
    if (c.coefs !== null) {
      decodeBlock(reader, c.coefs, index * 64, ci);
      return;
    }
    block.fill(0);
    decodeBlock(reader, block, 0, ci);
    const stride = c.blocksPerLine * 8;
    idctIslow(block, 0, c.quant as Uint16Array, c.plane, by * 8 * stride + bx * 8, stride);
  };

  // A single-component scan is not interleaved: one block per MCU over the
  // component's own block grid (jdinput.c per_scan_setup).
  const single = components.length === 1;
  const mcusPerLine = single ? components[0].widthInBlocks : frame.mcusPerLine;
  const mcuCount = mcusPerLine * (single ? components[0].heightInBlocks : frame.mcusPerColumn);
  let restartIndex = 0;
  for (let mcu = 0; mcu < mcuCount; mcu++) {
    if (scan.restartInterval > 0 && mcu > 0 && mcu % scan.restartInterval === 0) {
      reader.restart(restartIndex);
      restartIndex = (restartIndex + 1) & 7;
      dcPred.fill(0);
      eobrun = 0;
    }
    const mx = mcu % mcusPerLine;
    const my = (mcu - mx) / mcusPerLine;
    if (single) {
      visit(0, mx, my);
    } else {
      for (let ci = 0; ci < components.length; ci++) {
        const c = components[ci];
        for (let v = 0; v < c.v; v++) {
          for (let h = 0; h < c.h; h++) visit(ci, mx * c.h + h, my * c.v + v);
        }
      }
    }
    if (reader.overrun) throw new JpegError('truncated JPEG or corrupt entropy data (scan ends early)');
  }
}
