//! Products of Q4_K and Q6_K weights with a few input rows, with AVX-512 VNNI: one row when
//! decoding, up to 31 for a short prefill such as an operator's goal line (`model.rs` routes
//! longer inputs to candle's AMX kernel).
//!
//! Decoding reads every weight once per token, so its speed is the bytes it reads. candle's
//! repacked Q4_K tiles keep each row's scales and mins as f32: 6 bits per weight against the
//! file's 4.5; and its Q6_K GEMV walks one row at a time. These tiles keep the file's 6-bit
//! integer scales (4.6 bits per Q4_K weight, 6.6 per Q6_K) and interleave 16 rows, so one
//! `vpdpbusd` yields 4 products for each of 16 outputs and no horizontal sums are needed.
//!
//! The input is quantized once per call to ggml's Q8_K (i8 per value, one f32 scale and 16-value
//! sums per 256), the integer dot products are exact, and each output is scaled once per
//! 256-value block: the same arithmetic as ggml's `vec_dot_q4_K_q8_K` and `vec_dot_q6_K_q8_K`.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Result;

/// Values per K-quant super-block.
const QK: usize = 256;
/// Output rows interleaved in one tile.
const ROWS: usize = 16;
const Q4K_BYTES: usize = 144;
const Q6K_BYTES: usize = 210;

/// 256 input values quantized to i8: ggml's Q8_K.
#[derive(Clone)]
pub struct Q8Block {
    d: f32,
    qs: [i8; QK],
    /// Sums of each 16 consecutive `qs`, for the weights' offsets (Q4_K mins, Q6_K's -32).
    bsums: [i16; QK / 16],
}

/// Quantizes `x` (a multiple of 256 long) block by block.
pub fn quantize_input(x: &[f32]) -> Vec<Q8Block> {
    x.chunks_exact(QK)
        .map(|xs| {
            let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
            let mut b = Q8Block {
                d: amax / 127.0,
                qs: [0; QK],
                bsums: [0; QK / 16],
            };
            if amax > 0.0 {
                let id = 127.0 / amax;
                for (q, v) in b.qs.iter_mut().zip(xs) {
                    *q = (v * id).round().clamp(-127.0, 127.0) as i8;
                }
            }
            for (s, qs) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                *s = qs.iter().map(|&q| q as i16).sum();
            }
            b
        })
        .collect()
}

/// 16 rows × 256 columns of a Q4_K matrix.
#[repr(C, align(64))]
struct TileQ4 {
    /// Per-row super-block scale and min scale, f16 bits.
    d: [u16; ROWS],
    dmin: [u16; ROWS],
    /// The 6-bit sub-block scales and mins, `[sub-block of 32][row]`.
    scales: [[u8; ROWS]; 8],
    mins: [[u8; ROWS]; 8],
    /// `[group of 8 columns][row][4 bytes]`; byte j holds column 8g+j in its low nibble and
    /// column 8g+j+4 in its high nibble.
    qs: [u8; QK / 2 * ROWS],
}

/// 16 rows × 256 columns of a Q6_K matrix; the 6-bit values (stored +32) are split into their
/// low nibble and their top two bits.
#[repr(C, align(64))]
struct TileQ6 {
    d: [u16; ROWS],
    _pad: [u8; 32],
    /// `[sub-block of 16][row]`.
    scales: [[i8; ROWS]; 16],
    /// Low nibbles, laid out as `TileQ4::qs`.
    lo: [u8; QK / 2 * ROWS],
    /// `[group of 16 columns][row][4 bytes]`; byte j holds the top bits of columns 16h+j,
    /// +4, +8 and +12 at bits 0, 2, 4 and 6.
    hi: [u8; QK / 4 * ROWS],
}

