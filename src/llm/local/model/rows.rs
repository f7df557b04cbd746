//! What runs on the hidden state between the projections, on plain `f32` rows: RMS norm, the
//! rotary embedding, SiLU gating, softmax. As candle tensor ops each of these allocated a
//! tensor and the norms hopped to candle's rayon pool and back; a decoded token runs ~10 of
//! them per layer on one row, where the hop cost more than the arithmetic.

use std::sync::Mutex;

/// Lanes of the accumulators below: one AVX-512 register of `f32`, two AVX2 ones.
const LANES: usize = 16;

/// `Σ a_i b_i`, in [`LANES`] running sums so the compiler can keep them in vector registers
/// (a single running sum must be added in order, one element at a time).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let whole = n / LANES * LANES;
    let mut acc = [0f32; LANES];
    for (x, y) in a[..whole]
        .chunks_exact(LANES)
        .zip(b[..whole].chunks_exact(LANES))
    {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s = x.mul_add(*y, *s);
        }
    }
    let tail: f32 = a[whole..n]
        .iter()
        .zip(&b[whole..n])
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// `y += a·x`.
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = x.mul_add(a, *y);
    }
}

/// Rows from which [`each_row`] spreads them over the thread pool: below, the handoff costs
/// more than it saves.
const PARALLEL_ROWS: usize = 8;

/// Runs `f(index, row)` on each `len`-long row of `x`; a prefill's many rows are spread over
/// the thread pool the projections use.
pub fn each_row(x: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if len == 0 {
        return;
    }
    if x.len() < PARALLEL_ROWS * len {
        for (r, row) in x.chunks_exact_mut(len).enumerate() {
            f(r, row);
        }
        return;
    }
    let rows: Vec<Mutex<&mut [f32]>> = x.chunks_exact_mut(len).map(Mutex::new).collect();
    candle_core::utils::barrier_pool().execute_chunked(rows.len(), |range| {
        for r in range {
            // a poisoned row means another unit panicked; the pool re-raises that panic
            let mut row = rows[r].lock().unwrap_or_else(|e| e.into_inner());
            f(r, &mut row);
        }
    });
}

/// Each row of `x` (rows as long as `w`) divided by its root mean square, times `w`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let mut out = x.to_vec();
    each_row(&mut out, w.len(), |_, row| {
        let m = (dot(row, row) / w.len() as f32 + eps).sqrt();
        for (v, w) in row.iter_mut().zip(w) {
            *v = *v / m * w;
        }
    });
    out
}

/// `x += y`, element by element.
pub fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

/// Adds `bias` to every row of `x`.
pub fn add_to_rows(x: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    for row in x.chunks_exact_mut(bias.len()) {
        add(row, bias);
    }
}

/// `e^x` to about one unit in the last place, in plain arithmetic the compiler vectorizes:
/// `f32::exp` is a libm call per element, and a prefill of the 1.5B model takes ~80 million of
/// them in the feed-forward gates alone.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so `n · LN2_HI` is exact (Cody and Waite)
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 · 2^23 rounds to the nearest integer and leaves it in the low mantissa bits,
    // so the exponent is read without a float-to-int conversion (Rust's saturates, and then
    // the loop is not vectorized).
    const ROUND: f32 = 12_582_912.0;
    // plain comparisons rather than `clamp`, whose NaN check is not vectorized either; a NaN
    // passes through
    let x = if x < -87.0 { -87.0 } else { x };
    let x = if x > 88.0 { 88.0 } else { x };
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Taylor series of e^r for |r| ≤ ln 2 / 2: the first term left out is < 1e-8
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^n: n + 127 in the exponent field
    let scale = t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23;
    p * f32::from_bits(scale)
}

/// `g ← silu(g) · u` for `rows` rows: the gated feed-forward's activation.
pub fn silu_mul(g: &mut [f32], u: &[f32], rows: usize) {
    let len = g.len() / rows.max(1);
    each_row(g, len, |r, g| {
        for (g, u) in g.iter_mut().zip(&u[r * len..]) {
            *g = *g / (1.0 + exp(-*g)) * u;
        }
    });
}

