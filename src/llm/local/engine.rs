//! The model thread's side: prefix reuse, chunked prefill, the decode loop, and streaming events
//! back to the caller.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::model::{KvSnapshot, KvState, Model};
use super::prefix_cache::PrefixCache;
use super::sampler::Sampler;
use super::stop::StopMatcher;
use super::tokenizer::{GgufTokenizer, TextStream};
use crate::llm::{Completion, FinishReason, GenerateEvent, LlmError, Sampling, Timings, Usage};

/// Prefill in chunks so a cancelled request stops within one chunk, and attention scores stay
/// small.
const PREFILL_CHUNK: usize = 256;

/// A generation job, already tokenized.
pub struct Job {
    pub ids: Vec<u32>,
    pub max_tokens: u32,
    pub sampling: Sampling,
    pub stop: Vec<String>,
    pub events: mpsc::Sender<Result<GenerateEvent, LlmError>>,
    /// When the caller asked: TTFT is measured from here.
    pub started: Instant,
}

/// Work for the model thread.
pub enum Command {
    Generate(Job),
    /// Warm the prefix cache; replies with the number of tokens now cached.
    Prefill {
        ids: Vec<u32>,
        reply: oneshot::Sender<Result<usize, LlmError>>,
    },
}

/// Owns the model and all per-sequence state; lives on one thread.
pub struct Engine {
    model: Model,
    tok: Arc<GgufTokenizer>,
    kv: KvState,
    /// Tokens whose keys/values are in `kv`, in order.
    live: Vec<u32>,
    cache: PrefixCache<KvSnapshot>,
    /// Shorter shared prefixes are not worth a cache entry or a restore.
    min_prefix: usize,
}

impl Engine {
    pub fn new(model: Model, tok: Arc<GgufTokenizer>, cache_bytes: usize) -> Self {
        let kv = model.new_kv();
        Self {
            model,
            tok,
            kv,
            live: Vec::new(),
            cache: PrefixCache::new(cache_bytes),
            min_prefix: 16,
        }
    }

