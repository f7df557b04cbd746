//! The local backend: a GGUF model on CPU via candle, on its own OS thread behind a bounded
//! queue. The async side renders and tokenizes (so bad requests fail before queueing); the
//! model thread prefills, decodes and streams.

pub mod engine;
pub mod gemv;
pub mod lookup;
pub mod model;
pub mod prefix_cache;
pub mod sampler;
pub mod speculative;
pub mod stop;
pub mod template;
pub mod tokenizer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use self::engine::{Command, Engine, Job};
use self::lookup::Lookup;
use self::model::{LoadOptions, Model};
use self::template::ChatTemplate;
use self::tokenizer::GgufTokenizer;
use super::fetch::{self, FetchOptions};
use super::manifest;
use super::{BackendInfo, GenerateRequest, LlmBackend, LlmError, Prompt, TokenStream};

/// How to run a local model.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// Name reported by `describe`.
    pub model_id: String,
    /// Requests waiting for the model thread beyond this are refused with `Overloaded`.
    pub queue_capacity: usize,
    /// Prefills (cache warm-ups) waiting beyond this are skipped. They have their own lane,
    /// served only when no generation waits, so a burst of inbound messages never delays or
    /// refuses an operator's draft.
    pub prefill_capacity: usize,
    /// Memory budget of the prompt-prefix KV cache.
    pub prefix_cache_bytes: usize,
    pub load: LoadOptions,
    /// Guesses from the sequence itself checked in each greedy decoding step.
    pub lookup: Lookup,
}

impl LocalConfig {
    pub fn new(model_id: impl Into<String>, model_path: impl Into<PathBuf>) -> Self {
        Self {
            model_path: model_path.into(),
            model_id: model_id.into(),
            queue_capacity: 8,
            prefill_capacity: 2,
            prefix_cache_bytes: 512 << 20,
            load: LoadOptions::default(),
            lookup: Lookup::from_env(),
        }
    }
}

/// Handle to the model thread. Cheap to share behind an `Arc`.
pub struct LocalBackend {
    tx: mpsc::Sender<Command>,
    prefill_tx: mpsc::Sender<Command>,
    tok: Arc<GgufTokenizer>,
    template: ChatTemplate,
    info: BackendInfo,
    queue_capacity: usize,
    /// Moving average of a job's duration, for `Retry-After`.
    avg_job_ms: Arc<AtomicU64>,
}

impl LocalBackend {
    /// Loads the model (blocking: seconds) and starts its thread.
    pub fn load(cfg: LocalConfig) -> Result<Self, LlmError> {
        let t0 = Instant::now();
        let (model, ct) = Model::load(&cfg.model_path, cfg.load).map_err(|e| {
            LlmError::ModelUnavailable(format!("{}: {e}", cfg.model_path.display()))
        })?;
        let tok = Arc::new(GgufTokenizer::from_gguf(&ct)?);
        let chat_template = ct
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str);
        let template = ChatTemplate::new(
            chat_template,
            tok.bos_token.as_deref(),
            tok.eos_token.as_deref(),
        )?;
        drop(ct);
        let info = BackendInfo {
            kind: "local".into(),
            model: cfg.model_id.clone(),
            context_length: Some(model.cfg.context_length),
        };
        tracing::info!(model = %cfg.model_id, load_ms = t0.elapsed().as_millis() as u64, "local model loaded");

