//! Subword embeddings: the local LLM's own input-embedding table, pooled over a message's
//! tokens, as dense features beside the hashed n-grams. N-grams only match strings seen in
//! training; the pooled vectors also place a message near ones that used related subwords.
//!
//! What they do and do not do, measured (BENCHMARKS.md): trained on all ten languages together
//! they lift tag F1 (5-fold CV 0.785 → 0.800, held-out 0.834 → 0.851). They are no translator:
//! trained on English alone they carry nothing to Spanish or Vietnamese, and on one language's
//! ~170 messages their 896 dimensions overfit and cost 3–5 points.

use std::fs::File;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::Device;

use super::TriageError;
use crate::llm::local::tokenizer::GgufTokenizer;

/// The pooled-embedding table of one GGUF model.
pub struct SubwordEmbeddings {
    tok: GgufTokenizer,
    /// `vocab x dim`, row-major, each row centred on the table's mean row and stored as int8
    /// with one scale per row: 136 MB for Qwen2.5's 152k x 896 instead of 545 MB in f32.
    table: Vec<i8>,
    scales: Vec<f32>,
    dim: usize,
}

impl std::fmt::Debug for SubwordEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubwordEmbeddings")
            .field("dim", &self.dim)
            .field("vocab", &self.scales.len())
            .finish()
    }
}

fn load_error(path: &Path, e: impl std::fmt::Display) -> TriageError {
    TriageError::Embeddings(format!("{}: {e}", path.display()))
}

impl SubwordEmbeddings {
    /// Reads the tokenizer and `token_embd.weight` from a GGUF file (a second or two).
    pub fn load(path: &Path) -> Result<Self, TriageError> {
        let mut file = File::open(path).map_err(|e| load_error(path, e))?;
        let ct = gguf_file::Content::read(&mut file).map_err(|e| load_error(path, e))?;
        let tok = GgufTokenizer::from_gguf(&ct).map_err(|e| load_error(path, e))?;
        let q = ct
            .tensor(&mut file, "token_embd.weight", &Device::Cpu)
            .map_err(|e| load_error(path, e))?;
        let (vocab, dim) = q.shape().dims2().map_err(|e| load_error(path, e))?;
        let mut rows = q
            .dequantize(&Device::Cpu)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| load_error(path, e))?;
        // LLM input embeddings share a large common direction; removing the mean row makes
        // cosine similarity between pooled messages say something about their content.
        let mut mean = vec![0.0f32; dim];
        for row in rows.chunks_exact(dim) {
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        mean.iter_mut().for_each(|m| *m /= vocab.max(1) as f32);
        let mut table = Vec::with_capacity(rows.len());
        let mut scales = Vec::with_capacity(vocab);
        for row in rows.chunks_exact_mut(dim) {
            row.iter_mut().zip(&mean).for_each(|(x, m)| *x -= m);
            let scale = row.iter().fold(0.0f32, |a, x| a.max(x.abs())) / 127.0;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            table.extend(
                row.iter()
                    .map(|x| (x * inv).round().clamp(-127.0, 127.0) as i8),
            );
            scales.push(scale);
        }
        Ok(SubwordEmbeddings {
            tok,
            table,
            scales,
            dim,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The unit-length mean of the message's token vectors; `None` for text with no tokens.
    pub fn embed(&self, text: &str) -> Option<Vec<f32>> {
        let ids = self.tok.encode(text).ok()?;
        let mut out = vec![0.0f32; self.dim];
        let mut n = 0usize;
        for id in ids {
            let start = id as usize * self.dim;
            let (Some(row), Some(scale)) = (
                self.table.get(start..start + self.dim),
                self.scales.get(id as usize),
            ) else {
                continue;
            };
            out.iter_mut()
                .zip(row)
                .for_each(|(o, x)| *o += f32::from(*x) * scale);
            n += 1;
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n == 0 || norm == 0.0 {
            return None;
        }
        out.iter_mut().for_each(|x| *x /= norm);
        Some(out)
    }
}