// The kernels load tile fields with aligned loads (see `avx512::load`).
const _: () = {
    assert!(std::mem::offset_of!(TileQ4, scales) % 16 == 0);
    assert!(std::mem::offset_of!(TileQ4, mins) % 16 == 0);
    assert!(std::mem::offset_of!(TileQ4, dmin) % 32 == 0);
    assert!(std::mem::offset_of!(TileQ4, qs) % 64 == 0);
    assert!(std::mem::offset_of!(TileQ6, scales) % 16 == 0);
    assert!(std::mem::offset_of!(TileQ6, lo) % 64 == 0);
    assert!(std::mem::offset_of!(TileQ6, hi) % 64 == 0);
};

enum Tiles {
    Q4(Vec<TileQ4>),
    Q6(Vec<TileQ6>),
}

/// A weight matrix `(n, k)` repacked for [`products`].
pub struct PackedWeight {
    tiles: Tiles,
    n: usize,
    k: usize,
}

impl PackedWeight {
    /// Repacks `t` when this CPU has the kernels and the matrix fits them (Q4_K or Q6_K, rows a
    /// multiple of 16); `None` otherwise, and the caller keeps candle's path.
    pub fn pack(t: &QTensor) -> Result<Option<Self>> {
        let Ok((n, k)) = t.shape().dims2() else {
            return Ok(None);
        };
        if !cpu_has_kernels() || n % ROWS != 0 || k % QK != 0 {
            return Ok(None);
        }
        let data = t.data()?;
        let tiles = match t.dtype() {
            GgmlDType::Q4K => Tiles::Q4(pack_q4(&data, n, k)),
            GgmlDType::Q6K => Tiles::Q6(pack_q6(&data, n, k)),
            _ => return Ok(None),
        };
        Ok(Some(Self { tiles, n, k }))
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    pub fn bytes(&self) -> usize {
        match &self.tiles {
            Tiles::Q4(t) => std::mem::size_of_val(t.as_slice()),
            Tiles::Q6(t) => std::mem::size_of_val(t.as_slice()),
        }
    }

    /// Computes rows `16 * unit..16 * unit + 16` of the output for every input row in `xs`
    /// (at most 4), into `out[i]`.
    fn unit(&self, unit: usize, xs: &[&[Q8Block]], out: &mut [[f32; ROWS]]) {
        let kb = self.k / QK;
        let range = unit * kb..(unit + 1) * kb;
        // SAFETY: `pack` only builds a `PackedWeight` when `cpu_has_kernels()` held, and
        // `products` checked that every input row has `kb` blocks.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match &self.tiles {
                Tiles::Q4(t) => {
                    let t = &t[range];
                    match xs.len() {
                        1 => avx512::q4_unit::<1>(t, xs, out),
                        2 => avx512::q4_unit::<2>(t, xs, out),
                        3 => avx512::q4_unit::<3>(t, xs, out),
                        _ => avx512::q4_unit::<4>(t, xs, out),
                    }
                }
                Tiles::Q6(t) => {
                    let t = &t[range];
                    match xs.len() {
                        1 => avx512::q6_unit::<1>(t, xs, out),
                        2 => avx512::q6_unit::<2>(t, xs, out),
                        3 => avx512::q6_unit::<3>(t, xs, out),
                        _ => avx512::q6_unit::<4>(t, xs, out),
                    }
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (range, xs, out);
            unreachable!("PackedWeight::pack returns None off x86_64")
        }
    }
}

/// Input rows one kernel call serves; their partial sums must stay in registers.
const MAX_M: usize = 4;

/// `Y_i = X · W_iᵀ` for weights that share their input `x`, `m` rows of `k` (the query, key and
/// value projections; the gate and up projections): one quantization of `x` and one parallel
/// region over all their rows. Each result is `m` rows of its weight's `n`, row-major.
///
/// Each 16-row slice of a weight is read from memory once and reused from cache for every
/// input row, 4 rows per pass: a short prefill (an operator's goal line) is then bound by the
/// integer products, not by memory.
pub fn products(ws: &[&PackedWeight], x: &[f32], m: usize) -> Result<Vec<Vec<f32>>> {
    let Some(k) = ws.first().map(|w| w.k) else {
        return Ok(Vec::new());
    };
    if ws.iter().any(|w| w.k != k) || m == 0 || x.len() != m * k {
        candle_core::bail!(
            "products: {} inputs of {m} rows for {k}-column weights",
            x.len()
        )
    }
    let xq: Vec<Vec<Q8Block>> = x.chunks_exact(k).map(quantize_input).collect();
    // the input rows in kernel-sized groups, built once rather than per unit
    let groups: Vec<Vec<&[Q8Block]>> = xq
        .chunks(MAX_M)
        .map(|rows| rows.iter().map(Vec::as_slice).collect())
        .collect();
    let mut outs: Vec<Vec<f32>> = ws.iter().map(|w| vec![0f32; m * w.n]).collect();
    // unit u of the whole call → (weight, its unit); weights are few (≤ 3)
    let starts: Vec<usize> = ws
        .iter()
        .scan(0, |acc, w| {
            let s = *acc;
            *acc += w.n / ROWS;
            Some(s)
        })
        .collect();
    let total: usize = ws.iter().map(|w| w.n / ROWS).sum();
    let ptrs: Vec<OutPtr> = outs.iter_mut().map(|o| OutPtr(o.as_mut_ptr())).collect();
    candle_core::utils::barrier_pool().execute_chunked(total, |range| {
        let mut buf = [[0f32; ROWS]; MAX_M];
        for u in range {
            let wi = starts.partition_point(|&s| s <= u) - 1;
            let local = u - starts[wi];
            let n = ws[wi].n;
            for (c, xs) in groups.iter().enumerate() {
                ws[wi].unit(local, xs, &mut buf[..xs.len()]);
                for (i, ys) in buf[..xs.len()].iter().enumerate() {
                    let row = c * MAX_M + i;
                    // SAFETY: unit `local` owns columns 16*local..16*local+16 of every row
                    // of output `wi` (m rows of n, n a multiple of 16); no two units share
                    // them.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            ys.as_ptr(),
                            ptrs[wi].0.add(row * n + local * ROWS),
                            ROWS,
                        );
                    }
                }
            }
        }
    });
    Ok(outs)
}

