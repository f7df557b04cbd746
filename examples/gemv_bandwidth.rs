//! How fast our decode kernels stream a K-quant matrix from memory: one input row against eight
//! copies of an FFN-sized matrix (8960 × 1536) in turn, so the weights come from DRAM and not
//! from the last-level cache (one copy is 8–11 MB), best of 5 passes of 80 products.
//!
//! ```text
//! CANDLE_NUM_THREADS=2 cargo run --example gemv_bandwidth
//! ```

use std::time::Instant;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use parley::llm::local::gemv::{products, PackedWeight};

const COPIES: usize = 8;
const PASSES: usize = 80;

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
            for i in 0..PASSES {
                products(&[&copies[i % COPIES]], &x, 1)?;
            }
            best = best.min(t.elapsed().as_secs_f64() / PASSES as f64);
        }
        println!(
            "{dtype:?}: {:.1} GB/s ({:.3} ms per product)",
            copies[0].bytes() as f64 / best / 1e9,
            best * 1e3
        );
    }
    Ok(())
}
