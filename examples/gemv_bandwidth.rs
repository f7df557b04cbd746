//! How fast our decode kernels stream a K-quant matrix from memory: one input row against 96
//! copies of an FFN-sized matrix (8960 × 1536) in turn, best of 5 passes over all of them. One
//! copy is 8–11 MB and all of them 0.8–1.1 GB, about a decoded token's worth of the 1.5B's
//! weights: some hosts report an L3 of 480 MB, where eight copies were served from it and
//! measured the cache rather than DRAM (session 31).
//!
//! ```text
//! CANDLE_NUM_THREADS=2 cargo run --example gemv_bandwidth
//! ```

use std::time::Instant;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use parley::llm::local::gemv::{products, PackedWeight};

const COPIES: usize = 96;

fn main() -> anyhow::Result<()> {
    let (n, k) = (8960, 1536);
    let w = Tensor::randn(0f32, 0.05, (n, k), &Device::Cpu)?;
    let x: Vec<f32> = (0..k)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    for dtype in [GgmlDType::Q6K, GgmlDType::Q4K] {
        let q = QTensor::quantize(&w, dtype)?;
        let copies = (0..COPIES)
            .map(|_| PackedWeight::pack(&q)?.ok_or_else(|| anyhow::anyhow!("no kernels here")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for copy in &copies {
                products(&[copy], &x, 1)?;
            }
            best = best.min(t.elapsed().as_secs_f64() / COPIES as f64);
        }
        println!(
            "{dtype:?}: {:.1} GB/s ({:.3} ms per product)",
            copies[0].bytes() as f64 / best / 1e9,
            best * 1e3
        );
    }
    Ok(())
}
