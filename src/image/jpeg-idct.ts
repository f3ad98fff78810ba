// Port of libjpeg's default inverse DCT, JDCT_ISLOW (jidctint.c jpeg_idct_islow,
// as in libjpeg-turbo, whose SIMD versions give the same results): 8x8,
// dequantisation folded in, 13-bit fixed-point constants, PASS1_BITS = 2.
// Bit-exactness matters because PIL (hence Hugging Face's reference pixels)
// decodes with it; a float IDCT is off by 1-2 levels.
//
// Arithmetic: DEQUANTIZE is a C int multiply (Math.imul wraps the same way);
// everything after it is JLONG (64-bit) in C. The values stay far below 2^53,
// so plain JS numbers are exact, and Math.floor(x / 2^n) is C's arithmetic
// right shift. The pass-1 workspace is `int` in C: an Int32Array truncates alike.

const CONST_BITS = 13;
const PASS1_BITS = 2;
// FIX(x) = round(x * 2^13), the constants of jidctint.c.
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

// DESCALE(x, n) = (x + 2^(n-1)) >> n for the two passes.
const PASS1_SHIFT = CONST_BITS - PASS1_BITS;
const PASS1_ROUND = 2 ** (PASS1_SHIFT - 1);
const PASS1_DIV = 2 ** PASS1_SHIFT;
const PASS2_SHIFT = CONST_BITS + PASS1_BITS + 3;
const PASS2_ROUND = 2 ** (PASS2_SHIFT - 1);
const PASS2_DIV = 2 ** PASS2_SHIFT;
const ONE_CONST = 2 ** CONST_BITS;

/**
 * IDCT_range_limit (jdmaster.c prepare_range_limit_table), indexed by the
 * output & RANGE_MASK (1023): values -512..511 wrap into the table, are shifted
 * by CENTERJSAMPLE and clamped to 0..255. Overflowing garbage wraps as in C.
 */
const RANGE_LIMIT = new Uint8Array(1024);
for (let x = 0; x < 1024; x++) {
  const v = (x < 512 ? x : x - 1024) + 128;
  RANGE_LIMIT[x] = v < 0 ? 0 : v > 255 ? 255 : v;
}

const workspace = new Int32Array(64);

/**
 * Dequantise and inverse-transform the block at coefs[at..at+64) (natural
 * order) with `quant` (natural order) into out[outAt + row * stride + col].
 */
export function idctIslow(coefs: Int16Array, at: number, quant: Uint16Array, out: Uint8Array, outAt: number, stride: number): void {
  const ws = workspace;
  // Pass 1: columns from the input into the workspace, scaled up by 2^PASS1_BITS.
  for (let col = 0; col < 8; col++) {
    const c = at + col;
    if (
      coefs[c + 8] === 0 && coefs[c + 16] === 0 && coefs[c + 24] === 0 && coefs[c + 32] === 0 &&
      coefs[c + 40] === 0 && coefs[c + 48] === 0 && coefs[c + 56] === 0
    ) {
      // AC terms all zero: the column is its DC value (same result as the full path, only faster).
      const dc = Math.imul(coefs[c], quant[col]) << PASS1_BITS;
      for (let row = 0; row < 8; row++) ws[row * 8 + col] = dc;
      continue;
    }
    // Even part.
    let z2 = Math.imul(coefs[c + 16], quant[col + 16]);
    let z3 = Math.imul(coefs[c + 48], quant[col + 48]);
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    z2 = Math.imul(coefs[c], quant[col]);
    z3 = Math.imul(coefs[c + 32], quant[col + 32]);
    let tmp0 = (z2 + z3) * ONE_CONST;
    let tmp1 = (z2 - z3) * ONE_CONST;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    // Odd part.
    tmp0 = Math.imul(coefs[c + 56], quant[col + 56]);
    tmp1 = Math.imul(coefs[c + 40], quant[col + 40]);
    tmp2 = Math.imul(coefs[c + 24], quant[col + 24]);
    tmp3 = Math.imul(coefs[c + 8], quant[col + 8]);
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    ws[col] = Math.floor((tmp10 + tmp3 + PASS1_ROUND) / PASS1_DIV);
    ws[col + 56] = Math.floor((tmp10 - tmp3 + PASS1_ROUND) / PASS1_DIV);
    ws[col + 8] = Math.floor((tmp11 + tmp2 + PASS1_ROUND) / PASS1_DIV);
    ws[col + 48] = Math.floor((tmp11 - tmp2 + PASS1_ROUND) / PASS1_DIV);
    ws[col + 16] = Math.floor((tmp12 + tmp1 + PASS1_ROUND) / PASS1_DIV);
    ws[col + 40] = Math.floor((tmp12 - tmp1 + PASS1_ROUND) / PASS1_DIV);
    ws[col + 24] = Math.floor((tmp13 + tmp0 + PASS1_ROUND) / PASS1_DIV);
    ws[col + 32] = Math.floor((tmp13 - tmp0 + PASS1_ROUND) / PASS1_DIV);
  }

  // Pass 2: rows from the workspace to samples, removing the 2^PASS1_BITS and the 8x IDCT gain.
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    const o = outAt + row * stride;
    if (ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 && ws[w + 4] === 0 && ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0) {
      const v = RANGE_LIMIT[(Math.floor((ws[w] + 16) / 32)) & 1023]; // DESCALE(ws[0], PASS1_BITS + 3)
      for (let i = 0; i < 8; i++) out[o + i] = v;
      continue;
    }
    let z2 = ws[w + 2];
    let z3 = ws[w + 6];
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (ws[w] + ws[w + 4]) * ONE_CONST;
    let tmp1 = (ws[w] - ws[w + 4]) * ONE_CONST;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp0 = ws[w + 7];
    tmp1 = ws[w + 5];
    tmp2 = ws[w + 3];
    tmp3 = ws[w + 1];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    out[o] = RANGE_LIMIT[Math.floor((tmp10 + tmp3 + PASS2_ROUND) / PASS2_DIV) & 1023];
    out[o + 7] = RANGE_LIMIT[Math.floor((tmp10 - tmp3 + PASS2_ROUND) / PASS2_DIV) & 1023];
    out[o + 1] = RANGE_LIMIT[Math.floor((tmp11 + tmp2 + PASS2_ROUND) / PASS2_DIV) & 1023];
    out[o + 6] = RANGE_LIMIT[Math.floor((tmp11 - tmp2 + PASS2_ROUND) / PASS2_DIV) & 1023];
    out[o + 2] = RANGE_LIMIT[Math.floor((tmp12 + tmp1 + PASS2_ROUND) / PASS2_DIV) & 1023];
    out[o + 5] = RANGE_LIMIT[Math.floor((tmp12 - tmp1 + PASS2_ROUND) / PASS2_DIV) & 1023];
    out[o + 3] = RANGE_LIMIT[Math.floor((tmp13 + tmp0 + PASS2_ROUND) / PASS2_DIV) & 1023];
    out[o + 4] = RANGE_LIMIT[Math.floor((tmp13 - tmp0 + PASS2_ROUND) / PASS2_DIV) & 1023];
  }
}
