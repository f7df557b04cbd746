//! How fast our decode kernels stream a K-quant matrix from memory, against a plain read in the
//! same window: one input row against 96 copies of an FFN-sized matrix (8960 × 1536) in turn,
//! 0.8–1.1 GB, about a decoded token's worth of the 1.5B's weights (some hosts report an L3 of
//! 480 MB, where eight copies measured the cache rather than DRAM: session 31).
//!
//! On a shared host the memory bandwidth a VM gets moves by 2× within seconds (session 32), so a
//! pass of each kernel and a plain read of as many bytes alternate, round after round, and
//! each is reported as its median over the rounds.
//!
//! ```text
//! CANDLE_NUM_THREADS=2 cargo run --example gemv_bandwidth
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use parley::llm::local::gemv::{products, PackedWeight};

const COPIES: usize = 96;
const ROUNDS: usize = 15;

fn main() -> anyhow::Result<()> {
    let (n, k) = (8960, 1536);
    let w = Tensor::randn(0f32, 0.05, (n, k), &Device::Cpu)?;
    let x: Vec<f32> = (0..k)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let mut kernels = Vec::new();
    for dtype in [GgmlDType::Q6K, GgmlDType::Q4K] {
        let q = QTensor::quantize(&w, dtype)?;
        let copies = (0..COPIES)
            .map(|_| PackedWeight::pack(&q)?.ok_or_else(|| anyhow::anyhow!("no kernels here")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        kernels.push((format!("{dtype:?}"), copies));
    }
    let plain_bytes = kernels[0].1.iter().map(PackedWeight::bytes).sum::<usize>();
    let plain: Vec<u64> = (0..plain_bytes / 8).map(|i| i as u64).collect();

    let mut rates = vec![Vec::new(); kernels.len() + 1];
    for _ in 0..ROUNDS {
        for (rate, (_, copies)) in rates.iter_mut().zip(&kernels) {
            let t = Instant::now();
            for copy in copies {
                products(&[copy], &x, 1)?;
            }
            let bytes = copies.iter().map(PackedWeight::bytes).sum::<usize>();
            rate.push(bytes as f64 / t.elapsed().as_secs_f64() / 1e9);
        }
        if let Some(rate) = rates.last_mut() {
            rate.push(plain_read(&plain));
        }
    }
    let names = kernels.iter().map(|(name, _)| name.as_str());
    for (name, mut r) in names.chain(["plain read"]).zip(rates) {
        r.sort_by(f64::total_cmp);
        println!(
            "{name}: median {:.1} GB/s over {ROUNDS} rounds ({:.1}–{:.1})",
            r[r.len() / 2],
            r[0],
            r[r.len() - 1]
        );
    }
    Ok(())
}

/// GB/s of summing `data` on the thread pool the kernels use.
fn plain_read(data: &[u64]) -> f64 {
    let chunks: Vec<&[u64]> = data.chunks(16 * 1024).collect();
    let sink = AtomicU64::new(0);
    let t = Instant::now();
    candle_core::utils::barrier_pool().execute_chunked(chunks.len(), |range| {
        let sum = chunks[range]
            .iter()
            .flat_map(|c| c.iter())
            .fold(0u64, |a, &b| a.wrapping_add(b));
        sink.fetch_add(sum, Ordering::Relaxed);
    });
    let rate = std::mem::size_of_val(data) as f64 / t.elapsed().as_secs_f64() / 1e9;
    std::hint::black_box(sink.load(Ordering::Relaxed));
    rate
}
