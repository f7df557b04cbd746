//! The 32-value block kernels for CPUs with AVX2 but no AVX-512: the same tiles, read as two
//! halves of 8 rows, with `vpmaddubsw` (unsigned weight byte × signed input byte, i16 pair
//! sums) and `vpmaddwd` in place of `vpdpbusd`.

use super::super::simd::{bcast4_256, load};
use super::super::ROWS;
use super::{ByteTile, HighBits, Mins, NibbleTile, Q8Block32, QB};
use std::arch::x86_64::*;

/// Rows of a tile in one 256-bit vector.
const HALF: usize = ROWS / 2;

/// `acc += d · dx · (dot - offset · Σx)` for each input row, and `+= m · dx · Σx` when `min`
/// is given; `d` and `min` are the 8 rows of this half.
#[inline(always)]
unsafe fn scale_block<const M: usize>(
    acc: &mut [__m256; M],
    dots: [__m256i; M],
    d: *const u16,
    min: Option<*const u16>,
    offset: i32,
    xs: &[&[Q8Block32]],
    blk: usize,
) {
    let d = _mm256_cvtph_ps(_mm_loadu_si128(d as *const __m128i));
    let m = min.map(|m| _mm256_cvtph_ps(_mm_loadu_si128(m as *const __m128i)));
    for i in 0..M {
        let xb = &xs[i][blk];
        let dx = _mm256_set1_ps(xb.d);
        let dot = _mm256_sub_epi32(dots[i], _mm256_set1_epi32(offset * xb.sum));
        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(d, dx), acc[i]);
        if let Some(m) = m {
            // the input's real sum is d_x · Σ q_x
            acc[i] = _mm256_fmadd_ps(m, _mm256_set1_ps(xb.d * xb.sum as f32), acc[i]);
        }
    }
}

/// 16 outputs of a Q8_0 matrix for each of `M` input rows.
///
/// The tiles hold `q + 128`, and 255·127 twice overflows `vpmaddubsw`'s i16 sums; so each
/// weight goes back to its signed value, and the sign moves to the input (ggml's AVX2 trick):
/// `|q| · (x · sign(q))`, at most 2·128·127 per pair.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn byte_unit<const M: usize>(
    tiles: &[ByteTile],
    xs: &[&[Q8Block32]],
    out: &mut [[f32; ROWS]],
) {
    let flip = _mm256_set1_epi8(-128);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_ps(); M]; 2];
    for (c, t) in tiles.iter().enumerate() {
        for (half, acc) in acc.iter_mut().enumerate() {
            for h in 0..2 {
                let blk = 2 * c + h;
                let mut dots = [_mm256_setzero_si256(); M];
                for g in 0..QB / 4 {
                    let at = (h * QB / 4 + g) * ROWS * 4 + half * 32;
                    let q = _mm256_xor_si256(load::<__m256i>(t.qs.as_ptr().add(at)), flip);
                    let magnitude = _mm256_abs_epi8(q);
                    for i in 0..M {
                        let x = _mm256_sign_epi8(bcast4_256(&xs[i][blk].qs, 4 * g), q);
                        let pairs = _mm256_maddubs_epi16(magnitude, x);
                        dots[i] = _mm256_add_epi32(dots[i], _mm256_madd_epi16(pairs, ones));
                    }
                }
                let d = t.d[h].as_ptr().add(half * HALF);
                scale_block::<M>(acc, dots, d, None, 0, xs, blk);
            }
        }
    }
    for (i, o) in out.iter_mut().enumerate().take(M) {
        _mm256_storeu_ps(o.as_mut_ptr(), acc[0][i]);
        _mm256_storeu_ps(o.as_mut_ptr().add(HALF), acc[1][i]);
    }
}

/// The 32 bits of `bits` as 32 bytes, 0x10 where the bit is set: the fifth bits of one half
/// of a 5-bit tile's vector (`HighBits`).
#[inline(always)]
unsafe fn fifth_bits(bits: u32) -> __m256i {
    // byte k of the result takes byte k / 8 of `bits` and tests bit k % 8
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(bits as i32),
        _mm256_set_epi64x(
            0x0303030303030303,
            0x0202020202020202,
            0x0101010101010101,
            0x0000000000000000,
        ),
    );
    let select = _mm256_set1_epi64x(0x8040201008040201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// 16 outputs of a 4-bit (`FIVE`: 5-bit) matrix for each of `M` input rows; `MIN`: the type
/// has per-block mins rather than an offset.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn nibble_unit<const M: usize, const FIVE: bool, const MIN: bool>(
    tiles: &[NibbleTile],
    high: &[HighBits],
    mins: &[Mins],
    offset: i32,
    xs: &[&[Q8Block32]],
    out: &mut [[f32; ROWS]],
) {
    let nib = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_ps(); M]; 2];
    for (c, t) in tiles.iter().enumerate() {
        for (half, acc) in acc.iter_mut().enumerate() {
            for h in 0..2 {
                let blk = 2 * c + h;
                let mut dots = [_mm256_setzero_si256(); M];
                // two groups' pair sums per widening: four of at most 2·31·127 fit an i16
                for pair in 0..QB / 16 {
                    let mut s = [_mm256_setzero_si256(); M];
                    for gg in 2 * pair..2 * pair + 2 {
                        let g = h * QB / 8 + gg;
                        let w = load::<__m256i>(t.qs.as_ptr().add(g * ROWS * 4 + half * 32));
                        let mut lo = _mm256_and_si256(w, nib);
                        let mut hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), nib);
                        if FIVE {
                            let hb = &high[c].0;
                            let part = |m: u64| (m >> (32 * half)) as u32;
                            lo = _mm256_or_si256(lo, fifth_bits(part(hb[2 * g])));
                            hi = _mm256_or_si256(hi, fifth_bits(part(hb[2 * g + 1])));
                        }
                        for i in 0..M {
                            let qs = &xs[i][blk].qs;
                            let p = _mm256_add_epi16(
                                _mm256_maddubs_epi16(lo, bcast4_256(qs, 8 * gg)),
                                _mm256_maddubs_epi16(hi, bcast4_256(qs, 8 * gg + 4)),
                            );
                            s[i] = _mm256_add_epi16(s[i], p);
                        }
                    }
                    for i in 0..M {
                        dots[i] = _mm256_add_epi32(dots[i], _mm256_madd_epi16(s[i], ones));
                    }
                }
                let d = t.d[h].as_ptr().add(half * HALF);
                let min = MIN.then(|| mins[c].0[h].as_ptr().add(half * HALF));
                scale_block::<M>(acc, dots, d, min, offset, xs, blk);
            }
        }
    }
    for (i, o) in out.iter_mut().enumerate().take(M) {
        _mm256_storeu_ps(o.as_mut_ptr(), acc[0][i]);
        _mm256_storeu_ps(o.as_mut_ptr().add(HALF), acc[1][i]);
    }
}