/// Softmax of `x` in place.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in x.iter_mut() {
        *v = exp(*v - max);
    }
    let sum: f32 = x.iter().sum();
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// Rotates each head of each row of `x` (`rows × heads × head_dim`) by its position's angles:
/// `cos` and `sin` hold `head_dim / 2` values per row. NeoX style (Qwen2) pairs element `i`
/// with `i + head_dim / 2`; GGUF llama weights are permuted for adjacent pairs.
pub fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32], neox: bool) {
    let half = head_dim / 2;
    if half == 0 {
        return;
    }
    let rows = cos.len() / half;
    if rows == 0 {
        return;
    }
    let row_len = x.len() / rows;
    for (r, row) in x.chunks_exact_mut(row_len).enumerate() {
        let (c, s) = (&cos[r * half..][..half], &sin[r * half..][..half]);
        for head in row.chunks_exact_mut(head_dim) {
            if neox {
                let (lo, hi) = head.split_at_mut(half);
                for (((a, b), c), s) in lo.iter_mut().zip(hi.iter_mut()).zip(c).zip(s) {
                    let (x1, x2) = (*a, *b);
                    *a = x1 * c - x2 * s;
                    *b = x1 * s + x2 * c;
                }
            } else {
                for ((pair, c), s) in head.chunks_exact_mut(2).zip(c).zip(s) {
                    let (x1, x2) = (pair[0], pair[1]);
                    pair[0] = x1 * c - x2 * s;
                    pair[1] = x1 * s + x2 * c;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn seq(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + seed).sin()) * 2.0)
            .collect()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{i}: {x} vs {y}");
        }
    }

    #[test]
    fn exp_is_within_a_few_ulps_of_libm() {
        for i in -8700..8800 {
            let x = i as f32 / 100.0 + 0.003;
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= 3e-7 * want,
                "exp({x}) = {got}, libm {want}"
            );
        }
        assert_eq!(exp(f32::NEG_INFINITY), exp(-87.0));
        assert!(exp(-200.0) < 1e-37 && exp(200.0).is_finite());
    }

    #[test]
    fn dot_counts_the_tail() {
        let (a, b) = (seq(37, 0.1), seq(37, 0.7));
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }

    #[test]
    fn rms_norm_matches_candle() {
        // enough rows to go through the thread pool
        let (x, w) = (seq(30 * 40, 0.3), seq(40, 1.1));
        let dev = Device::Cpu;
        let want = candle_nn::ops::rms_norm(
            &Tensor::from_slice(&x, (30, 40), &dev).unwrap(),
            &Tensor::from_slice(&w, 40, &dev).unwrap(),
            1e-6,
        )
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
        close(&rms_norm(&x, &w, 1e-6), &want);
    }

    #[test]
    fn softmax_and_silu_match_candle() {
        let dev = Device::Cpu;
        let x = seq(50, 0.5);
        let t = Tensor::from_slice(&x, (2, 25), &dev).unwrap();
        let want = candle_nn::ops::softmax_last_dim(&t).unwrap();
        let mut got = x.clone();
        for row in got.chunks_exact_mut(25) {
            softmax(row);
        }
        close(&got, &want.flatten_all().unwrap().to_vec1::<f32>().unwrap());

        let u = seq(50, 2.0);
        let tu = Tensor::from_slice(&u, (2, 25), &dev).unwrap();
        let want = (candle_nn::ops::silu(&t).unwrap() * tu).unwrap();
        let mut got = x;
        silu_mul(&mut got, &u, 2);
        close(&got, &want.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }

    #[test]
    fn rope_matches_candle_in_both_styles() {
        let dev = Device::Cpu;
        let (rows, heads, hd) = (3, 2, 8);
        let x = seq(rows * heads * hd, 0.9);
        let cos = seq(rows * hd / 2, 0.2);
        let sin = seq(rows * hd / 2, 1.4);
        // candle's layout: (batch, heads, rows, head_dim)
        let t = Tensor::from_slice(&x, (1, rows, heads, hd), &dev)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap();
        let c = Tensor::from_slice(&cos, (rows, hd / 2), &dev).unwrap();
        let s = Tensor::from_slice(&sin, (rows, hd / 2), &dev).unwrap();
        for neox in [true, false] {
            let want = if neox {
                candle_nn::rotary_emb::rope(&t, &c, &s)
            } else {
                candle_nn::rotary_emb::rope_i(&t, &c, &s)
            }
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
            let mut got = x.clone();
            rope(&mut got, hd, &cos, &sin, neox);
            close(&got, &want);
        }
    }
}
