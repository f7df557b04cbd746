//! OpenAI-compatible remote backend (vLLM, Ollama, llama.cpp server, OpenAI): `/chat/completions`
//! (or `/completions` for raw prompts) with SSE streaming, timeouts, and retries with backoff on
//! 429/5xx that honour `Retry-After`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{
    BackendInfo, Completion, FinishReason, GenerateEvent, GenerateRequest, LlmBackend, LlmError,
    Prompt, Timings, TokenStream, Usage,
};

/// Where and how to reach the server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// Including the version prefix, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub connect_timeout: Duration,
    /// Until the response headers arrive.
    pub first_byte_timeout: Duration,
    /// Longest silence between two stream chunks.
    pub idle_timeout: Duration,
    /// Extra attempts after the first on 429/5xx/connection errors.
    pub max_retries: u32,
    /// First backoff; doubles each retry.
    pub backoff: Duration,
    /// Never wait longer than this between attempts, whatever `Retry-After` says.
    pub max_backoff: Duration,
    /// Send `top_k`/`repeat_penalty` (llama.cpp, vLLM accept them; OpenAI does not).
    pub extended_sampling: bool,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl OpenAiConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            api_key: None,
            model: model.into(),
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            max_retries: 2,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            extended_sampling: true,
        }
    }
}

pub struct OpenAiBackend {
    cfg: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiBackend {
    pub fn new(cfg: OpenAiConfig) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .build()
            .map_err(|e| LlmError::Backend(format!("http client: {e}")))?;
        Ok(Self { cfg, client })
    }

    fn body(&self, req: &GenerateRequest) -> (String, Value) {
        let s = &req.sampling;
        let mut body = json!({
            "model": self.cfg.model,
            "max_tokens": req.max_tokens,
            "temperature": s.temperature,
            "stream": true,
        });
        let (path, key, value) = match &req.prompt {
            Prompt::Chat(messages) => ("/chat/completions", "messages", json!(messages)),
            Prompt::Raw(text) => ("/completions", "prompt", json!(text)),
        };
        body[key] = value;
        if let Prompt::Chat(messages) = &req.prompt {
            // the final chunk then carries token counts
            body["stream_options"] = json!({ "include_usage": true });
            if self.cfg.extended_sampling && super::begun_reply(messages).is_some() {
                // vLLM's names for "continue the last turn"; llama.cpp and Ollama do it unasked.
                body["continue_final_message"] = json!(true);
                body["add_generation_prompt"] = json!(false);
            }
        }
        if let Some(p) = s.top_p {
            body["top_p"] = json!(p);
        }
        if !s.is_greedy() || s.seed != 0 {
            body["seed"] = json!(s.seed);
        }
        if !req.stop.is_empty() {
            body["stop"] = json!(req.stop);
        }
        if self.cfg.extended_sampling {
            if let Some(k) = s.top_k {
                body["top_k"] = json!(k);
            }
            if s.repeat_penalty != 1.0 {
                body["repeat_penalty"] = json!(s.repeat_penalty);
            }
        }
        (format!("{}{path}", self.cfg.base_url), body)
    }

    /// Sends with retries; returns the streaming response once the server accepted it.
    async fn send(&self, url: &str, body: &Value) -> Result<reqwest::Response, LlmError> {
        let mut attempt = 0;
        loop {
            let mut rb = self.client.post(url).json(body);
            if let Some(key) = &self.cfg.api_key {
                rb = rb.bearer_auth(key);
            }
            let outcome = tokio::time::timeout(self.cfg.first_byte_timeout, rb.send()).await;
            let (err, server_wait) = match outcome {
                Err(_) => (LlmError::Timeout(self.cfg.first_byte_timeout), None),
                Ok(Err(e)) => (
                    LlmError::Upstream {
                        status: None,
                        message: e.to_string(),
                    },
                    None,
                ),
                Ok(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    let wait = retry_after(resp.headers());
                    let text = resp.text().await.unwrap_or_default();
                    (status_error(status, &text, wait), wait)
                }
            };
            let retryable = match &err {
                LlmError::Overloaded { .. } | LlmError::Timeout(_) => true,
                LlmError::Upstream { status, .. } => status.is_none_or(|s| s >= 500),
                _ => false,
            };
            if !retryable || attempt >= self.cfg.max_retries {
                return Err(err);
            }
            let backoff = self.cfg.backoff * 2u32.saturating_pow(attempt);
            let wait = server_wait.unwrap_or(backoff).min(self.cfg.max_backoff);
            tracing::warn!(%url, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying upstream");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from model servers and is ignored).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

fn status_error(status: u16, body: &str, wait: Option<Duration>) -> LlmError {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect());
    match status {
        429 => LlmError::Overloaded {
            retry_after: wait.unwrap_or(Duration::from_secs(1)),
        },
        400 | 422 => LlmError::InvalidRequest(format!("upstream rejected the request: {message}")),
        404 => LlmError::ModelUnavailable(message),
        _ => LlmError::Upstream {
            status: Some(status),
            message,
        },
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<ChunkUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    delta: Option<Delta>,
    /// `/completions` streams `text` instead of a delta.
    text: Option<String>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

/// Splits an SSE byte stream into `data:` payloads.
#[derive(Default)]
pub(crate) struct SseParser {
    buf: String,
}

impl SseParser {
    /// Payloads of the events completed by `bytes`.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.push_str(&String::from_utf8_lossy(bytes));
        if self.buf.contains('\r') {
            self.buf = self.buf.replace("\r\n", "\n");
        }
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let event: String = self.buf.drain(..end + 2).collect();
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                out.push(data.join("\n"));
            }
        }
        out
    }
}

#[async_trait]
impl LlmBackend for OpenAiBackend {
    fn describe(&self) -> BackendInfo {
        BackendInfo {
            kind: "openai".into(),
            model: self.cfg.model.clone(),
            context_length: None,
        }
    }

    async fn health(&self) -> Result<(), LlmError> {
        let mut rb = self
            .client
            .get(format!("{}/models", self.cfg.base_url))
            .timeout(self.cfg.connect_timeout * 2);
        if let Some(key) = &self.cfg.api_key {
            rb = rb.bearer_auth(key);
        }
        let resp = rb.send().await.map_err(|e| LlmError::Upstream {
            status: None,
            message: e.to_string(),
        })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(resp.status().as_u16(), "", None))
        }
    }

