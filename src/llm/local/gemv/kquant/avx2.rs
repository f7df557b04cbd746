//! The Q4_K and Q6_K kernels for CPUs with AVX2 but no AVX-512 (Zen 2 and 3, Intel before Ice
//! Lake): the same tiles, read as two halves of 8 rows. AVX2 has no `vpdpbusd`; `vpmaddubsw`
//! multiplies unsigned weight bytes by signed input bytes into i16 pair sums, which are summed
//! in i16 as long as they cannot overflow and then widened by `vpmaddwd` against the sub-block
//! scale, which costs nothing extra: the scale multiply was needed anyway.

use super::super::simd::{bcast4_256, load};
use super::super::ROWS;
use super::{Q8Block, TileQ4, TileQ6};
use std::arch::x86_64::*;

/// Rows of a tile in one 256-bit vector.
const HALF: usize = ROWS / 2;

/// `lo` and `hi` (8 lanes of i32 holding values that fit an i16) packed into the low and high
/// i16 of each lane: the per-row factors `vpmaddwd` applies to a row's two i16 sums.
#[inline(always)]
unsafe fn pair(lo: __m256i, hi: __m256i) -> __m256i {
    _mm256_or_si256(
        _mm256_and_si256(lo, _mm256_set1_epi32(0xFFFF)),
        _mm256_slli_epi32(hi, 16),
    )
}

/// The 8 bytes at `p` (one half of a 16-row table), as 8 lanes of i32, zero-extended.
#[inline(always)]
unsafe fn u8x8(p: *const u8) -> __m256i {
    _mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))
}

/// The same for signed bytes, sign-extended.
#[inline(always)]
unsafe fn i8x8(p: *const i8) -> __m256i {
    _mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i))
}

/// 16 outputs of a Q4_K matrix for each of `M` input rows: `tiles` are one row of tiles,
/// `xs[i]` the matching blocks of input row i.
#[target_feature(enable = "avx2,fma,f16c")]
pub(in crate::llm::local::gemv) unsafe fn q4_unit<const M: usize>(
    tiles: &[TileQ4],
    xs: &[&[Q8Block]],
    out: &mut [[f32; ROWS]],
) {
    let nib = _mm256_set1_epi8(0x0F);
    let mut acc = [[_mm256_setzero_ps(); M]; 2];
    for (b, t) in tiles.iter().enumerate() {
        for (half, acc) in acc.iter_mut().enumerate() {
            let mut dot = [_mm256_setzero_si256(); M];
            for sub in 0..8 {
                // i16 pair sums of one sub-block: 8 of at most 2·15·127 each fit
                let mut s = [_mm256_setzero_si256(); M];
                for g4 in 0..4 {
                    let g = sub * 4 + g4;
                    let w = load::<__m256i>(t.qs.as_ptr().add(g * ROWS * 4 + half * 32));
                    let lo = _mm256_and_si256(w, nib);
                    let hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), nib);
                    for i in 0..M {
                        let qs = &xs[i][b].qs;
                        let p = _mm256_add_epi16(
                            _mm256_maddubs_epi16(lo, bcast4_256(qs, g * 8)),
                            _mm256_maddubs_epi16(hi, bcast4_256(qs, g * 8 + 4)),
                        );
                        s[i] = _mm256_add_epi16(s[i], p);
                    }
                }
                let sc = u8x8(t.scales[sub].as_ptr().add(half * HALF));
                let sc = pair(sc, sc);
                for i in 0..M {
                    dot[i] = _mm256_add_epi32(dot[i], _mm256_madd_epi16(s[i], sc));
                }
            }
            // Σ mins·bsums over the 8 sub-blocks, two at a time
            let mut off = [_mm256_setzero_si256(); M];
            for j in 0..4 {
                let m0 = u8x8(t.mins[2 * j].as_ptr().add(half * HALF));
                let m1 = u8x8(t.mins[2 * j + 1].as_ptr().add(half * HALF));
                let mpair = pair(m0, m1);
                for i in 0..M {
                    let bs = &xs[i][b].bsums;
                    // each sub-block's sum of 32 inputs fits an i16 (|·| ≤ 32·128)
                    let b0 = bs[4 * j] as i32 + bs[4 * j + 1] as i32;
                    let b1 = bs[4 * j + 2] as i32 + bs[4 * j + 3] as i32;
                    let bpair = _mm256_set1_epi32((b0 & 0xFFFF) | (b1 << 16));
                    off[i] = _mm256_add_epi32(off[i], _mm256_madd_epi16(mpair, bpair));
                }
            }
            let d = _mm256_cvtph_ps(_mm_loadu_si128(t.d.as_ptr().add(half * HALF) as *const _));
            let dmin =
                _mm256_cvtph_ps(_mm_loadu_si128(t.dmin.as_ptr().add(half * HALF) as *const _));
            for i in 0..M {
                let dx = _mm256_set1_ps(xs[i][b].d);
                acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[i]), _mm256_mul_ps(d, dx), acc[i]);
                acc[i] =
                    _mm256_fnmadd_ps(_mm256_cvtepi32_ps(off[i]), _mm256_mul_ps(dmin, dx), acc[i]);
            }
        }
    }
    for (i, o) in out.iter_mut().enumerate().take(M) {
        _mm256_storeu_ps(o.as_mut_ptr(), acc[0][i]);
        _mm256_storeu_ps(o.as_mut_ptr().add(HALF), acc[1][i]);
    }
}