        let (tx, mut rx) = mpsc::channel::<Command>(cfg.queue_capacity.max(1));
        let (prefill_tx, mut prefill_rx) = mpsc::channel::<Command>(cfg.prefill_capacity.max(1));
        let avg_job_ms = Arc::new(AtomicU64::new(2000));
        let avg = avg_job_ms.clone();
        let mut engine = Engine::new(model, tok.clone(), cfg.prefix_cache_bytes, cfg.lookup);
        std::thread::Builder::new()
            .name(format!("llm-{}", cfg.model_id))
            .spawn(move || {
                while let Some(cmd) = next_command(&mut rx, &mut prefill_rx) {
                    let t = Instant::now();
                    // a panic inside candle must not take the thread (and every later request)
                    // down with it
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        engine.handle(cmd)
                    }));
                    if r.is_err() {
                        tracing::error!("model thread panicked; state reset");
                        engine.reset();
                    }
                    let took = t.elapsed().as_millis() as u64;
                    let old = avg.load(Ordering::Relaxed);
                    avg.store((old * 3 + took) / 4, Ordering::Relaxed);
                }
            })
            .map_err(|e| LlmError::Backend(format!("cannot start model thread: {e}")))?;
        Ok(Self {
            tx,
            prefill_tx,
            tok,
            template,
            info,
            queue_capacity: cfg.queue_capacity.max(1),
            avg_job_ms,
        })
    }

    /// The model with this manifest id: fetched into the cache if needed, then loaded.
    pub async fn from_model_id(id: &str, fetch_opts: &FetchOptions) -> Result<Self, LlmError> {
        let m = manifest::find(id).map_err(|e| LlmError::ModelUnavailable(e.to_string()))?;
        let path = fetch::ensure(&m, fetch_opts)
            .await
            .map_err(|e| LlmError::ModelUnavailable(format!("{id}: {e}")))?;
        let cfg = LocalConfig::new(id, path);
        tokio::task::spawn_blocking(move || Self::load(cfg))
            .await
            .map_err(|e| LlmError::Backend(e.to_string()))?
    }

    /// The prompt text the model will see.
    pub fn render(&self, prompt: &Prompt) -> Result<String, LlmError> {
        match prompt {
            Prompt::Chat(messages) => match super::begun_reply(messages) {
                Some((earlier, begun)) => Ok(self.template.render(earlier, true)? + begun),
                None => self.template.render(messages, true),
            },
            Prompt::Raw(text) => Ok(text.clone()),
        }
    }

    /// Prompt → token ids, exactly as a generation would see them.
    pub fn tokenize(&self, prompt: &Prompt) -> Result<Vec<u32>, LlmError> {
        self.tok.encode(&self.render(prompt)?)
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tok
    }

    fn enqueue(&self, lane: &mpsc::Sender<Command>, cmd: Command) -> Result<(), LlmError> {
        lane.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                let avg = self.avg_job_ms.load(Ordering::Relaxed);
                let wait = avg.saturating_mul(self.queue_capacity as u64);
                LlmError::Overloaded {
                    retry_after: Duration::from_millis(wait.max(1000)),
                }
            }
            mpsc::error::TrySendError::Closed(_) => {
                LlmError::Backend("the model thread has stopped".into())
            }
        })
    }
}

/// The model thread's next command: a waiting generation first, else a waiting prefill, else
/// whichever arrives first. `None` once both lanes are closed.
fn next_command(
    generate: &mut mpsc::Receiver<Command>,
    prefill: &mut mpsc::Receiver<Command>,
) -> Option<Command> {
    futures::executor::block_on(async {
        tokio::select! {
            biased;
            Some(cmd) = generate.recv() => Some(cmd),
            Some(cmd) = prefill.recv() => Some(cmd),
            else => None,
        }
    })
}

#[async_trait]
impl LlmBackend for LocalBackend {
    fn describe(&self) -> BackendInfo {
        self.info.clone()
    }

    async fn health(&self) -> Result<(), LlmError> {
        if self.tx.is_closed() {
            return Err(LlmError::Backend("the model thread has stopped".into()));
        }
        Ok(())
    }

    async fn generate(&self, req: GenerateRequest) -> Result<TokenStream, LlmError> {
        let started = Instant::now();
        req.validate()?;
        let ids = self.tokenize(&req.prompt)?;
        if let Some(ctx) = self.info.context_length {
            if ids.len() >= ctx {
                return Err(LlmError::InvalidRequest(format!(
                    "prompt has {} tokens; the context window is {ctx}",
                    ids.len()
                )));
            }
        }
        let (events, rx) = mpsc::channel(64);
        self.enqueue(
            &self.tx,
            Command::Generate(Job {
                ids,
                max_tokens: req.max_tokens,
                sampling: req.sampling,
                stop: req.stop,
                events,
                started,
            }),
        )?;
        Ok(Box::pin(ReceiverStream::new(rx)))
    }

    async fn prefill(&self, prompt: Prompt) -> Result<(), LlmError> {
        let ids = self.tokenize(&prompt)?;
        let (reply, rx) = oneshot::channel();
        self.enqueue(&self.prefill_tx, Command::Prefill { ids, reply })?;
        rx.await
            .map_err(|_| LlmError::Backend("the model thread dropped a prefill".into()))??;
        // Load tools wait on this to know a thread is warm before asking for its draft.
        metrics::counter!("parley_llm_prefills_total").increment(1);
        Ok(())
    }
}
