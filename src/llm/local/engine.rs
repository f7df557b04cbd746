//! The model thread's side: prefix reuse, chunked prefill, the decode loop, and streaming events
//! back to the caller.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::lookup::{Lookup, LookupStats};
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
    lookup: Lookup,
}

impl Engine {
    pub fn new(model: Model, tok: Arc<GgufTokenizer>, cache_bytes: usize, lookup: Lookup) -> Self {
        let kv = model.new_kv();
        Self {
            model,
            tok,
            kv,
            live: Vec::new(),
            cache: PrefixCache::new(cache_bytes),
            min_prefix: 16,
            lookup,
        }
    }

    pub fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Generate(job) => {
                let events = job.events.clone();
                match self.generate(job) {
                    Ok(()) | Err(LlmError::Cancelled) => {}
                    Err(e) => {
                        // a step that failed inside candle leaves `live` a token ahead of
                        // `kv`: start clean
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
        // guesses are checked by comparing them with what the sampler picks, which only
        // greedy decoding makes a pure function of the logits
        let lookup = if job.sampling.is_greedy() {
            self.lookup
        } else {
            Lookup::OFF
        };
        let mut stats = LookupStats::default();
        let tok = self.tok.clone();
        let mut out = Output::new(&job, &tok);
        // a token the last checking pass already picked
        let mut picked: Option<u32> = None;
        let finish = loop {
            let id = match picked.take() {
                Some(id) => id,
                None => sampler.sample(&mut logits, &self.live),
            };
            match out.push(id, self.live.len(), ctx) {
                Emit::Go => {}
                Emit::Finish(reason) => break reason,
                Emit::Dropped => {
                    // the caller dropped the stream: stop, but keep what was computed
                    self.remember()?;
                    return Ok(());
                }
            }
            self.live.push(id);
            // room for the step's token and every guess, with one position to spare
            let room = ctx.saturating_sub(self.live.len() + 1);
            let guess = lookup.guess(&self.live);
            let guess = guess[..guess.len().min(room)].to_vec();
            if guess.is_empty() {
                logits = self.model.forward(&[id], &mut self.kv)?;
                continue;
            }
            let mut input = Vec::with_capacity(guess.len() + 1);
            input.push(id);
            input.extend_from_slice(&guess);
            // row i holds the logits after input i
            let mut rows = self.model.forward_all(&input, &mut self.kv)?;
            stats.passes += 1;
            stats.guessed += guess.len();
            let mut finished = None;
            for (i, &g) in guess.iter().enumerate() {
                let t = sampler.sample(&mut rows[i], &self.live);
                if t != g {
                    picked = Some(t);
                    break;
                }
                stats.kept += 1;
                match out.push(t, self.live.len(), ctx) {
                    Emit::Go => self.live.push(t),
                    Emit::Finish(reason) => {
                        finished = Some(reason);
                        break;
                    }
                    Emit::Dropped => {
                        self.kv.truncate(self.live.len());
                        self.remember()?;
                        return Ok(());
                    }
                }
            }
            // the keys and values of guesses past the kept run are dropped
            self.kv.truncate(self.live.len());
            if let Some(reason) = finished {
                break reason;
            }
            if picked.is_none() {
                // every guess kept: the last row gives the next token
                logits = rows.pop().ok_or_else(|| {
                    LlmError::Backend("a checking pass returned no logits".into())
                })?;
            }
        };
        if stats.passes > 0 {
            tracing::debug!(
                guessed = stats.guessed,
                kept = stats.kept,
                passes = stats.passes,
                generated = out.generated,
                "prompt lookup"
            );
        }
        let Output {
            mut text,
            mut stops,
            generated,
            ttft_ms,
            t_decode,
            ..
        } = out;
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

/// What a generation has streamed so far, and when.
struct Output<'a> {
    tok: &'a GgufTokenizer,
    events: &'a mpsc::Sender<Result<GenerateEvent, LlmError>>,
    started: Instant,
    max_tokens: u32,
    text: TextStream,
    stops: StopMatcher,
    generated: u32,
    ttft_ms: Option<f64>,
    t_decode: Option<Instant>,
}

/// What to do after a token was pushed.
enum Emit {
    /// Decode the next one.
    Go,
    /// The generation is over; this token is not part of the sequence.
    Finish(FinishReason),
    /// The caller is gone.
    Dropped,
}

impl<'a> Output<'a> {
    fn new(job: &'a Job, tok: &'a GgufTokenizer) -> Self {
        Self {
            tok,
            events: &job.events,
            started: job.started,
            max_tokens: job.max_tokens,
            text: TextStream::default(),
            stops: StopMatcher::new(job.stop.clone()),
            generated: 0,
            ttft_ms: None,
            t_decode: None,
        }
    }

    /// Streams token `id`, decoded after `live` tokens of a `ctx`-token window.
    fn push(&mut self, id: u32, live: usize, ctx: usize) -> Emit {
        if self.tok.is_stop(id) {
            return Emit::Finish(FinishReason::Stop);
        }
        self.generated += 1;
        let piece = self.text.push(self.tok.token_bytes(id));
        let (out, stopped) = self.stops.push(&piece);
        if self.ttft_ms.is_none() {
            self.ttft_ms = Some(ms(self.started.elapsed()));
            self.t_decode = Some(Instant::now());
        }
        if !out.is_empty()
            && self
                .events
                .blocking_send(Ok(GenerateEvent::Token(out)))
                .is_err()
        {
            return Emit::Dropped;
        }
        if stopped {
            return Emit::Finish(FinishReason::Stop);
        }
        if self.generated >= self.max_tokens || live + 1 >= ctx {
            return Emit::Finish(FinishReason::Length);
        }
        Emit::Go
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