    pub fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Generate(job) => {
                let events = job.events.clone();
                match self.generate(job) {
                    Ok(()) | Err(LlmError::Cancelled) => {}
                    Err(e) => {
                        // `live` only grows after a successful step, but be safe after a
                        // failure inside candle
                        self.reset();
                        let _ = events.blocking_send(Err(e));
                    }
                }
            }
            Command::Prefill { ids, reply } => {
                let r = self.warm(&ids);
                if r.is_err() {
                    self.reset();
                }
                let _ = reply.send(r);
            }
        }
    }

    pub fn reset(&mut self) {
        self.kv.truncate(0);
        self.live.clear();
    }

    /// Makes `kv` hold the longest available prefix of `ids` (from the live sequence or the
    /// cache), leaving at least one token to run so there are logits to sample from.
    fn reuse_prefix(&mut self, ids: &[u32]) -> Result<usize, LlmError> {
        let max_reuse = ids.len().saturating_sub(1);
        let live = common_prefix(&self.live, ids).min(max_reuse);
        let ctx = self.model.cfg.context_length;
        if let Some(hit) = self.cache.lookup(ids, (live + 1).max(self.min_prefix)) {
            let n = hit.len.min(max_reuse);
            if n > live {
                self.kv.restore(hit.value, n, ctx)?;
                self.live.clear();
                self.live.extend_from_slice(&ids[..n]);
                return Ok(n);
            }
        }
        self.kv.truncate(live);
        self.live.truncate(live);
        Ok(live)
    }

    /// Runs `ids[self.live.len()..]`; returns the last logits.
    fn prefill(&mut self, ids: &[u32], cancelled: impl Fn() -> bool) -> Result<Vec<f32>, LlmError> {
        let mut logits = Vec::new();
        let start = self.live.len();
        for chunk in ids[start..].chunks(PREFILL_CHUNK) {
            if cancelled() {
                return Err(LlmError::Cancelled);
            }
            logits = self.model.forward(chunk, &mut self.kv)?;
            self.live.extend_from_slice(chunk);
        }
        Ok(logits)
    }

    /// Copies the live sequence's state into the prefix cache.
    fn remember(&mut self) -> Result<(), LlmError> {
        let n = self.live.len();
        if n < self.min_prefix || self.cache.covered(&self.live) >= n {
            return Ok(());
        }
        let snap = self.kv.snapshot(n)?;
        self.cache.insert(self.live.clone(), snap);
        Ok(())
    }

    fn warm(&mut self, ids: &[u32]) -> Result<usize, LlmError> {
        if ids.len() > self.model.cfg.context_length {
            return Err(LlmError::InvalidRequest(
                "prompt exceeds the context window".into(),
            ));
        }
        if self.cache.covered(ids) >= ids.len() {
            return Ok(ids.len());
        }
        // unlike a generation, a warm-up can reuse all of `ids` and needs no logits
        let reused = self.reuse_prefix(ids)?;
        if reused < ids.len() {
            self.prefill(ids, || false)?;
        }
        self.remember()?;
        Ok(self.live.len())
    }

    fn generate(&mut self, job: Job) -> Result<(), LlmError> {
        let queue_ms = ms(job.started.elapsed());
        let ctx = self.model.cfg.context_length;
        if job.ids.len() >= ctx {
            return Err(LlmError::InvalidRequest(format!(
                "prompt has {} tokens; the context window is {ctx}",
                job.ids.len()
            )));
        }
        let t_prefill = Instant::now();
        let reused = self.reuse_prefix(&job.ids)?;
        let events = &job.events;
        let mut logits = self.prefill(&job.ids, || events.is_closed())?;
        let prefill_ms = ms(t_prefill.elapsed());

        let mut sampler = Sampler::new(job.sampling.clone());
        let mut text = TextStream::default();
        let mut stops = StopMatcher::new(job.stop.clone());
        let mut generated = 0u32;
        let mut ttft_ms = None;
        let mut t_decode = None;
        let finish = loop {
            let id = sampler.sample(&mut logits, &self.live);
            if self.tok.is_stop(id) {
                break FinishReason::Stop;
            }
            generated += 1;
            let piece = text.push(self.tok.token_bytes(id));
            let (out, stopped) = stops.push(&piece);
            if ttft_ms.is_none() {
                ttft_ms = Some(ms(job.started.elapsed()));
                t_decode = Some(Instant::now());
            }
            if !out.is_empty()
                && job
                    .events
                    .blocking_send(Ok(GenerateEvent::Token(out)))
                    .is_err()
            {
                // the caller dropped the stream: stop, but keep what was computed
                self.remember()?;
                return Ok(());
            }
            if stopped {
                break FinishReason::Stop;
            }
            if generated >= job.max_tokens || self.live.len() + 1 >= ctx {
                break FinishReason::Length;
            }
            logits = self.model.forward(&[id], &mut self.kv)?;
            self.live.push(id);
        };
        let rest = text.finish();
        let (mut tail, _) = stops.push(&rest);
        tail.push_str(&stops.finish());
        if !tail.is_empty() {
            let _ = job.events.blocking_send(Ok(GenerateEvent::Token(tail)));
        }
        let ttft_ms = ttft_ms.unwrap_or_else(|| ms(job.started.elapsed()));
        let completion = Completion {
            text: stops.text().to_string(),
            finish_reason: finish,
            usage: Usage {
                prompt_tokens: job.ids.len() as u32,
                completion_tokens: generated,
                cached_prompt_tokens: reused as u32,
            },
            timings: Timings {
                queue_ms,
                prefill_ms,
                ttft_ms,
                decode_ms: t_decode.map(|t| ms(t.elapsed())).unwrap_or(0.0),
            },
        };
        let _ = job
            .events
            .blocking_send(Ok(GenerateEvent::Done(completion)));
        self.remember()?;
        Ok(())
    }

    pub fn cache_bytes(&self) -> usize {
        self.cache.bytes_used()
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
