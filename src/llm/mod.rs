//! The LLM seam: one streaming `LlmBackend` trait, its request/event/error types, and the backends.
//!
//! A backend turns a `GenerateRequest` into a stream of `GenerateEvent`s: `Token`s as they are
//! produced, then exactly one `Done`. Errors before the first token come back from `generate`
//! itself (so an HTTP handler can answer with a status); errors after it arrive on the stream.

pub mod cli;
pub mod fallback;
pub mod fetch;
pub mod local;
pub mod manifest;
pub mod openai;
pub mod select;

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

/// Who said a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// The begun reply at the end of a chat, if the last turn is the assistant's.
pub fn begun_reply(messages: &[ChatMessage]) -> Option<(&[ChatMessage], &str)> {
    match messages.split_last() {
        Some((last, earlier)) if last.role == Role::Assistant => {
            Some((earlier, last.content.as_str()))
        }
        _ => None,
    }
}

/// What the model continues: chat turns (rendered with the model's chat template) or raw text.
/// A chat ending in an assistant turn is a reply already begun: the model continues that turn
/// instead of opening a new one, and the generated text excludes the part given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    Chat(Vec<ChatMessage>),
    Raw(String),
}

/// Decoding parameters. `temperature == 0` means greedy (argmax), which is deterministic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub temperature: f32,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    /// 1.0 disables it; applied over the last `repeat_last_n` tokens.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Sampling {
    /// Argmax decoding: same prompt, same output.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Self::greedy()
    }
}

/// One generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub max_tokens: u32,
    pub sampling: Sampling,
    /// Generation ends before the first occurrence of any of these; it is not part of the text.
    pub stop: Vec<String>,
}

impl GenerateRequest {
    pub fn chat(messages: Vec<ChatMessage>, max_tokens: u32) -> Self {
        Self {
            prompt: Prompt::Chat(messages),
            max_tokens,
            sampling: Sampling::greedy(),
            stop: Vec::new(),
        }
    }

    pub fn raw(prompt: impl Into<String>, max_tokens: u32) -> Self {
        Self {
            prompt: Prompt::Raw(prompt.into()),
            max_tokens,
            sampling: Sampling::greedy(),
            stop: Vec::new(),
        }
    }

    /// Checks that do not depend on the backend.
    pub fn validate(&self) -> Result<(), LlmError> {
        if self.max_tokens == 0 {
            return Err(LlmError::InvalidRequest(
                "max_tokens must be at least 1".into(),
            ));
        }
        let s = &self.sampling;
        if !s.temperature.is_finite() || s.temperature < 0.0 {
            return Err(LlmError::InvalidRequest(
                "temperature must be a finite number >= 0".into(),
            ));
        }
        if let Some(p) = s.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(LlmError::InvalidRequest("top_p must be in (0, 1]".into()));
            }
        }
        if s.top_k == Some(0) {
            return Err(LlmError::InvalidRequest("top_k must be at least 1".into()));
        }
        if !s.repeat_penalty.is_finite() || s.repeat_penalty <= 0.0 {
            return Err(LlmError::InvalidRequest(
                "repeat_penalty must be > 0".into(),
            ));
        }
        if self.stop.iter().any(|s| s.is_empty()) {
            return Err(LlmError::InvalidRequest(
                "stop sequences must not be empty".into(),
            ));
        }
        match &self.prompt {
            Prompt::Chat(m) if m.is_empty() => Err(LlmError::InvalidRequest(
                "a chat prompt needs at least one message".into(),
            )),
            Prompt::Raw(s) if s.is_empty() => {
                Err(LlmError::InvalidRequest("the prompt is empty".into()))
            }
            _ => Ok(()),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// End-of-sequence token or a stop sequence.
    Stop,
    /// `max_tokens` (or the context window) reached.
    Length,
}

/// Token counts of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Prompt tokens whose KV state came from the prefix cache instead of a prefill.
    pub cached_prompt_tokens: u32,
}

/// Where the time went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Waiting for the model thread.
    pub queue_ms: f64,
    /// Prefill of the uncached part of the prompt.
    pub prefill_ms: f64,
    /// From `generate` being called to the first token being sent.
    pub ttft_ms: f64,
    /// All decode steps after the first token.
    pub decode_ms: f64,
}

