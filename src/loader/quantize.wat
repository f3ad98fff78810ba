;; The quantization rule of quantize.ts (docs/quantization.md) in WebAssembly SIMD, for the load:
;; the same bytes as quantizeRowsJs. The exact form ($code8): f64x2.div is float64 division and
;; f64x2.nearest rounds half to even, so the codes are those of the float64 rule, ties included.
;; The fast form (in $block) multiplies by the block's float32 reciprocal instead, four lanes at a
;; time: its quotient is within 127·2⁻²³ of the true w / scale, so wherever it lies farther than
;; 2⁻¹⁰ from a half the rounding is the same; the eight words of any lane nearer to a half go
;; through $code8. (The float64 division itself never moves a quotient across a half: a bf16 over a
;; normal f32 lies at least 2⁻²⁵ from every half it is not on, docs/quantization.md.)
;; Compiled by scripts/build-wasm.mjs into quantize-wasm.ts (tests check the two agree).
;;
;; quantize(bits, src, rows, K, dst, stride, scaleAt, rowBytes), addresses in this memory:
;;   src: rows × K bf16 words; dst: row r at dst + r·stride, rowBytes bytes zeroed, then codes
;;   (int8: byte k; int4: nibble k % 2 of byte k / 2, low first) and the f32 scales from scaleAt.
;;   bits 8: one block per row, codes in [-127, 127]; bits 4: blocks of 32, codes in [-8, 7].
(module
  (memory (export "memory") 1)

  ;; max |w| of words [from, to) as bf16 magnitude bits (|w| orders as its bits without the sign).
  (func $maxBits (param $from i32) (param $to i32) (result i32)
    (local $m v128) (local $r i32) (local $x i32)
    (local.set $m (v128.const i32x4 0 0 0 0))
    (block $done
      (loop $eight
        (br_if $done (i32.gt_u (i32.add (local.get $from) (i32.const 16)) (local.get $to)))
        (local.set $m (i16x8.max_u (local.get $m)
          (v128.and (v128.load (local.get $from)) (v128.const i16x8 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff))))
        (local.set $from (i32.add (local.get $from) (i32.const 16)))
        (br $eight)))
    (local.set $m (i16x8.max_u (local.get $m) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $m) (local.get $m))))
    (local.set $m (i16x8.max_u (local.get $m) (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $m) (local.get $m))))
    (local.set $m (i16x8.max_u (local.get $m) (i8x16.shuffle 2 3 0 1 2 3 0 1 2 3 0 1 2 3 0 1 (local.get $m) (local.get $m))))
    (local.set $r (i16x8.extract_lane_u 0 (local.get $m)))
    (block $end
      (loop $one
        (br_if $end (i32.ge_u (local.get $from) (local.get $to)))
        (local.set $x (i32.and (i32.load16_u (local.get $from)) (i32.const 0x7fff)))
        (if (i32.gt_u (local.get $x) (local.get $r)) (then (local.set $r (local.get $x))))
        (local.set $from (i32.add (local.get $from) (i32.const 2)))
        (br $one)))
    (local.get $r))

  ;; Eight codes as i16 lanes from the eight bf16 words at $at: clip(rint(w / scale)), two per f64x2.
  ;; (Written out four times: V8 does not inline wasm calls by default, and a call per pair halves the speed.)
  (func $code8 (param $at i32) (param $scale v128) (param $qmin v128) (param $qmax v128) (result v128)
    (local $v v128) (local $lo v128) (local $hi v128)
    (local.set $v (v128.load (local.get $at)))
    ;; bf16 → f32 bits: the word in the high half.
    (local.set $lo (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $v)) (i32.const 16)))
    (local.set $hi (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $v)) (i32.const 16)))
    (i16x8.narrow_i32x4_s
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (i32x4.trunc_sat_f64x2_s_zero (f64x2.max (local.get $qmin) (f64x2.min (local.get $qmax)
          (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4 (local.get $lo)) (local.get $scale))))))
        (i32x4.trunc_sat_f64x2_s_zero (f64x2.max (local.get $qmin) (f64x2.min (local.get $qmax)
          (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $lo) (local.get $lo))) (local.get $scale)))))))
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (i32x4.trunc_sat_f64x2_s_zero (f64x2.max (local.get $qmin) (f64x2.min (local.get $qmax)
          (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4 (local.get $hi)) (local.get $scale))))))
        (i32x4.trunc_sat_f64x2_s_zero (f64x2.max (local.get $qmin) (f64x2.min (local.get $qmax)
          (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $hi) (local.get $hi))) (local.get $scale)))))))))

  ;; One code, the scalar form of $code8 (a block's last words).
  (func $code1 (param $word i32) (param $scale f64) (param $qmin f64) (param $qmax f64) (result i32)
    (i32.trunc_sat_f64_s
      (f64.max (local.get $qmin) (f64.min (local.get $qmax)
        (f64.nearest (f64.div (f64.promote_f32 (f32.reinterpret_i32 (i32.shl (local.get $word) (i32.const 16))))
          (local.get $scale)))))))

  ;; The codes of words k ∈ [k0, k1) of a row (words at $src, codes at $dst) under $scale; $inv is
  ;; f32(1 / scale) for the fast form, or 0 where the scale is too small or too large for it.
  (func $block (param $bits i32) (param $src i32) (param $dst i32) (param $k0 i32) (param $k1 i32) (param $scale f64) (param $inv f32)
    (local $vs v128) (local $vmin v128) (local $vmax v128) (local $qmin f64) (local $qmax f64)
    (local $k i32) (local $c v128) (local $at i32)
    (local $vinv v128) (local $imin v128) (local $imax v128) (local $v v128)
    (local $lo v128) (local $hi v128) (local $rlo v128) (local $rhi v128)
    (if (i32.eq (local.get $bits) (i32.const 8))
      (then (local.set $qmin (f64.const -127)) (local.set $qmax (f64.const 127)))
      (else (local.set $qmin (f64.const -8)) (local.set $qmax (f64.const 7))))
    (local.set $vs (f64x2.splat (local.get $scale)))
    (local.set $vmin (f64x2.splat (local.get $qmin)))
    (local.set $vmax (f64x2.splat (local.get $qmax)))
    (local.set $vinv (f32x4.splat (local.get $inv)))
    (local.set $imin (i32x4.splat (i32.trunc_f64_s (local.get $qmin))))
    (local.set $imax (i32x4.splat (i32.trunc_f64_s (local.get $qmax))))
    (local.set $k (local.get $k0))
    (block $done
      (loop $eight
        (br_if $done (i32.gt_u (i32.add (local.get $k) (i32.const 8)) (local.get $k1)))
        (local.set $at (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const 1))))
        (if (f32.ne (local.get $inv) (f32.const 0))
          (then
            ;; w · inv, then + 1.5·2²³: the sum rounds to a whole number, half to even, whose
            ;; value sits in the low mantissa bits (bits − 0x4b400000 = the code).
            (local.set $v (v128.load (local.get $at)))
            (local.set $lo (f32x4.mul (local.get $vinv) (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $v)) (i32.const 16))))
            (local.set $hi (f32x4.mul (local.get $vinv) (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $v)) (i32.const 16))))
            (local.set $rlo (f32x4.add (local.get $lo) (v128.const f32x4 12582912 12582912 12582912 12582912)))
            (local.set $rhi (f32x4.add (local.get $hi) (v128.const f32x4 12582912 12582912 12582912 12582912)))
            (if (v128.any_true (v128.or
                  (f32x4.gt (f32x4.abs (f32x4.sub (local.get $lo) (f32x4.sub (local.get $rlo) (v128.const f32x4 12582912 12582912 12582912 12582912))))
                    (v128.const f32x4 0x1.ffp-2 0x1.ffp-2 0x1.ffp-2 0x1.ffp-2))
                  (f32x4.gt (f32x4.abs (f32x4.sub (local.get $hi) (f32x4.sub (local.get $rhi) (v128.const f32x4 12582912 12582912 12582912 12582912))))
                    (v128.const f32x4 0x1.ffp-2 0x1.ffp-2 0x1.ffp-2 0x1.ffp-2))))
              (then (local.set $c (call $code8 (local.get $at) (local.get $vs) (local.get $vmin) (local.get $vmax))))
              (else (local.set $c (i16x8.narrow_i32x4_s
                (i32x4.max_s (local.get $imin) (i32x4.min_s (local.get $imax)
                  (i32x4.sub (local.get $rlo) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))))
                (i32x4.max_s (local.get $imin) (i32x4.min_s (local.get $imax)
                  (i32x4.sub (local.get $rhi) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))))))))
          (else (local.set $c (call $code8 (local.get $at) (local.get $vs) (local.get $vmin) (local.get $vmax)))))
        (if (i32.eq (local.get $bits) (i32.const 8))
          (then (v128.store64_lane 0 (i32.add (local.get $dst) (local.get $k))
            (i8x16.narrow_i16x8_s (local.get $c) (local.get $c))))
          (else
            ;; Bytes q0..q7 read as i16 lanes q(2j) | q(2j+1) << 8 → (q(2j) & 15) | (q(2j+1) & 15) << 4.
            (local.set $c (i8x16.narrow_i16x8_s (local.get $c) (local.get $c)))
            (local.set $c (v128.or
              (v128.and (local.get $c) (v128.const i16x8 0x000f 0x000f 0x000f 0x000f 0x000f 0x000f 0x000f 0x000f))
              (i16x8.shr_u (v128.and (local.get $c) (v128.const i16x8 0x0f00 0x0f00 0x0f00 0x0f00 0x0f00 0x0f00 0x0f00 0x0f00)) (i32.const 4))))
            (v128.store32_lane 0 (i32.add (local.get $dst) (i32.shr_u (local.get $k) (i32.const 1)))
              (i8x16.narrow_i16x8_u (local.get $c) (local.get $c)))))
        (local.set $k (i32.add (local.get $k) (i32.const 8)))
        (br $eight)))
    (block $end
      (loop $one
        (br_if $end (i32.ge_u (local.get $k) (local.get $k1)))
        (local.set $at (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const 1))))
        (if (i32.eq (local.get $bits) (i32.const 8))
          (then (i32.store8 (i32.add (local.get $dst) (local.get $k))
            (call $code1 (i32.load16_u (local.get $at)) (local.get $scale) (local.get $qmin) (local.get $qmax))))
          (else
            (local.set $at (i32.add (local.get $dst) (i32.shr_u (local.get $k) (i32.const 1))))
            (i32.store8 (local.get $at) (i32.or (i32.load8_u (local.get $at))
              (i32.shl
                (i32.and (call $code1 (i32.load16_u (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const 1))))
                  (local.get $scale) (local.get $qmin) (local.get $qmax)) (i32.const 15))
                (i32.shl (i32.and (local.get $k) (i32.const 1)) (i32.const 2)))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $one))))

  (func (export "quantize") (param $bits i32) (param $src i32) (param $rows i32) (param $K i32)
        (param $dst i32) (param $stride i32) (param $scaleAt i32) (param $rowBytes i32)
    (local $r i32) (local $s i32) (local $d i32) (local $group i32) (local $g i32) (local $k0 i32) (local $k1 i32)
    (local $qmax f64) (local $scale f32)
    (if (i32.eq (local.get $bits) (i32.const 8))
      (then (local.set $group (local.get $K)) (local.set $qmax (f64.const 127)))
      (else (local.set $group (i32.const 32)) (local.set $qmax (f64.const 7))))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $K)) (i32.const 1))))
        (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $r) (local.get $stride))))
        (memory.fill (local.get $d) (i32.const 0) (local.get $rowBytes))
        (local.set $g (i32.const 0))
        (local.set $k0 (i32.const 0))
        (block $blocksDone
          (loop $blocks
            (br_if $blocksDone (i32.ge_u (local.get $k0) (local.get $K)))
            (local.set $k1 (i32.add (local.get $k0) (local.get $group)))
            (if (i32.gt_u (local.get $k1) (local.get $K)) (then (local.set $k1 (local.get $K))))
            ;; scale = f32(max|w| / qmax), the division in float64.
            (local.set $scale (f32.demote_f64 (f64.div
              (f64.promote_f32 (f32.reinterpret_i32 (i32.shl
                (call $maxBits
                  (i32.add (local.get $s) (i32.shl (local.get $k0) (i32.const 1)))
                  (i32.add (local.get $s) (i32.shl (local.get $k1) (i32.const 1))))
                (i32.const 16))))
              (local.get $qmax))))
            (f32.store (i32.add (i32.add (local.get $d) (local.get $scaleAt)) (i32.shl (local.get $g) (i32.const 2))) (local.get $scale))
            (if (f32.ne (local.get $scale) (f32.const 0))
              (then (call $block (local.get $bits) (local.get $s) (local.get $d) (local.get $k0) (local.get $k1)
                (f64.promote_f32 (local.get $scale))
                ;; The fast form wants a normal reciprocal and quotients far from overflow.
                (select (f32.div (f32.const 1) (local.get $scale)) (f32.const 0)
                  (i32.and (f32.ge (local.get $scale) (f32.const 0x1p-100)) (f32.le (local.get $scale) (f32.const 0x1p+100)))))))
            (local.set $g (i32.add (local.get $g) (i32.const 1)))
            (local.set $k0 (local.get $k1))
            (br $blocks)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))
)