/// An output buffer written by several threads, each to its own rows.
struct OutPtr(*mut f32);
// SAFETY: see the write in `products`: disjoint columns per unit.
unsafe impl Sync for OutPtr {}
unsafe impl Send for OutPtr {}

fn cpu_has_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn f16_bits(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

/// ggml's 6-bit scale and min of sub-block `j` of a Q4_K super-block.
fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// The 4-bit values of a Q4_K block in column order: each 32-byte chunk c holds columns
/// 64c..64c+32 in its low nibbles and 64c+32..64c+64 in its high ones.
fn q4k_values(qs: &[u8]) -> [u8; QK] {
    let mut v = [0u8; QK];
    for c in 0..4 {
        for j in 0..32 {
            let b = qs[c * 32 + j];
            v[c * 64 + j] = b & 0x0F;
            v[c * 64 + 32 + j] = b >> 4;
        }
    }
    v
}

/// The 6-bit values (0..63, real value -32) of a Q6_K block in column order.
fn q6k_values(ql: &[u8], qh: &[u8]) -> [u8; QK] {
    let mut v = [0u8; QK];
    for half in 0..2 {
        let (ql, qh, y) = (&ql[half * 64..], &qh[half * 32..], half * 128);
        for l in 0..32 {
            v[y + l] = (ql[l] & 0x0F) | ((qh[l] & 3) << 4);
            v[y + l + 32] = (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4);
            v[y + l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            v[y + l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    v
}

/// Writes the nibbles of `vals` for `row` in the `[group of 8][row][4]` layout.
fn put_nibbles(dst: &mut [u8], row: usize, vals: &[u8; QK]) {
    for g in 0..QK / 8 {
        for j in 0..4 {
            dst[(g * ROWS + row) * 4 + j] =
                (vals[g * 8 + j] & 0x0F) | ((vals[g * 8 + j + 4] & 0x0F) << 4);
        }
    }
}

fn pack_q4(data: &[u8], n: usize, k: usize) -> Vec<TileQ4> {
    let kb = k / QK;
    let mut out = Vec::with_capacity(n / ROWS * kb);
    for t in 0..n / ROWS {
        for b in 0..kb {
            let mut tile = TileQ4 {
                d: [0; ROWS],
                dmin: [0; ROWS],
                scales: [[0; ROWS]; 8],
                mins: [[0; ROWS]; 8],
                qs: [0; QK / 2 * ROWS],
            };
            for r in 0..ROWS {
                let at = ((t * ROWS + r) * kb + b) * Q4K_BYTES;
                let blk = &data[at..at + Q4K_BYTES];
                tile.d[r] = f16_bits(&blk[0..2]);
                tile.dmin[r] = f16_bits(&blk[2..4]);
                for sub in 0..8 {
                    let (sc, m) = scale_min_k4(sub, &blk[4..16]);
                    tile.scales[sub][r] = sc;
                    tile.mins[sub][r] = m;
                }
                put_nibbles(&mut tile.qs, r, &q4k_values(&blk[16..144]));
            }
            out.push(tile);
        }
    }
    out
}

fn pack_q6(data: &[u8], n: usize, k: usize) -> Vec<TileQ6> {
    let kb = k / QK;
    let mut out = Vec::with_capacity(n / ROWS * kb);
    for t in 0..n / ROWS {
        for b in 0..kb {
            let mut tile = TileQ6 {
                d: [0; ROWS],
                _pad: [0; 32],
                scales: [[0; ROWS]; 16],
                lo: [0; QK / 2 * ROWS],
                hi: [0; QK / 4 * ROWS],
            };
            for r in 0..ROWS {
                let at = ((t * ROWS + r) * kb + b) * Q6K_BYTES;
                let blk = &data[at..at + Q6K_BYTES];
                let vals = q6k_values(&blk[0..128], &blk[128..192]);
                for sub in 0..16 {
                    tile.scales[sub][r] = blk[192 + sub] as i8;
                }
                tile.d[r] = f16_bits(&blk[208..210]);
                put_nibbles(&mut tile.lo, r, &vals);
                for h in 0..QK / 16 {
                    for j in 0..4 {
                        let top = |c: usize| vals[16 * h + c + j] >> 4;
                        tile.hi[(h * ROWS + r) * 4 + j] =
                            top(0) | (top(4) << 2) | (top(8) << 4) | (top(12) << 6);
                    }
                }
            }
            out.push(tile);
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Q8Block, TileQ4, TileQ6, ROWS};
    use std::arch::x86_64::*;

    /// How far ahead of the tile being computed to prefetch.
    const PREFETCH_TILES: usize = 2;

    /// An aligned load of a SIMD vector. Not `_mm512_loadu_si512`: that is `read_unaligned`,
    /// which with debug assertions on goes through the stack in two halves and stalls every
    /// load on store forwarding (~10x slower in a dev build).
    #[inline(always)]
    unsafe fn load<T>(p: *const u8) -> T {
        std::ptr::read(p as *const T)
    }

    /// Asks for the memory `ahead` bytes past `t`, one cache line per 64 bytes of a `T`: the
    /// hardware prefetcher alone keeps only about half of the memory bandwidth busy here.
    #[inline(always)]
    unsafe fn prefetch<T>(t: &T, ahead: usize) {
        let p = (t as *const T as *const i8).wrapping_add(ahead);
        for line in 0..std::mem::size_of::<T>().div_ceil(64) {
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line * 64));
        }
    }

    /// 4 consecutive input bytes broadcast to every 32-bit lane.
    #[inline(always)]
    unsafe fn bcast4(x: &Q8Block, at: usize) -> __m512i {
        _mm512_set1_epi32(std::ptr::read_unaligned(x.qs.as_ptr().add(at) as *const i32))
    }

    /// 16 outputs of a Q4_K matrix for each of `M` input rows: `tiles` are one row of tiles,
    /// `xs[i]` the matching blocks of input row i.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
    pub(super) unsafe fn q4_unit<const M: usize>(
        tiles: &[TileQ4],
        xs: &[&[Q8Block]],
        out: &mut [[f32; ROWS]],
    ) {
        let nib = _mm512_set1_epi8(0x0F);
        let low16 = _mm512_set1_epi32(0xFFFF);
        let mut acc = [_mm512_setzero_ps(); M];
        for (b, t) in tiles.iter().enumerate() {
            prefetch(t, PREFETCH_TILES * std::mem::size_of::<TileQ4>());
            let mut dot = [_mm512_setzero_si512(); M];
            let mut off = [_mm512_setzero_si512(); M];
            for sub in 0..8 {
                // two chains per sub-block so the dpbusd latency overlaps
                let mut s0 = [_mm512_setzero_si512(); M];
                let mut s1 = [_mm512_setzero_si512(); M];
                for g4 in 0..4 {
                    let g = sub * 4 + g4;
                    let w = load::<__m512i>(t.qs.as_ptr().add(g * ROWS * 4));
                    let lo = _mm512_and_si512(w, nib);
                    let hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), nib);
                    for i in 0..M {
                        let xb = &xs[i][b];
                        s0[i] = _mm512_dpbusd_epi32(s0[i], lo, bcast4(xb, g * 8));
                        s1[i] = _mm512_dpbusd_epi32(s1[i], hi, bcast4(xb, g * 8 + 4));
                    }
                }
                // The scale multiply as one `vpdpwssd` (s0·sc + s1·sc) instead of an add and
                // a `vpmulld` (two uops on the port the dot products need): each half-sum
                // fits an i16 (|s| ≤ 16·15·128), so the result is the same integer.
                let sc = _mm512_cvtepu8_epi32(load(t.scales[sub].as_ptr()));
                let sc2 = _mm512_or_si512(sc, _mm512_slli_epi32(sc, 16));
                for i in 0..M {
                    let pair = _mm512_or_si512(
                        _mm512_and_si512(s0[i], low16),
                        _mm512_slli_epi32(s1[i], 16),
                    );
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
                acc[i] =
                    _mm512_fnmadd_ps(_mm512_cvtepi32_ps(off[i]), _mm512_mul_ps(dmin, dx), acc[i]);
            }
        }
        for i in 0..M {
            _mm512_storeu_ps(out[i].as_mut_ptr(), acc[i]);
        }
    }

    /// 16 outputs of a Q6_K matrix for each of `M` input rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
    pub(super) unsafe fn q6_unit<const M: usize>(
        tiles: &[TileQ6],
        xs: &[&[Q8Block]],
        out: &mut [[f32; ROWS]],
    ) {
        let nib = _mm512_set1_epi8(0x0F);
        let top = _mm512_set1_epi8(0x30);
        let mut acc = [_mm512_setzero_ps(); M];
        for (b, t) in tiles.iter().enumerate() {
            prefetch(t, PREFETCH_TILES * std::mem::size_of::<TileQ6>());
            let mut dot = [_mm512_setzero_si512(); M];
            for h in 0..16 {
                let w0 = load::<__m512i>(t.lo.as_ptr().add(2 * h * ROWS * 4));
                let w1 = load::<__m512i>(t.lo.as_ptr().add((2 * h + 1) * ROWS * 4));
                let hb = load::<__m512i>(t.hi.as_ptr().add(h * ROWS * 4));
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
                    let mut s0 = _mm512_dpbusd_epi32(zero, va, bcast4(xb, 16 * h));
                    let mut s1 = _mm512_dpbusd_epi32(zero, vb, bcast4(xb, 16 * h + 4));
                    s0 = _mm512_dpbusd_epi32(s0, vc, bcast4(xb, 16 * h + 8));
                    s1 = _mm512_dpbusd_epi32(s1, vd, bcast4(xb, 16 * h + 12));
                    // the values are stored +32
                    let s = _mm512_sub_epi32(
                        _mm512_add_epi32(s0, s1),
                        _mm512_set1_epi32(32 * xb.bsums[h] as i32),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module, Tensor};

    /// A deterministic, roughly weight-shaped matrix.
    fn matrix(n: usize, k: usize, seed: u64) -> Tensor {
        let mut s = seed;
        let v: Vec<f32> = (0..n * k)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.2
            })
            .collect();
        Tensor::from_vec(v, (n, k), &Device::Cpu).unwrap()
    }

    /// Our GEMV against the f32 product with candle's dequantized weights: the only
    /// difference is the input's i8 quantization.
    fn check(dtype: GgmlDType) {
        if !cpu_has_kernels() {
            eprintln!("skipped: this CPU lacks AVX-512 VNNI");
            return;
        }
        let (n, k) = (48, 768);
        let w = QTensor::quantize(&matrix(n, k, 7), dtype).unwrap();
        let m = 5; // a full chunk of 4 input rows and a single one
        let x = matrix(m, k, 11);
        let reference = w.dequantize(&Device::Cpu).unwrap().t().unwrap();
        let want: Vec<f32> = x
            .matmul(&reference)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let packed = PackedWeight::pack(&w).unwrap().expect("packs");
        let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let got = products(&[&packed, &packed], &xs, m).unwrap();
        assert_eq!(got[0].len(), m * n);
        // a row's result does not depend on the rows computed beside it
        for (i, row) in xs.chunks_exact(k).enumerate() {
            let alone = products(&[&packed], row, 1).unwrap();
            assert_eq!(alone[0], got[1][i * n..(i + 1) * n], "{dtype:?} row {i}");
        }
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        for y in &got {
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).abs() <= 0.01 * scale, "{dtype:?}: {a} vs {b}");
            }
        }
        // and within rounding of candle's own quantized matmul
        let candle: Vec<f32> = candle_core::quantized::QMatMul::from_qtensor(w)
            .unwrap()
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (a, b) in got[0].iter().zip(&candle) {
            assert!(
                (a - b).abs() <= 0.01 * scale,
                "{dtype:?} vs candle: {a} vs {b}"
            );
        }
    }

    #[test]
    fn q4k_matches_the_dequantized_product() {
        check(GgmlDType::Q4K);
    }

    #[test]
    fn q6k_matches_the_dequantized_product() {
        check(GgmlDType::Q6K);
    }

    #[test]
    fn other_types_and_shapes_stay_with_candle() {
        let w = QTensor::quantize(&matrix(48, 768, 1), GgmlDType::Q8_0).unwrap();
        assert!(PackedWeight::pack(&w).unwrap().is_none());
        let w = QTensor::quantize(&matrix(40, 768, 1), GgmlDType::Q4K).unwrap();
        assert!(PackedWeight::pack(&w).unwrap().is_none());
    }

    #[test]
    fn input_quantization_keeps_block_sums() {
        let x: Vec<f32> = (0..512).map(|i| (i as f32 - 256.0) / 100.0).collect();
        let q = quantize_input(&x);
        assert_eq!(q.len(), 2);
        for b in &q {
            for (s, qs) in b.bsums.iter().zip(b.qs.chunks_exact(16)) {
                assert_eq!(*s as i32, qs.iter().map(|&v| v as i32).sum::<i32>());
            }
        }
        assert!((q[0].qs[0] as f32 * q[0].d - x[0]).abs() < q[0].d);
    }
}
