//! Turns configuration into the drafting backend: a local model, an OpenAI-compatible server,
//! or the server with the local model behind it as fallback.

use std::sync::Arc;

use super::fallback::FallbackBackend;
use super::fetch::FetchOptions;
use super::local::LocalBackend;
use super::openai::{OpenAiBackend, OpenAiConfig};
use super::{LlmBackend, LlmError};

/// The backends to draft with, in order of preference.
#[derive(Debug, Clone, Default)]
pub struct BackendChoice {
    /// An OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI).
    pub remote: Option<OpenAiConfig>,
    /// A local model id (see `parley models list`).
    pub local: Option<String>,
}

impl BackendChoice {
    /// From the usual settings: `local` of `none` turns the local model off; a remote needs
    /// both its base URL and its model name.
    pub fn new(
        local: &str,
        remote_url: Option<&str>,
        remote_model: Option<&str>,
        remote_api_key: Option<&str>,
    ) -> Result<Self, LlmError> {
        let remote = match (remote_url, remote_model) {
            (None, None) => None,
            (Some(url), Some(model)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(LlmError::InvalidRequest(format!(
                        "remote URL `{url}` must start with http:// or https://"
                    )));
                }
                let mut cfg = OpenAiConfig::new(url, model);
                cfg.api_key = remote_api_key.map(str::to_string);
                // OpenAI rejects parameters only llama.cpp and vLLM know.
                cfg.extended_sampling = !url.contains("api.openai.com");
                Some(cfg)
            }
            (Some(_), None) => {
                return Err(LlmError::InvalidRequest(
                    "a remote URL needs a remote model name too".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(LlmError::InvalidRequest(
                    "a remote model name needs a remote URL too".into(),
                ))
            }
        };
        let local = (local != "none").then(|| local.to_string());
        Ok(Self { remote, local })
    }

    pub fn is_empty(&self) -> bool {
        self.remote.is_none() && self.local.is_none()
    }

    /// Connects (fetching and loading the local model when one is chosen).
    pub async fn connect(&self, fetch: &FetchOptions) -> Result<Arc<dyn LlmBackend>, LlmError> {
        let mut chain: Vec<Arc<dyn LlmBackend>> = Vec::new();
        if let Some(cfg) = &self.remote {
            chain.push(Arc::new(OpenAiBackend::new(cfg.clone())?));
        }
        if let Some(id) = &self.local {
            chain.push(Arc::new(LocalBackend::from_model_id(id, fetch).await?));
        }
        match chain.len() {
            0 => Err(LlmError::ModelUnavailable(
                "no drafting backend is configured".into(),
            )),
            1 => Ok(chain.remove(0)),
            _ => Ok(Arc::new(FallbackBackend::new(chain)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_needs_url_and_model_together() {
        assert!(BackendChoice::new("none", Some("http://x/v1"), None, None).is_err());
        assert!(BackendChoice::new("none", None, Some("qwen"), None).is_err());
        assert!(BackendChoice::new("none", Some("ftp://x"), Some("qwen"), None).is_err());
        let c = BackendChoice::new(
            "qwen2.5-coder-0.5b-instruct",
            Some("http://x/v1/"),
            Some("q"),
            None,
        )
        .unwrap();
        assert_eq!(
            c.remote.as_ref().map(|r| r.base_url.as_str()),
            Some("http://x/v1")
        );
        assert_eq!(c.local.as_deref(), Some("qwen2.5-coder-0.5b-instruct"));
        assert!(BackendChoice::new("none", None, None, None)
            .unwrap()
            .is_empty());
    }
}
