//! The Q4_K and Q6_K kernels for AVX-512 with VNNI: one `vpdpbusd` gives 4 products for each of a
//! tile's 16 rows.

use super::super::simd::{bcast4, load, prefetch_part};
use super::super::Prefetch;
use super::super::ROWS;
use super::{Q8Block, TileQ4, TileQ6};
use std::arch::x86_64::*;
use std::mem::size_of;

/// How far ahead of the tile being computed to prefetch.
const PREFETCH_TILES: usize = 2;

/// 16 outputs of a Q4_K matrix for each of `M` input rows: `tiles` are one row of tiles,
/// `xs[i]` the matching blocks of input row i. `AHEAD` is the [`Prefetch`] level of the tiles
/// ahead, as one of its `LEVEL_*` values.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
pub(in crate::llm::local::gemv) unsafe fn q4_unit<const M: usize, const AHEAD: u8>(
    tiles: &[TileQ4],
    xs: &[&[Q8Block]],
    out: &mut [[f32; ROWS]],
) {
    let nib = _mm512_set1_epi8(0x0F);
    let low16 = _mm512_set1_epi32(0xFFFF);
    let mut acc = [_mm512_setzero_ps(); M];
    for (b, t) in tiles.iter().enumerate() {
        let mut dot = [_mm512_setzero_si512(); M];
        let mut off = [_mm512_setzero_si512(); M];
        for sub in 0..8 {
            // two chains per sub-block so the dpbusd latency overlaps
            let mut s0 = [_mm512_setzero_si512(); M];
            let mut s1 = [_mm512_setzero_si512(); M];
            for g4 in 0..4 {
                let g = sub * 4 + g4;
                prefetch_part(
                    t,
                    PREFETCH_TILES * size_of::<TileQ4>(),
                    g,
                    32,
                    Prefetch::of(AHEAD),
                );
                let w = load::<__m512i>(t.qs.as_ptr().add(g * ROWS * 4));
                let lo = _mm512_and_si512(w, nib);
                let hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), nib);
                for i in 0..M {
                    let xb = &xs[i][b];
                    s0[i] = _mm512_dpbusd_epi32(s0[i], lo, bcast4(&xb.qs, g * 8));
                    s1[i] = _mm512_dpbusd_epi32(s1[i], hi, bcast4(&xb.qs, g * 8 + 4));
                }
            }
            // The scale multiply as one `vpdpwssd` (s0·sc + s1·sc) instead of an add and
            // a `vpmulld` (two uops on the port the dot products need): each half-sum
            // fits an i16 (|s| ≤ 16·15·128), so the result is the same integer.
            let sc = _mm512_cvtepu8_epi32(load(t.scales[sub].as_ptr()));
            let sc2 = _mm512_or_si512(sc, _mm512_slli_epi32(sc, 16));
            for i in 0..M {
                let pair =
                    _mm512_or_si512(_mm512_and_si512(s0[i], low16), _mm512_slli_epi32(s1[i], 16));
                dot[i] = _mm512_dpwssd_epi32(dot[i], pair, sc2);
            }
        }
        // Σ mins·bsums over the 8 sub-blocks, two at a time with `vpdpwssd`.
        for j in 0..4 {
            let m0 = _mm512_cvtepu8_epi32(load(t.mins[2 * j].as_ptr()));
            let m1 = _mm512_cvtepu8_epi32(load(t.mins[2 * j + 1].as_ptr()));
            let mpair = _mm512_or_si512(m0, _mm512_slli_epi32(m1, 16));
            for i in 0..M {
                let bs = &xs[i][b].bsums;
                // each sub-block's sum of 32 inputs fits an i16 (|·| ≤ 32·128)
                let b0 = bs[4 * j] as i32 + bs[4 * j + 1] as i32;
                let b1 = bs[4 * j + 2] as i32 + bs[4 * j + 3] as i32;
                let bpair = _mm512_set1_epi32((b0 & 0xFFFF) | (b1 << 16));
                off[i] = _mm512_dpwssd_epi32(off[i], mpair, bpair);
            }
        }
        let d = _mm512_cvtph_ps(load(t.d.as_ptr() as *const u8));
        let dmin = _mm512_cvtph_ps(load(t.dmin.as_ptr() as *const u8));
        for i in 0..M {
            let dx = _mm512_set1_ps(xs[i][b].d);
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[i]), _mm512_mul_ps(d, dx), acc[i]);
            acc[i] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(off[i]), _mm512_mul_ps(dmin, dx), acc[i]);
        }
    }
    for i in 0..M {
        _mm512_storeu_ps(out[i].as_mut_ptr(), acc[i]);
    }
}

/// 16 outputs of a Q6_K matrix for each of `M` input rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
pub(in crate::llm::local::gemv) unsafe fn q6_unit<const M: usize, const AHEAD: u8>(
    tiles: &[TileQ6],
    xs: &[&[Q8Block]],
    out: &mut [[f32; ROWS]],
) {
    let nib = _mm512_set1_epi8(0x0F);
    let top = _mm512_set1_epi8(0x30);
    let mut acc = [_mm512_setzero_ps(); M];
    for (b, t) in tiles.iter().enumerate() {
        let mut dot = [_mm512_setzero_si512(); M];
        for h in 0..16 {
            prefetch_part(
                t,
                PREFETCH_TILES * size_of::<TileQ6>(),
                h,
                16,
                Prefetch::of(AHEAD),
            );
            let run = t.runs[h].as_ptr();
            let w0 = load::<__m512i>(run);
            let w1 = load::<__m512i>(run.add(ROWS * 4));
            let hb = load::<__m512i>(run.add(2 * ROWS * 4));
            let va = _mm512_or_si512(
                _mm512_and_si512(w0, nib),
                _mm512_and_si512(_mm512_slli_epi16(hb, 4), top),
            );
            let vb = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(w0, 4), nib),
                _mm512_and_si512(_mm512_slli_epi16(hb, 2), top),
            );
            let vc = _mm512_or_si512(_mm512_and_si512(w1, nib), _mm512_and_si512(hb, top));
            let vd = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(w1, 4), nib),
                _mm512_and_si512(_mm512_srli_epi16(hb, 2), top),
            );
            let sc = _mm512_cvtepi8_epi32(load(t.scales[h].as_ptr() as *const u8));
            for i in 0..M {
                let xb = &xs[i][b];
                let zero = _mm512_setzero_si512();
                let mut s0 = _mm512_dpbusd_epi32(zero, va, bcast4(&xb.qs, 16 * h));
                let mut s1 = _mm512_dpbusd_epi32(zero, vb, bcast4(&xb.qs, 16 * h + 4));
                s0 = _mm512_dpbusd_epi32(s0, vc, bcast4(&xb.qs, 16 * h + 8));
                s1 = _mm512_dpbusd_epi32(s1, vd, bcast4(&xb.qs, 16 * h + 12));
                // the values are stored +32
                let s = _mm512_sub_epi32(
                    _mm512_add_epi32(s0, s1),
                    _mm512_set1_epi32(xb.q6_offsets[h]),
                );
                dot[i] = _mm512_add_epi32(dot[i], _mm512_mullo_epi32(s, sc));
            }
        }
        let d = _mm512_cvtph_ps(load(t.d.as_ptr() as *const u8));
        for i in 0..M {
            let dx = _mm512_set1_ps(xs[i][b].d);
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[i]), _mm512_mul_ps(d, dx), acc[i]);
        }
    }
    for i in 0..M {
        _mm512_storeu_ps(out[i].as_mut_ptr(), acc[i]);
    }
}