    async fn generate(&self, req: GenerateRequest) -> Result<TokenStream, LlmError> {
        let started = Instant::now();
        req.validate()?;
        let (url, body) = self.body(&req);
        let resp = self.send(&url, &body).await?;
        let (tx, rx) = mpsc::channel(64);
        let idle = self.cfg.idle_timeout;
        tokio::spawn(async move {
            let r = pump(resp, &tx, idle, started).await;
            if let Err(e) = r {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

/// Reads the SSE body into events until `[DONE]`; returns early (dropping the connection) when
/// the receiver is gone.
async fn pump(
    resp: reqwest::Response,
    tx: &mpsc::Sender<Result<GenerateEvent, LlmError>>,
    idle: Duration,
    started: Instant,
) -> Result<(), LlmError> {
    let mut body = resp.bytes_stream();
    let mut parser = SseParser::default();
    let mut text = String::new();
    let mut finish = None;
    let mut usage = None;
    let mut pieces = 0u32;
    let mut first_token: Option<Instant> = None;
    let mut ttft_ms = 0.0;
    'outer: loop {
        let chunk = match tokio::time::timeout(idle, body.next()).await {
            Err(_) => return Err(LlmError::Timeout(idle)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(LlmError::Upstream {
                    status: None,
                    message: format!("stream broke: {e}"),
                })
            }
            Ok(Some(Ok(c))) => c,
        };
        for data in parser.push(&chunk) {
            if data.trim() == "[DONE]" {
                break 'outer;
            }
            let parsed: Chunk = serde_json::from_str(&data).map_err(|e| LlmError::Upstream {
                status: None,
                message: format!("bad stream chunk: {e}"),
            })?;
            if let Some(err) = parsed.error {
                return Err(LlmError::Upstream {
                    status: None,
                    message: err["message"].as_str().unwrap_or("error event").to_string(),
                });
            }
            if let Some(u) = parsed.usage {
                usage = Some(u);
            }
            for choice in parsed.choices {
                let piece = choice.text.or(choice.delta.and_then(|d| d.content));
                if let Some(piece) = piece.filter(|p| !p.is_empty()) {
                    if first_token.is_none() {
                        first_token = Some(Instant::now());
                        ttft_ms = started.elapsed().as_secs_f64() * 1000.0;
                    }
                    pieces += 1;
                    text.push_str(&piece);
                    if tx.send(Ok(GenerateEvent::Token(piece))).await.is_err() {
                        return Ok(());
                    }
                }
                if let Some(f) = choice.finish_reason {
                    finish = Some(f);
                }
            }
        }
    }
    let finish_reason = match finish.as_deref() {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    let usage = usage
        .map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_prompt_tokens: 0,
        })
        .unwrap_or(Usage {
            completion_tokens: pieces,
            ..Usage::default()
        });
    let completion = Completion {
        text,
        finish_reason,
        usage,
        timings: Timings {
            queue_ms: 0.0,
            prefill_ms: ttft_ms,
            ttft_ms,
            decode_ms: first_token
                .map(|t| t.elapsed().as_secs_f64() * 1000.0)
                .unwrap_or(0.0),
        },
    };
    let _ = tx.send(Ok(GenerateEvent::Done(completion))).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_and_crlf_events() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: {\"a\"").is_empty());
        assert_eq!(
            p.push(b":1}\r\n\r\n: comment\n\ndata: [DONE]\n\n"),
            ["{\"a\":1}", "[DONE]"]
        );
    }

    #[test]
    fn status_errors_map_to_what_the_caller_should_do() {
        let e = status_error(429, "", Some(Duration::from_secs(7)));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = status_error(400, r#"{"error":{"message":"bad max_tokens"}}"#, None);
        assert!(matches!(e, LlmError::InvalidRequest(m) if m.contains("bad max_tokens")));
        assert!(matches!(
            status_error(503, "down", None),
            LlmError::Upstream {
                status: Some(503),
                ..
            }
        ));
    }

    #[test]
    fn debug_output_redacts_the_key() {
        let mut cfg = OpenAiConfig::new("http://x/v1", "m");
        cfg.api_key = Some("sk-secret".into());
        assert!(!format!("{cfg:?}").contains("sk-secret"));
    }
}
