//! ggml's 32-value block types (Q8_0, Q5_0, Q5_1, Q4_0, Q4_1): the 0.5B's and SmolLM2's
//! matrices, whose 896- and 576-wide rows no 256-value super-block fits. candle's kernels for
//! them walk one row at a time (and have no fast path at all for Q5_0, Q5_1 and Q4_1).
//!
//! The values are kept unsigned, with each row's f16 block scale: a block's real weights are
//! `d · (q - offset)` (Q8_0: 128, Q5_0: 16, Q4_0: 8), or `d · q + m` with a per-row min for
//! Q5_1 and Q4_1. The input is quantized to i8 per 32 values with the
//! sum of each block, so the offset or the min costs one multiply per block: the same arithmetic
//! as ggml's `vec_dot_q8_0_q8_0` and kin.

use super::{f16_bits, Isa, ROWS};
use candle_core::quantized::GgmlDType;

/// Values per block.
const QB: usize = 32;
/// Columns per tile: two blocks, so a tile is a whole number of cache lines.
const COLS: usize = 2 * QB;

/// 32 input values quantized to i8, with their sum.
#[derive(Clone)]
pub(super) struct Q8Block32 {
    d: f32,
    sum: i32,
    qs: [i8; QB],
}

/// Quantizes `x` (a multiple of 32 long) block by block.
pub(super) fn quantize_input(x: &[f32]) -> Vec<Q8Block32> {
    x.chunks_exact(QB)
        .map(|xs| {
            let mut qs = [0; QB];
            let d = super::quantize_i8(xs, &mut qs);
            Q8Block32 {
                d,
                sum: qs.iter().map(|&q| q as i32).sum(),
                qs,
            }
        })
        .collect()
}

/// 16 rows × 64 columns of Q8_0, one unsigned byte (+128) per weight.
#[repr(C, align(64))]
pub(super) struct ByteTile {
    /// Per-row block scales, f16 bits, `[block][row]`.
    d: [[u16; ROWS]; 2],
    /// `[group of 4 columns][row][4 bytes]`.
    qs: [u8; COLS * ROWS],
}

/// 16 rows × 64 columns of a 4- or 5-bit type: the low 4 bits of each value.
#[repr(C, align(64))]
pub(super) struct NibbleTile {
    d: [[u16; ROWS]; 2],
    /// `[group of 8 columns][row][4 bytes]`; byte j holds column 8g+j in its low nibble and
    /// column 8g+j+4 in its high one, as the Q4_K tiles.
    qs: [u8; COLS / 2 * ROWS],
}

/// The fifth bits of a 5-bit tile, one 64-bit mask per 64-byte vector of nibbles (low nibbles
/// of group g: `2g`, high: `2g + 1`), bit `4r + j` for row r, byte j: a masked add puts them in.
#[repr(C, align(64))]
pub(super) struct HighBits([u64; COLS / 4]);

/// The per-row mins of a tile's two blocks (Q5_1, Q4_1), f16 bits.
#[repr(C, align(64))]
pub(super) struct Mins([[u16; ROWS]; 2]);

const _: () = {
    assert!(std::mem::offset_of!(ByteTile, qs) % 64 == 0);
    assert!(std::mem::size_of::<ByteTile>() == 64 + COLS * ROWS);
    assert!(std::mem::offset_of!(NibbleTile, qs) % 64 == 0);
    assert!(std::mem::size_of::<NibbleTile>() == 64 + COLS / 2 * ROWS);
    assert!(std::mem::size_of::<HighBits>() == 2 * 64);
};

/// A repacked matrix. The 4- and 5-bit types keep their size (0.6–0.75 bytes per weight), so
/// decoding, which reads every weight once per token, reads no more than llama.cpp does.
pub(super) enum Packed {
    /// Q8_0: `d · (q - 128)`.
    Bytes(Vec<ByteTile>),
    /// `d · (q - offset)` (Q4_0: 8, Q5_0: 16), or `d · q + m` where `mins` is not empty (Q4_1,
    /// Q5_1); `high` is empty for the 4-bit types.
    Nibbles {
        tiles: Vec<NibbleTile>,
        high: Vec<HighBits>,
        mins: Vec<Mins>,
        offset: i32,
    },
}

/// A type's bytes per block.
fn block_bytes(dtype: GgmlDType) -> Option<usize> {
    match dtype {
        GgmlDType::Q8_0 => Some(34),
        GgmlDType::Q5_0 => Some(22),
        GgmlDType::Q5_1 => Some(24),
        GgmlDType::Q4_0 => Some(18),
        GgmlDType::Q4_1 => Some(20),
        _ => None,
    }
}

/// Whether a `(n, k)` matrix of `dtype` packs into these tiles.
pub(super) fn fits(dtype: GgmlDType, k: usize) -> bool {
    block_bytes(dtype).is_some() && k.is_multiple_of(COLS)
}

