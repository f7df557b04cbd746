//! `parley models …` and `parley generate …`: model cache management and a quick look at a
//! model from the terminal.

use std::io::Write;

use clap::{Args, Subcommand};
use futures::StreamExt;

use super::fetch::{self, FetchOptions, FileState};
use super::local::LocalBackend;
use super::manifest::{self, ManifestError};
use super::{ChatMessage, GenerateEvent, GenerateRequest, LlmBackend, LlmError, Prompt, Sampling};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// `parley models …`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download models into the cache (`PARLEY_MODELS_DIR`, default ~/.cache/parley/models),
    /// verifying each file's sha256; files already verified are skipped.
    Fetch {
        /// Model ids; all models when none is given.
        ids: Vec<String>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Known models and whether each is in the cache.
    List,
}

/// `parley generate`
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model id (see `parley models list`); fetched first if missing.
    #[arg(long, default_value = "qwen2.5-coder-0.5b-instruct")]
    pub model: String,
    /// The user message (or the raw prompt with --raw).
    pub prompt: String,
    /// A system message.
    #[arg(long)]
    pub system: Option<String>,
    /// Send the prompt as is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    #[arg(long, default_value_t = 128)]
    pub max_tokens: u32,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long)]
    pub top_k: Option<usize>,
    #[arg(long)]
    pub top_p: Option<f32>,
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop sequences (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Print token counts and timings to stderr at the end.
    #[arg(long)]
    pub stats: bool,
}

pub async fn run_models(cmd: ModelsCommand) -> Result<(), CliError> {
    match cmd {
        ModelsCommand::Fetch { ids, quiet } => {
            let opts = FetchOptions {
                progress: !quiet,
                ..FetchOptions::default()
            };
            let all = manifest::load()?;
            let chosen: Vec<_> = if ids.is_empty() {
                all
            } else {
                ids.iter()
                    .map(|id| {
                        all.iter()
                            .find(|m| &m.id == id)
                            .cloned()
                            .ok_or_else(|| ManifestError::UnknownModel(id.clone()))
                    })
                    .collect::<Result<_, _>>()?
            };
            for m in &chosen {
                let path = fetch::ensure(m, &opts).await?;
                println!("{}\t{}", m.id, path.display());
            }
            Ok(())
        }
        ModelsCommand::List => {
            let dir = fetch::cache_dir();
            println!("cache: {}", dir.display());
            for m in manifest::load()? {
                let states: Vec<_> = m
                    .files
                    .iter()
                    .map(|f| fetch::file_state(&m, f, &dir))
                    .collect();
                let state = if states.iter().all(|s| *s == FileState::Verified) {
                    "verified"
                } else if states.iter().all(|s| *s == FileState::Missing) {
                    "missing"
                } else {
                    "partial/unverified"
                };
                println!(
                    "{:<30} {:<6} {:>6} MB  {:<12} {}",
                    m.id,
                    m.architecture,
                    m.total_size() / 1_000_000,
                    state,
                    m.license
                );
            }
            Ok(())
        }
    }
}

pub async fn run_generate(args: GenerateArgs) -> Result<(), CliError> {
    let backend = LocalBackend::from_model_id(&args.model, &FetchOptions::default()).await?;
    let prompt = if args.raw {
        Prompt::Raw(args.prompt)
    } else {
        let mut messages = Vec::new();
        if let Some(s) = args.system {
            messages.push(ChatMessage::system(s));
        }
        messages.push(ChatMessage::user(args.prompt));
        Prompt::Chat(messages)
    };
    let req = GenerateRequest {
        prompt,
        max_tokens: args.max_tokens,
        sampling: Sampling {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            repeat_penalty: args.repeat_penalty,
            repeat_last_n: 64,
            seed: args.seed,
        },
        stop: args.stop,
    };
    let mut stream = backend.generate(req).await?;
    let mut out = std::io::stdout().lock();
    while let Some(event) = stream.next().await {
        match event? {
            GenerateEvent::Token(t) => {
                out.write_all(t.as_bytes())?;
                out.flush()?;
            }
            GenerateEvent::Done(c) => {
                writeln!(out)?;
                if args.stats {
                    eprintln!(
                        "finish={:?} prompt_tokens={} cached={} completion_tokens={} ttft={:.0}ms prefill={:.1} tok/s decode={:.1} tok/s",
                        c.finish_reason,
                        c.usage.prompt_tokens,
                        c.usage.cached_prompt_tokens,
                        c.usage.completion_tokens,
                        c.timings.ttft_ms,
                        c.timings.prefill_tok_per_s(&c.usage),
                        c.timings.decode_tok_per_s(&c.usage),
                    );
                }
            }
        }
    }
    Ok(())
}
