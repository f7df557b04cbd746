//! Grouped-query attention of new positions over the KV cache. A decoded token, or a pass
//! checking a few guessed tokens, runs here on plain rows split across the thread pool; a
//! prefill chunk of many tokens goes through candle's matrix products, which are faster there.

use candle_core::{Device, Result, Tensor};

use super::kv::LayerKv;
use super::rows;
use super::Config;

/// Query rows up to which [`attend`] works on plain rows.
const FEW: usize = 4;

/// Attention of `seq` new queries `q` (`[row][head][head_dim]`, rotated) at positions `pos..`
/// over the first `pos + seq` cached positions of one layer, each query seeing the positions
/// up to its own. Returns `[row][head][head_dim]`.
pub fn attend(c: &Config, q: &[f32], seq: usize, kv: LayerKv, pos: usize) -> Result<Vec<f32>> {
    if seq <= FEW {
        Ok(few(c, q, seq, kv, pos))
    } else {
        many(c, q, seq, kv, pos)
    }
}

fn few(c: &Config, q: &[f32], seq: usize, kv: LayerKv, pos: usize) -> Vec<f32> {
    let (hd, nh) = (c.head_dim, c.n_head);
    let group = (nh / c.n_kv_head.max(1)).max(1);
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0f32; seq * nh * hd];
    // one output row per (row, head), spread over the pool like the other row ops
    rows::each_row(&mut out, hd, |u, o| {
        let (r, h) = (u / nh, u % nh);
        let visible = pos + r + 1;
        let head = (h / group) * kv.cap * hd;
        let keys = &kv.k[head..][..visible * hd];
        let values = &kv.v[head..][..visible * hd];
        let query = &q[u * hd..][..hd];
        let mut scores: Vec<f32> = keys
            .chunks_exact(hd)
            .map(|k| rows::dot(query, k) * scale)
            .collect();
        rows::softmax(&mut scores);
        for (p, v) in scores.iter().zip(values.chunks_exact(hd)) {
            rows::axpy(o, *p, v);
        }
    });
    out
}

fn many(c: &Config, q: &[f32], seq: usize, kv: LayerKv, pos: usize) -> Result<Vec<f32>> {
    let (hd, nh, nkv) = (c.head_dim, c.n_head, c.n_kv_head);
    let group = nh / nkv;
    let total = pos + seq;
    let dev = Device::Cpu;
    // The query heads that share a KV head are stacked along the row axis, `(1, kv_head,
    // group * seq, head_dim)`, so K and V are not copied per query head.
    let mut stacked = Vec::with_capacity(q.len());
    for j in 0..nkv {
        for g in 0..group {
            for r in 0..seq {
                stacked.extend_from_slice(&q[(r * nh + j * group + g) * hd..][..hd]);
            }
        }
    }
    let q =
        (Tensor::from_vec(stacked, (1, nkv, group * seq, hd), &dev)? * (1.0 / (hd as f64).sqrt()))?;
    let heads = |buf: &[f32]| -> Result<Tensor> {
        let mut all = Vec::with_capacity(nkv * total * hd);
        for j in 0..nkv {
            all.extend_from_slice(&buf[j * kv.cap * hd..][..total * hd]);
        }
        Tensor::from_vec(all, (1, nkv, total, hd), &dev)
    };
    let (k, v) = (heads(kv.k)?, heads(kv.v)?);
    let att = q.matmul(&k.t()?)?; // (1, kv_head, group * seq, total)
                                  // Row `i` is the query at `pos + i % seq`; it sees the positions up to its own.
    let mut scores = att.flatten_all()?.to_vec1::<f32>()?;
    rows::each_row(&mut scores, total, |i, row| {
        let visible = pos + i % seq + 1;
        rows::softmax(&mut row[..visible]);
        row[visible..].fill(0.0);
    });
    let att = Tensor::from_vec(scores, (1, nkv, group * seq, total), &dev)?;
    let y = att.matmul(&v)?.flatten_all()?.to_vec1::<f32>()?; // (1, kv_head, group * seq, hd)
    let mut out = vec![0f32; seq * nh * hd];
    for j in 0..nkv {
        for g in 0..group {
            for r in 0..seq {
                let from = ((j * group + g) * seq + r) * hd;
                out[(r * nh + j * group + g) * hd..][..hd].copy_from_slice(&y[from..][..hd]);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_path_and_the_matrix_path_agree() {
        let c = Config {
            architecture: "qwen2".into(),
            n_layer: 1,
            n_head: 6,
            n_kv_head: 2,
            head_dim: 8,
            hidden: 48,
            rms_eps: 1e-6,
            rope_neox: true,
            rope_base: 10_000.0,
            context_length: 64,
        };
        let (pos, seq, cap) = (9, 3, 16);
        let wave = |n: usize, s: f32| -> Vec<f32> {
            (0..n).map(|i| (i as f32 * 0.61 + s).sin()).collect()
        };
        let k = wave(c.n_kv_head * cap * c.head_dim, 0.2);
        let v = wave(c.n_kv_head * cap * c.head_dim, 1.7);
        let q = wave(seq * c.n_head * c.head_dim, 0.9);
        let layer = || LayerKv { k: &k, v: &v, cap };
        let a = few(&c, &q, seq, layer(), pos);
        let b = many(&c, &q, seq, layer(), pos).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}
