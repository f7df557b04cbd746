//! Q4_K and Q6_K matrices: 16-row tiles of one 256-value super-block, which keep the file's
//! 6-bit integer scales (4.6 bits per Q4_K weight, 6.6 per Q6_K). candle's repacked Q4_K tiles
//! keep each row's scales and mins as f32 (6 bits per weight), and its Q6_K GEMV walks one row at
//! a time.
//!
//! The input is ggml's Q8_K (i8 per value, one f32 scale and 16-value sums per 256), the integer
//! dot products are exact, and each output is scaled once per 256-value block: the same
//! arithmetic as ggml's `vec_dot_q4_K_q8_K` and `vec_dot_q6_K_q8_K`.

use super::{f16_bits, ROWS};

/// Values per K-quant super-block.
pub(super) const QK: usize = 256;
const Q4K_BYTES: usize = 144;
const Q6K_BYTES: usize = 210;

/// 256 input values quantized to i8: ggml's Q8_K.
#[derive(Clone)]
pub(super) struct Q8Block {
    d: f32,
    qs: [i8; QK],
    /// Sums of each 16 consecutive `qs`, for the weights' offsets (Q4_K mins, Q6_K's -32).
    bsums: [i16; QK / 16],
    /// `32 · bsums`, as i32: Q6_K's offset, broadcast straight from memory in its kernel (a
    /// broadcast from a general register costs a cross-domain move per sub-block).
    q6_offsets: [i32; QK / 16],
}

/// Quantizes `x` (a multiple of 256 long) block by block.
pub(super) fn quantize_input(x: &[f32]) -> Vec<Q8Block> {
    x.chunks_exact(QK)
        .map(|xs| {
            let mut b = Q8Block {
                d: 0.0,
                qs: [0; QK],
                bsums: [0; QK / 16],
                q6_offsets: [0; QK / 16],
            };
            b.d = super::quantize_i8(xs, &mut b.qs);
            for (s, qs) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                *s = qs.iter().map(|&q| q as i16).sum();
            }
            for (o, &s) in b.q6_offsets.iter_mut().zip(&b.bsums) {
                *o = 32 * s as i32;
            }
            b
        })
        .collect()
}

/// 16 rows × 256 columns of a Q4_K matrix.
#[repr(C, align(64))]
pub(super) struct TileQ4 {
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
pub(super) struct TileQ6 {
    d: [u16; ROWS],
    _pad: [u8; 32],
    /// `[sub-block of 16][row]`.
    scales: [[i8; ROWS]; 16],
    /// One 192-byte run per 16 columns, in the order the kernel reads them, so a tile is one
    /// sequential stream: the low nibbles of columns 16h..16h+8 and 16h+8..16h+16 (each laid out
    /// as a group of `TileQ4::qs`), then their top bits, `[row][4 bytes]`, byte j holding those
    /// of columns 16h+j, +4, +8 and +12 at bits 0, 2, 4 and 6. (Kept apart, the nibbles and the
    /// top bits were two interleaved streams, and decoding ran at half the Q4_K tiles' speed.)
    runs: [[u8; 3 * ROWS * 4]; QK / 16],
}

// The kernels load tile fields with aligned loads (see `simd::load`).
const _: () = {
    assert!(std::mem::offset_of!(TileQ4, scales) % 16 == 0);
    assert!(std::mem::offset_of!(TileQ4, mins) % 16 == 0);
    assert!(std::mem::offset_of!(TileQ4, dmin) % 32 == 0);
    assert!(std::mem::offset_of!(TileQ4, qs) % 64 == 0);
    assert!(std::mem::offset_of!(TileQ6, scales) % 16 == 0);
    assert!(std::mem::offset_of!(TileQ6, runs) % 64 == 0);
};

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

pub(super) fn pack_q4(data: &[u8], n: usize, k: usize) -> Vec<TileQ4> {
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

pub(super) fn pack_q6(data: &[u8], n: usize, k: usize) -> Vec<TileQ6> {
    let kb = k / QK;
    let mut out = Vec::with_capacity(n / ROWS * kb);
    for t in 0..n / ROWS {
        for b in 0..kb {
            let mut tile = TileQ6 {
                d: [0; ROWS],
                _pad: [0; 32],
                scales: [[0; ROWS]; 16],
                runs: [[0; 3 * ROWS * 4]; QK / 16],
            };
            let mut lo = [0u8; QK / 2 * ROWS];
            for r in 0..ROWS {
                let at = ((t * ROWS + r) * kb + b) * Q6K_BYTES;
                let blk = &data[at..at + Q6K_BYTES];
                let vals = q6k_values(&blk[0..128], &blk[128..192]);
                for sub in 0..16 {
                    tile.scales[sub][r] = blk[192 + sub] as i8;
                }
                tile.d[r] = f16_bits(&blk[208..210]);
                put_nibbles(&mut lo, r, &vals);
                for h in 0..QK / 16 {
                    for j in 0..4 {
                        let top = |c: usize| vals[16 * h + c + j] >> 4;
                        tile.runs[h][2 * ROWS * 4 + r * 4 + j] =
                            top(0) | (top(4) << 2) | (top(8) << 4) | (top(12) << 6);
                    }
                }
            }
            for (h, run) in tile.runs.iter_mut().enumerate() {
                run[..2 * ROWS * 4].copy_from_slice(&lo[2 * h * ROWS * 4..(2 * h + 2) * ROWS * 4]);
            }
            out.push(tile);
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(super) mod avx512;

#[cfg(test)]
mod tests {
    use super::*;

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
