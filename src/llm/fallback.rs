//! A chain of backends tried in order (e.g. remote → local): the next one is used when the
//! current one fails with a retryable error before its first token.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use super::{BackendInfo, GenerateRequest, LlmBackend, LlmError, Prompt, TokenStream};

pub struct FallbackBackend {
    chain: Vec<Arc<dyn LlmBackend>>,
}

impl FallbackBackend {
    /// `chain` must not be empty; the first is preferred.
    pub fn new(chain: Vec<Arc<dyn LlmBackend>>) -> Result<Self, LlmError> {
        if chain.is_empty() {
            return Err(LlmError::Backend("a fallback chain needs a backend".into()));
        }
        Ok(Self { chain })
    }
}

#[async_trait]
impl LlmBackend for FallbackBackend {
    fn describe(&self) -> BackendInfo {
        let models: Vec<_> = self
            .chain
            .iter()
            .map(|b| {
                let i = b.describe();
                format!("{}:{}", i.kind, i.model)
            })
            .collect();
        BackendInfo {
            kind: "fallback".into(),
            model: models.join(" -> "),
            context_length: self
                .chain
                .iter()
                .filter_map(|b| b.describe().context_length)
                .min(),
        }
    }

    /// Healthy when any backend is.
    async fn health(&self) -> Result<(), LlmError> {
        let mut last = None;
        for b in &self.chain {
            match b.health().await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(LlmError::Backend("empty chain".into())))
    }

    async fn generate(&self, req: GenerateRequest) -> Result<TokenStream, LlmError> {
        req.validate()?;
        let mut last_err = None;
        for (i, b) in self.chain.iter().enumerate() {
            let is_last = i + 1 == self.chain.len();
            let mut stream = match b.generate(req.clone()).await {
                Ok(s) => s,
                Err(e) if e.is_retryable() && !is_last => {
                    tracing::warn!(backend = %b.describe().kind, error = %e, "falling back");
                    last_err = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            // A stream that fails before its first event also falls through; once something
            // was produced the caller owns the stream, errors and all.
            match stream.next().await {
                Some(Err(e)) if e.is_retryable() && !is_last => {
                    tracing::warn!(backend = %b.describe().kind, error = %e, "falling back");
                    last_err = Some(e);
                    continue;
                }
                Some(first) => {
                    return Ok(Box::pin(
                        futures::stream::once(async { first }).chain(stream),
                    ));
                }
                None => return Ok(stream),
            }
        }
        Err(last_err.unwrap_or(LlmError::Backend("empty chain".into())))
    }

    /// Warms every backend that keeps a prefix cache; failures are not fatal.
    async fn prefill(&self, prompt: Prompt) -> Result<(), LlmError> {
        for b in &self.chain {
            if let Err(e) = b.prefill(prompt.clone()).await {
                tracing::debug!(backend = %b.describe().kind, error = %e, "prefill skipped");
            }
        }
        Ok(())
    }
}
