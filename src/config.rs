//! Service configuration: one clap struct, every flag also read from the environment.

use std::net::SocketAddr;

use clap::Args;

/// Settings for `parley serve`.
#[derive(Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "PARLEY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Directory of prompt templates; edits are picked up while running. The built-in
    /// defaults are used for any template missing there.
    #[arg(long, env = "PARLEY_PROMPTS_DIR", default_value = "prompts")]
    pub prompts_dir: std::path::PathBuf,

    #[command(flatten)]
    pub model: ModelConfig,

    #[command(flatten)]
    pub triage: TriageModelConfig,
}

/// The model whose input embeddings triage uses by default: the smallest multilingual one.
pub const DEFAULT_TRIAGE_EMBEDDINGS: &str = "qwen2.5-coder-0.5b-instruct";

/// Where triage's multilingual features come from.
#[derive(Debug, Clone, Args)]
pub struct TriageModelConfig {
    /// Local model id whose subword embeddings triage adds to its n-gram features (fetched
    /// on first start, then ~2 s to load and ~140 MB held). They lift held-out tag F1 from
    /// 0.834 to 0.851 (BENCHMARKS.md); `none` classifies from n-grams alone.
    #[arg(
        long = "triage-embeddings",
        env = "PARLEY_TRIAGE_EMBEDDINGS",
        default_value = DEFAULT_TRIAGE_EMBEDDINGS
    )]
    pub embeddings: String,
}

impl TriageModelConfig {
    /// The model id, or `None` when turned off.
    pub fn model_id(&self) -> Option<&str> {
        let id = self.embeddings.trim();
        (!id.is_empty() && id != "none").then_some(id)
    }
}

/// The drafting model when none is configured: chosen by the draft evals (BENCHMARKS.md), where
/// the 1.5B passes 57 % of the dev cases and the 0.5B 33 %; `--model
/// qwen2.5-coder-0.5b-instruct` trades that quality for ~3x the speed.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-1.5b-instruct";

/// Which language model drafts replies.
#[derive(Clone, Args)]
pub struct ModelConfig {
    /// Local model id (see `parley models list`), fetched into the model cache on first start;
    /// `none` runs without drafting (classification and the inbox still work).
    #[arg(
        long = "model",
        env = "PARLEY_MODEL",
        default_value = DEFAULT_MODEL
    )]
    pub id: String,

    /// Base URL of an OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI), e.g.
    /// `http://127.0.0.1:8000/v1`. When set, drafts go there first and fall back to the local
    /// model (unless `--model none`) when it fails.
    #[arg(long, env = "PARLEY_REMOTE_URL", requires = "remote_model")]
    pub remote_url: Option<String>,

    /// The model name the remote server knows.
    #[arg(long, env = "PARLEY_REMOTE_MODEL", requires = "remote_url")]
    pub remote_model: Option<String>,

    /// Bearer key for the remote server.
    #[arg(long, env = "PARLEY_REMOTE_API_KEY", hide_env_values = true)]
    pub remote_api_key: Option<String>,
}

impl ModelConfig {
    pub fn choice(&self) -> Result<crate::llm::select::BackendChoice, crate::llm::LlmError> {
        crate::llm::select::BackendChoice::new(
            &self.id,
            self.remote_url.as_deref(),
            self.remote_model.as_deref(),
            self.remote_api_key.as_deref(),
        )
    }
}

/// Where the inbox lives; shared by every subcommand that touches the store.
#[derive(Clone, Args)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "sqlite://parley.db"
    )]
    pub url: String,
}

impl std::fmt::Debug for DatabaseConfig {
    // A PostgreSQL URL may carry a password; never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = match self.url.split_once('@') {
            Some((scheme_user, host)) if scheme_user.contains(':') && self.url.contains("://") => {
                let scheme = self.url.split("://").next().unwrap_or("db");
                format!("{scheme}://***@{host}")
            }
            _ => self.url.clone(),
        };
        f.debug_struct("DatabaseConfig")
            .field("url", &shown)
            .finish()
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("bind", &self.bind)
            .field("database", &self.database)
            .field("prompts_dir", &self.prompts_dir)
            .field("model", &self.model)
            .field("triage", &self.triage)
            .finish()
    }
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelConfig")
            .field("id", &self.id)
            .field("remote_url", &self.remote_url)
            .field("remote_model", &self.remote_model)
            .field(
                "remote_api_key",
                &self.remote_api_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}