impl Timings {
    pub fn prefill_tok_per_s(&self, usage: &Usage) -> f64 {
        let n = usage
            .prompt_tokens
            .saturating_sub(usage.cached_prompt_tokens) as f64;
        per_second(n, self.prefill_ms)
    }
    pub fn decode_tok_per_s(&self, usage: &Usage) -> f64 {
        per_second(
            usage.completion_tokens.saturating_sub(1) as f64,
            self.decode_ms,
        )
    }
}

fn per_second(n: f64, ms: f64) -> f64 {
    if ms > 0.0 {
        n * 1000.0 / ms
    } else {
        0.0
    }
}

/// The final event of a generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    pub timings: Timings,
}

/// What a generation stream yields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerateEvent {
    /// New text; concatenating all tokens gives `Completion::text`.
    Token(String),
    Done(Completion),
}

/// A generation in progress. Dropping it cancels the generation.
pub type TokenStream = Pin<Box<dyn Stream<Item = Result<GenerateEvent, LlmError>> + Send>>;

/// Everything that can go wrong, grouped by what the caller should do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("the model is busy; retry in {} s", retry_after.as_secs().max(1))]
    Overloaded { retry_after: Duration },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("chat template failed: {0}")]
    Template(String),
    #[error("model `{0}` is not available")]
    ModelUnavailable(String),
    #[error("backend failure: {0}")]
    Backend(String),
    #[error("upstream failure{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Upstream {
        status: Option<u16>,
        message: String,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("generation cancelled")]
    Cancelled,
}

impl LlmError {
    /// A stable name clients can match on.
    pub fn error_type(&self) -> &'static str {
        match self {
            LlmError::Overloaded { .. } => "overloaded",
            LlmError::InvalidRequest(_) => "validation",
            LlmError::Template(_) => "template",
            LlmError::ModelUnavailable(_) => "unavailable",
            LlmError::Backend(_) => "backend",
            LlmError::Upstream { .. } => "upstream",
            LlmError::Timeout(_) => "timeout",
            LlmError::Cancelled => "cancelled",
        }
    }

    /// The HTTP status an API edge should answer with.
    pub fn status_code(&self) -> u16 {
        match self {
            LlmError::Overloaded { .. } => 429,
            LlmError::InvalidRequest(_) | LlmError::Template(_) => 422,
            LlmError::ModelUnavailable(_) => 503,
            LlmError::Backend(_) => 500,
            LlmError::Upstream { .. } => 502,
            LlmError::Timeout(_) => 504,
            // nginx's "client closed request": nobody is left to read it
            LlmError::Cancelled => 499,
        }
    }

    /// Seconds for a `Retry-After` header, where one applies.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Overloaded { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Worth trying another backend (fallback chain) or the same one later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmError::Overloaded { .. }
                | LlmError::Upstream { .. }
                | LlmError::Timeout(_)
                | LlmError::ModelUnavailable(_)
        )
    }
}

impl From<candle_core::Error> for LlmError {
    fn from(e: candle_core::Error) -> Self {
        LlmError::Backend(e.to_string())
    }
}

/// What a backend is, for logs and `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// `local`, `openai` or `fallback`.
    pub kind: String,
    pub model: String,
    pub context_length: Option<usize>,
}

/// A text generator. Implementations: `local::LocalBackend` (candle, in process),
/// `openai::OpenAiBackend` (any OpenAI-compatible server), `fallback::FallbackBackend`.
#[async_trait]
pub trait LlmBackend: Send + Sync + 'static {
    fn describe(&self) -> BackendInfo;

    async fn health(&self) -> Result<(), LlmError>;

    /// Errors before the first token come back here; after it, on the stream.
    async fn generate(&self, req: GenerateRequest) -> Result<TokenStream, LlmError>;

    /// Warms the prompt-prefix cache so a later request starting with this prompt skips its
    /// prefill. Backends without such a cache accept and ignore it.
    async fn prefill(&self, _prompt: Prompt) -> Result<(), LlmError> {
        Ok(())
    }

    /// Non-streaming: drains the stream until `Done`.
    async fn complete(&self, req: GenerateRequest) -> Result<Completion, LlmError> {
        let mut stream = self.generate(req).await?;
        while let Some(event) = stream.next().await {
            if let GenerateEvent::Done(c) = event? {
                return Ok(c);
            }
        }
        Err(LlmError::Backend(
            "the stream ended without a final event".into(),
        ))
    }
}