/// One block's unsigned values in column order, its scale and its min (0 without one).
fn unpack_block(dtype: GgmlDType, b: &[u8]) -> ([u8; QB], u16, u16) {
    let mut v = [0u8; QB];
    let d = f16_bits(&b[0..2]);
    let nibbles = |v: &mut [u8; QB], qs: &[u8]| {
        for j in 0..QB / 2 {
            v[j] = qs[j] & 0x0F;
            v[j + QB / 2] = qs[j] >> 4;
        }
    };
    let fifth_bits = |v: &mut [u8; QB], qh: &[u8]| {
        let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
        for (j, x) in v.iter_mut().enumerate() {
            *x |= (((qh >> j) & 1) as u8) << 4;
        }
    };
    match dtype {
        GgmlDType::Q8_0 => {
            for (x, &q) in v.iter_mut().zip(&b[2..34]) {
                // i8 → u8 + 128
                *x = q ^ 0x80;
            }
            (v, d, 0)
        }
        GgmlDType::Q5_0 => {
            nibbles(&mut v, &b[6..22]);
            fifth_bits(&mut v, &b[2..6]);
            (v, d, 0)
        }
        GgmlDType::Q5_1 => {
            nibbles(&mut v, &b[8..24]);
            fifth_bits(&mut v, &b[4..8]);
            (v, d, f16_bits(&b[2..4]))
        }
        GgmlDType::Q4_0 => {
            nibbles(&mut v, &b[2..18]);
            (v, d, 0)
        }
        _ => {
            nibbles(&mut v, &b[4..20]);
            (v, d, f16_bits(&b[2..4]))
        }
    }
}

/// One block of the file, unpacked, and where it goes: tile `tile` (rows 16t.., columns 64c..,
/// numbered row-major), its row, and which of the tile's two blocks.
struct Block {
    tile: usize,
    row: usize,
    half: usize,
    vals: [u8; QB],
    d: u16,
    min: u16,
}

/// Repacks the `(n, k)` matrix in `data`; `None` if `dtype` is not one of these types.
pub(super) fn pack(dtype: GgmlDType, data: &[u8], n: usize, k: usize) -> Option<Packed> {
    let size = block_bytes(dtype)?;
    let (kb, kt) = (k / QB, k / COLS);
    let blocks = || {
        (0..n / ROWS * kt).flat_map(move |tile| {
            let (t, c) = (tile / kt, tile % kt);
            (0..ROWS * 2).map(move |i| {
                let (row, half) = (i / 2, i % 2);
                let at = ((t * ROWS + row) * kb + 2 * c + half) * size;
                let (vals, d, min) = unpack_block(dtype, &data[at..at + size]);
                Block {
                    tile,
                    row,
                    half,
                    vals,
                    d,
                    min,
                }
            })
        })
    };
    let count = n / ROWS * kt;
    if dtype == GgmlDType::Q8_0 {
        let mut tiles: Vec<ByteTile> = (0..count)
            .map(|_| ByteTile {
                d: [[0; ROWS]; 2],
                qs: [0; COLS * ROWS],
            })
            .collect();
        for Block {
            tile: i,
            row: r,
            half: h,
            vals,
            d,
            ..
        } in blocks()
        {
            let tile = &mut tiles[i];
            tile.d[h][r] = d;
            for g in 0..QB / 4 {
                let dst = ((h * QB / 4 + g) * ROWS + r) * 4;
                tile.qs[dst..dst + 4].copy_from_slice(&vals[4 * g..4 * g + 4]);
            }
        }
        return Some(Packed::Bytes(tiles));
    }
    let five = matches!(dtype, GgmlDType::Q5_0 | GgmlDType::Q5_1);
    let with_min = matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_1);
    let mut tiles: Vec<NibbleTile> = (0..count)
        .map(|_| NibbleTile {
            d: [[0; ROWS]; 2],
            qs: [0; COLS / 2 * ROWS],
        })
        .collect();
    let mut high: Vec<HighBits> = (0..if five { count } else { 0 })
        .map(|_| HighBits([0; COLS / 4]))
        .collect();
    let mut mins: Vec<Mins> = (0..if with_min { count } else { 0 })
        .map(|_| Mins([[0; ROWS]; 2]))
        .collect();
    for Block {
        tile: i,
        row: r,
        half: h,
        vals,
        d,
        min,
    } in blocks()
    {
        tiles[i].d[h][r] = d;
        if let Some(m) = mins.get_mut(i) {
            m.0[h][r] = min;
        }
        for gg in 0..QB / 8 {
            let g = h * QB / 8 + gg;
            for j in 0..4 {
                let (lo, hi) = (vals[8 * gg + j], vals[8 * gg + j + 4]);
                tiles[i].qs[(g * ROWS + r) * 4 + j] = (lo & 0x0F) | ((hi & 0x0F) << 4);
                if let Some(hb) = high.get_mut(i) {
                    let lane = 4 * r + j;
                    hb.0[2 * g] |= u64::from(lo >> 4) << lane;
                    hb.0[2 * g + 1] |= u64::from(hi >> 4) << lane;
                }
            }
        }
    }
    let offset = match dtype {
        GgmlDType::Q5_0 => 16,
        GgmlDType::Q4_0 => 8,
        _ => 0,
    };
    Some(Packed::Nibbles {
        tiles,
        high,
        mins,
        offset,
    })
}

