//! The 32-value block kernels for AVX-512 with VNNI.

use super::super::simd::{bcast4, load, prefetch};
use super::super::Prefetch;
use super::super::ROWS;
use super::{ByteTile, HighBits, Mins, NibbleTile, Q8Block32, QB};
use std::arch::x86_64::*;

/// How far ahead of the tile being computed to prefetch.
const PREFETCH_TILES: usize = 3;
/// Into L1: unlike the K-quant kernels', these did not move with L2 on session 31's Intel,
/// where the models they serve fit the L3.
const TO: Prefetch = Prefetch::L1;

/// `acc += d · dx · (dot - offset · Σx)` for each input row, and `+= m · dx · Σx` when
/// `min` is given.
#[inline(always)]
unsafe fn scale_block<const M: usize>(
    acc: &mut [__m512; M],
    dots: [__m512i; M],
    d: &[u16; ROWS],
    min: Option<&[u16; ROWS]>,
    offset: i32,
    xs: &[&[Q8Block32]],
    blk: usize,
) {
    let d = _mm512_cvtph_ps(load(d.as_ptr() as *const u8));
    let m = min.map(|m| _mm512_cvtph_ps(load(m.as_ptr() as *const u8)));
    for i in 0..M {
        let xb = &xs[i][blk];
        let dx = _mm512_set1_ps(xb.d);
        let dot = _mm512_sub_epi32(dots[i], _mm512_set1_epi32(offset * xb.sum));
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, dx), acc[i]);
        if let Some(m) = m {
            // the input's real sum is d_x · Σ q_x
            acc[i] = _mm512_fmadd_ps(m, _mm512_set1_ps(xb.d * xb.sum as f32), acc[i]);
        }
    }
}

/// 16 outputs of a Q8_0 matrix for each of `M` input rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
pub(super) unsafe fn byte_unit<const M: usize>(
    tiles: &[ByteTile],
    xs: &[&[Q8Block32]],
    out: &mut [[f32; ROWS]],
) {
    let mut acc = [_mm512_setzero_ps(); M];
    for (c, t) in tiles.iter().enumerate() {
        prefetch(t, PREFETCH_TILES * std::mem::size_of::<ByteTile>(), TO);
        for h in 0..2 {
            let blk = 2 * c + h;
            // two chains so the dpbusd latency overlaps
            let mut s0 = [_mm512_setzero_si512(); M];
            let mut s1 = [_mm512_setzero_si512(); M];
            for g in (0..QB / 4).step_by(2) {
                let at = (h * QB / 4 + g) * ROWS * 4;
                let w0 = load::<__m512i>(t.qs.as_ptr().add(at));
                let w1 = load::<__m512i>(t.qs.as_ptr().add(at + ROWS * 4));
                for i in 0..M {
                    let qs = &xs[i][blk].qs;
                    s0[i] = _mm512_dpbusd_epi32(s0[i], w0, bcast4(qs, 4 * g));
                    s1[i] = _mm512_dpbusd_epi32(s1[i], w1, bcast4(qs, 4 * g + 4));
                }
            }
            let dots = std::array::from_fn(|i| _mm512_add_epi32(s0[i], s1[i]));
            scale_block::<M>(&mut acc, dots, &t.d[h], None, 128, xs, blk);
        }
    }
    for i in 0..M {
        _mm512_storeu_ps(out[i].as_mut_ptr(), acc[i]);
    }
}

/// 16 outputs of a 4-bit (`FIVE`: 5-bit) matrix for each of `M` input rows; `MIN`: the
/// type has per-block mins rather than an offset.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
pub(super) unsafe fn nibble_unit<const M: usize, const FIVE: bool, const MIN: bool>(
    tiles: &[NibbleTile],
    high: &[HighBits],
    mins: &[Mins],
    offset: i32,
    xs: &[&[Q8Block32]],
    out: &mut [[f32; ROWS]],
) {
    let nib = _mm512_set1_epi8(0x0F);
    let sixteen = _mm512_set1_epi8(0x10);
    let mut acc = [_mm512_setzero_ps(); M];
    for (c, t) in tiles.iter().enumerate() {
        prefetch(t, PREFETCH_TILES * std::mem::size_of::<NibbleTile>(), TO);
        if FIVE {
            prefetch(
                &high[c],
                PREFETCH_TILES * std::mem::size_of::<HighBits>(),
                TO,
            );
        }
        if MIN {
            prefetch(&mins[c], PREFETCH_TILES * std::mem::size_of::<Mins>(), TO);
        }
        for h in 0..2 {
            let blk = 2 * c + h;
            let mut s0 = [_mm512_setzero_si512(); M];
            let mut s1 = [_mm512_setzero_si512(); M];
            for gg in 0..QB / 8 {
                let g = h * QB / 8 + gg;
                let w = load::<__m512i>(t.qs.as_ptr().add(g * ROWS * 4));
                let mut lo = _mm512_and_si512(w, nib);
                let mut hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), nib);
                if FIVE {
                    let hb = &high[c].0;
                    lo = _mm512_mask_add_epi8(lo, hb[2 * g], lo, sixteen);
                    hi = _mm512_mask_add_epi8(hi, hb[2 * g + 1], hi, sixteen);
                }
                for i in 0..M {
                    let qs = &xs[i][blk].qs;
                    s0[i] = _mm512_dpbusd_epi32(s0[i], lo, bcast4(qs, 8 * gg));
                    s1[i] = _mm512_dpbusd_epi32(s1[i], hi, bcast4(qs, 8 * gg + 4));
                }
            }
            let dots = std::array::from_fn(|i| _mm512_add_epi32(s0[i], s1[i]));
            let min = if MIN { Some(&mins[c].0[h]) } else { None };
            scale_block::<M>(&mut acc, dots, &t.d[h], min, offset, xs, blk);
        }
    }
    for i in 0..M {
        _mm512_storeu_ps(out[i].as_mut_ptr(), acc[i]);
    }
}