/// 16 outputs of a Q6_K matrix for each of `M` input rows.
#[target_feature(enable = "avx2,fma,f16c")]
pub(in crate::llm::local::gemv) unsafe fn q6_unit<const M: usize>(
    tiles: &[TileQ6],
    xs: &[&[Q8Block]],
    out: &mut [[f32; ROWS]],
) {
    let nib = _mm256_set1_epi8(0x0F);
    let top = _mm256_set1_epi8(0x30);
    let mut acc = [[_mm256_setzero_ps(); M]; 2];
    for (b, t) in tiles.iter().enumerate() {
        for (half, acc) in acc.iter_mut().enumerate() {
            let mut dot = [_mm256_setzero_si256(); M];
            for h in 0..16 {
                let run = t.runs[h].as_ptr().add(half * 32);
                let w0 = load::<__m256i>(run);
                let w1 = load::<__m256i>(run.add(ROWS * 4));
                let hb = load::<__m256i>(run.add(2 * ROWS * 4));
                let va = _mm256_or_si256(
                    _mm256_and_si256(w0, nib),
                    _mm256_and_si256(_mm256_slli_epi16(hb, 4), top),
                );
                let vb = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(w0, 4), nib),
                    _mm256_and_si256(_mm256_slli_epi16(hb, 2), top),
                );
                let vc = _mm256_or_si256(_mm256_and_si256(w1, nib), _mm256_and_si256(hb, top));
                let vd = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(w1, 4), nib),
                    _mm256_and_si256(_mm256_srli_epi16(hb, 2), top),
                );
                let sc = i8x8(t.scales[h].as_ptr().add(half * HALF));
                let sc = pair(sc, sc);
                for i in 0..M {
                    let qs = &xs[i][b].qs;
                    // two pair sums of at most 2·63·127 each fit an i16; four would not
                    let s0 = _mm256_add_epi16(
                        _mm256_maddubs_epi16(va, bcast4_256(qs, 16 * h)),
                        _mm256_maddubs_epi16(vb, bcast4_256(qs, 16 * h + 4)),
                    );
                    let s1 = _mm256_add_epi16(
                        _mm256_maddubs_epi16(vc, bcast4_256(qs, 16 * h + 8)),
                        _mm256_maddubs_epi16(vd, bcast4_256(qs, 16 * h + 12)),
                    );
                    dot[i] = _mm256_add_epi32(
                        dot[i],
                        _mm256_add_epi32(_mm256_madd_epi16(s0, sc), _mm256_madd_epi16(s1, sc)),
                    );
                }
            }
            // the values are stored +32: take 32 · Σ scale·bsum, two sub-blocks at a time
            for j in 0..8 {
                let sc = |h: usize| i8x8(t.scales[h].as_ptr().add(half * HALF));
                let spair = pair(sc(2 * j), sc(2 * j + 1));
                for i in 0..M {
                    let bs = &xs[i][b].bsums;
                    let bpair = _mm256_set1_epi32(
                        (bs[2 * j] as i32 & 0xFFFF) | ((bs[2 * j + 1] as i32) << 16),
                    );
                    let offset = _mm256_slli_epi32(_mm256_madd_epi16(spair, bpair), 5);
                    dot[i] = _mm256_sub_epi32(dot[i], offset);
                }
            }
            let d = _mm256_cvtph_ps(_mm_loadu_si128(t.d.as_ptr().add(half * HALF) as *const _));
            for i in 0..M {
                let dx = _mm256_set1_ps(xs[i][b].d);
                acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[i]), _mm256_mul_ps(d, dx), acc[i]);
            }
        }
    }
    for (i, o) in out.iter_mut().enumerate().take(M) {
        _mm256_storeu_ps(o.as_mut_ptr(), acc[0][i]);
        _mm256_storeu_ps(o.as_mut_ptr().add(HALF), acc[1][i]);
    }
}