impl Packed {
    pub(super) fn bytes(&self) -> usize {
        match self {
            Packed::Bytes(t) => std::mem::size_of_val(t.as_slice()),
            Packed::Nibbles {
                tiles, high, mins, ..
            } => {
                std::mem::size_of_val(tiles.as_slice())
                    + std::mem::size_of_val(high.as_slice())
                    + std::mem::size_of_val(mins.as_slice())
            }
        }
    }

    /// Rows `16 * unit..16 * unit + 16` of a `k`-column matrix for every input row in `xs`,
    /// with the kernels of `isa`.
    ///
    /// # Safety
    /// The CPU has `isa`, and every `xs[i]` holds `k / 32` blocks.
    #[cfg(target_arch = "x86_64")]
    pub(super) unsafe fn unit(
        &self,
        isa: Isa,
        unit: usize,
        k: usize,
        xs: &[&[Q8Block32]],
        out: &mut [[f32; ROWS]],
    ) {
        let kt = k / COLS;
        let range = unit * kt..(unit + 1) * kt;
        match self {
            Packed::Bytes(t) => {
                unsafe fn kernel<const M: usize>(
                    isa: Isa,
                    tiles: &[ByteTile],
                    xs: &[&[Q8Block32]],
                    out: &mut [[f32; ROWS]],
                ) {
                    match isa {
                        Isa::Avx512Vnni => avx512::byte_unit::<M>(tiles, xs, out),
                        Isa::Avx2 => avx2::byte_unit::<M>(tiles, xs, out),
                    }
                }
                by_rows!(xs.len(), kernel, isa, &t[range], xs, out)
            }
            Packed::Nibbles {
                tiles,
                high,
                mins,
                offset,
            } => {
                let tiles = &tiles[range.clone()];
                let high = high.get(range.clone()).unwrap_or(&[]);
                let mins = mins.get(range).unwrap_or(&[]);
                // the four kinds, each its own kernel so the inner loop has no branches
                macro_rules! nib {
                    ($five:literal, $min:literal) => {{
                        unsafe fn kernel<const M: usize>(
                            isa: Isa,
                            tiles: &[NibbleTile],
                            high: &[HighBits],
                            mins: &[Mins],
                            offset: i32,
                            xs: &[&[Q8Block32]],
                            out: &mut [[f32; ROWS]],
                        ) {
                            match isa {
                                Isa::Avx512Vnni => avx512::nibble_unit::<M, $five, $min>(
                                    tiles, high, mins, offset, xs, out,
                                ),
                                Isa::Avx2 => avx2::nibble_unit::<M, $five, $min>(
                                    tiles, high, mins, offset, xs, out,
                                ),
                            }
                        }
                        by_rows!(xs.len(), kernel, isa, tiles, high, mins, *offset, xs, out)
                    }};
                }
                match (!high.is_empty(), !mins.is_empty()) {
                    (true, true) => nib!(true, true),
                    (true, false) => nib!(true, false),
                    (false, true) => nib!(false, true),
                    (false, false) => nib!(false, false),
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_quantization_keeps_block_sums() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) / 10.0).collect();
        let q = quantize_input(&x);
        assert_eq!(q.len(), 2);
        for b in &q {
            assert_eq!(b.sum, b.qs.iter().map(|&v| v as i32).sum::<i32>());
        }
        assert!((q[1].qs[31] as f32 * q[1].d - x[63]).abs() < q[1].d);
    }

    #[test]
    fn q5_0_values_take_their_fifth_bit_from_qh() {
        // d = 1.0, qh with bits 0 and 16 set, every nibble 0x1 low / 0x2 high
        let mut b = vec![0x00, 0x3C, 0x01, 0x00, 0x01, 0x00];
        b.extend(std::iter::repeat_n(0x21, 16));
        let (v, d, m) = unpack_block(GgmlDType::Q5_0, &b);
        assert_eq!((d, m), (0x3C00, 0));
        assert_eq!(v[0], 0x11);
        assert_eq!(v[1], 0x01);
        assert_eq!(v[16], 0x12);
        assert_eq!(v[17], 0x02);
    }
}
