// Entropy-coded data access for the JPEG decoder: marker search, Huffman
// tables and a bit reader that unstuffs 0xFF00 and stops at markers.
//
// libjpeg pads with zero bits when a scan runs into a marker or the end of the
// file and only warns (jdhuff.c jpeg_fill_bit_buffer). We count those padding
// bits instead, so the scan decoder can refuse a truncated or corrupt stream
// (JpegError, turned into an ImageError by the caller) rather than invent pixels.

/** A problem with the JPEG data; the caller adds the file name. */
export class JpegError extends Error {}

const LOOKAHEAD = 9;

/**
 * Canonical Huffman decoding table, organised like libjpeg's d_derived_tbl:
 * codes up to LOOKAHEAD bits resolve with one lookup
 * (entry = (code length << 8) | symbol, 0 for longer or invalid codes); longer
 * ones are found by comparing against the largest code of each length.
 */
export interface HuffmanTable {
  lookup: Uint16Array;
  /** Largest code of each length 0..16, -1 where there is none. */
  maxcode: Int32Array;
  /** Symbol index of a code of length l is code + valoffset[l]. */
  valoffset: Int32Array;
  symbols: Uint8Array;
}

export function buildHuffmanTable(counts: Uint8Array, symbols: Uint8Array): HuffmanTable {
  const lookup = new Uint16Array(1 << LOOKAHEAD);
  const maxcode = new Int32Array(17).fill(-1);
  const valoffset = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    const count = counts[length - 1];
    valoffset[length] = k - code;
    for (let i = 0; i < count; i++) {
      if (length <= LOOKAHEAD) {
        const shift = LOOKAHEAD - length;
        lookup.fill((length << 8) | symbols[k], code << shift, (code + 1) << shift);
      }
      code++;
      k++;
    }
    if (count > 0) {
      // As in jdhuff.c jpeg_make_d_derived_tbl: codes must fit their length
      // and the all-ones code is reserved, so the next free code must still fit.
      if (code >= 1 << length) throw new JpegError('corrupt JPEG: bad Huffman table');
      maxcode[length] = code - 1;
    }
    code <<= 1;
  }
  return { lookup, maxcode, valoffset, symbols: symbols.slice() };
}

/** Stands in for tables a scan does not use (every lookup fails). */
export const NO_TABLE = buildHuffmanTable(new Uint8Array(16), new Uint8Array(0));

/**
 * Position of the next marker at or after `pos`: skips stray bytes and stuffed
 * 0xFF00 pairs like libjpeg's next_marker (which only warns about them).
 * Returns the marker code and the position after it, or null at the end of data.
 */
export function findMarker(data: Uint8Array, pos: number): { marker: number; next: number } | null {
  let p = pos;
  while (p < data.length) {
    if (data[p] !== 0xff) {
      p++;
      continue;
    }
    let q = p + 1;
    while (q < data.length && data[q] === 0xff) q++; // fill bytes
    if (q >= data.length) return null;
    if (data[q] !== 0) return { marker: data[q], next: q + 1 };
    p = q + 1;
  }
  return null;
}

export class BitReader {
  private acc = 0;
  /** Valid bits in `acc` (the low ones), at most 32. */
  private nbits = 0;
  /** Zero bits appended to `acc` after the data ran out; consuming any of them means the scan was short. */
  private padding = 0;
  private atMarker = false;

  constructor(
    private readonly data: Uint8Array,
    /** Next byte to read; after the scan, where the marker search resumes. */
    public pos: number,
  ) {}

  private fill(): void {
    const data = this.data;
    while (this.nbits <= 24) {
      let byte = 0;
      if (this.atMarker || this.pos >= data.length) {
        this.atMarker = true;
        this.padding += 8;
      } else {
        byte = data[this.pos];
        if (byte !== 0xff) {
          this.pos++;
        } else {
          let q = this.pos + 1;
          while (q < data.length && data[q] === 0xff) q++;
          if (q < data.length && data[q] === 0) {
            this.pos = q + 1; // stuffed 0xFF
          } else {
            byte = 0; // a marker ends the entropy data; leave pos on it
            this.atMarker = true;
            this.padding += 8;
          }
        }
      }
      this.acc = (this.acc << 8) | byte;
      this.nbits += 8;
    }
  }

  /** True once more bits were consumed than the entropy data held. */
  get overrun(): boolean {
    return this.padding > this.nbits;
  }

  decode(table: HuffmanTable): number {
    if (this.nbits < 16) this.fill();
    const entry = table.lookup[(this.acc >>> (this.nbits - LOOKAHEAD)) & ((1 << LOOKAHEAD) - 1)];
    if (entry !== 0) {
      this.nbits -= entry >> 8;
      return entry & 0xff;
    }
    for (let length = LOOKAHEAD + 1; length <= 16; length++) {
      const code = (this.acc >>> (this.nbits - length)) & ((1 << length) - 1);
      if (code <= table.maxcode[length]) {
        this.nbits -= length;
        return table.symbols[code + table.valoffset[length]];
      }
    }
    throw new JpegError('corrupt JPEG data (invalid Huffman code)');
  }

  /** `n` raw bits, 0 <= n <= 16. */
  bits(n: number): number {
    if (n === 0) return 0;
    if (this.nbits < n) this.fill();
    this.nbits -= n;
    return (this.acc >>> this.nbits) & ((1 << n) - 1);
  }

  /** `n` bits read as a signed magnitude category (HUFF_EXTEND in jdhuff.h). */
  extend(n: number): number {
    if (n === 0) return 0;
    const v = this.bits(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  /** Drop buffered bits and consume the expected RSTn marker (jdhuff.c process_restart). */
  restart(index: number): void {
    const found = findMarker(this.data, this.pos);
    if (found === null) throw new JpegError('truncated JPEG data (missing restart marker)');
    if (found.marker !== 0xd0 + index) throw new JpegError('corrupt JPEG data (restart marker out of sequence)');
    this.pos = found.next;
    this.acc = 0;
    this.nbits = 0;
    this.padding = 0;
    this.atMarker = false;
  }
}
