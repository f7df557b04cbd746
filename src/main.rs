//! The `parley` binary: parse the command line, then hand over to the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use parley::config::{self, DatabaseConfig, ModelConfig, ServeConfig, TriageModelConfig};
use parley::domain::Role;
use parley::eval::{self, adapters::ComposeDrafter, adapters::TriageClassifier, EvalArgs};
use parley::http::{self, AppState};
use parley::llm::cli::{self as llm_cli, GenerateArgs, ModelsCommand};
use parley::llm::fetch::FetchOptions;
use parley::llm::select::BackendChoice;
use parley::pipeline::compose::{DraftTemplates, Route};
use parley::prompts::PromptLibrary;
use parley::prompts::PromptName;
use parley::store::Store;
use parley::triage::subwords::SubwordEmbeddings;
use parley::triage::{Triage, TriageConfig};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "AI engine behind a customer-messaging inbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(ServeConfig),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage local model files.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Generate text with a local model, streaming to stdout.
    Generate(GenerateArgs),
    /// Score triage and drafts against fixture suites (see evals/README.md).
    Eval(EvalArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key (and the business, if new); prints the key on the last line.
    Create {
        /// Business name.
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum, default_value = "agent")]
        role: Role,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(config) => serve(config).await.map(|_| ExitCode::SUCCESS),
        Command::Eval(args) => eval(args).await,
        Command::Keys {
            command:
                KeysCommand::Create {
                    tenant,
                    role,
                    database,
                },
        } => {
            let store = Store::connect(&database.url)
                .await
                .with_context(|| format!("opening the store at {database:?}"))?;
            let key = store.create_key(&tenant, role).await?;
            eprintln!("created a {role} key for `{tenant}`; it is shown only once:");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(cmd) => {
            llm_cli::run_models(cmd).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            llm_cli::run_generate(args).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    tracing::info!(?config, "starting");
    let store = Store::connect(&config.database.url)
        .await
        .with_context(|| format!("opening the store at {:?}", config.database))?;
    let prompts = Arc::new(
        PromptLibrary::load(Some(&config.prompts_dir)).context("loading prompt templates")?,
    );
    prompts.clone().watch(Duration::from_secs(2));
    let triage = Arc::new(train_triage(&config.triage).await?);
    let state = AppState::new(store.clone(), prompts, triage);
    load_model(&state, &config.model)?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    http::serve(listener, state, shutdown_signal()).await?;
    store.close().await;
    Ok(())
}

/// The classifier, with its multilingual subword features when configured: their model is
/// fetched on the first start, before the service listens.
async fn train_triage(cfg: &TriageModelConfig) -> anyhow::Result<Triage> {
    let mut config = TriageConfig::default();
    if let Some(id) = cfg.model_id() {
        let manifest = parley::llm::manifest::find(id)
            .with_context(|| format!("triage embeddings model `{id}`"))?;
        let path = parley::llm::fetch::ensure(&manifest, &FetchOptions::default())
            .await
            .with_context(|| {
                format!("fetching `{id}` for triage (or run with --triage-embeddings none)")
            })?;
        let loaded = tokio::task::spawn_blocking(move || SubwordEmbeddings::load(&path))
            .await
            .context("loading triage embeddings")??;
        tracing::info!(model = id, ?loaded, "triage subword embeddings loaded");
        config.subwords = Some(Arc::new(loaded));
    }
    let triage = tokio::task::spawn_blocking(move || Triage::new(config))
        .await
        .context("training the classifier")?
        .context("training the classifier")?;
    Ok(triage)
}

/// Fetches (first start only) and loads the drafting backend in the background; `/readyz`
/// says 503 until it is in, and drafting endpoints answer 503 meanwhile.
fn load_model(state: &AppState, model: &ModelConfig) -> anyhow::Result<()> {
    let choice = model.choice()?;
    if choice.is_empty() {
        return Ok(());
    }
    state.readiness.waiting_for("model");
    let state = state.clone();
    tokio::spawn(async move {
        match choice.connect(&FetchOptions::default()).await {
            Ok(backend) => {
                let described = backend.describe();
                let _ = state.llm.set(backend);
                state.readiness.ready("model");
                tracing::info!(backend = %described.kind, model = %described.model, "model ready");
            }
            Err(e) => {
                tracing::error!(?choice, error = %e, "model failed to load; drafting is off")
            }
        }
    });
    Ok(())
}

async fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let triage = Arc::new(train_triage(&args.triage).await?);
    let detect_triage = triage.clone();
    let detect = move |t: &str| detect_triage.detect_language(t).map(|g| g.code);
    let classifier = TriageClassifier(triage.clone());
    let library = PromptLibrary::load(args.prompts.as_deref()).context("loading prompts")?;
    let compose = library.get(PromptName::Compose);
    let choice = eval_backend(&args)?;
    // The model loads only when a suite holds draft cases.
    let needs_drafter = !eval::fixtures::load_suites(&args.suites, args.limit)?
        .drafts
        .is_empty();
    let drafter = if needs_drafter {
        Some(ComposeDrafter {
            backend: choice.connect(&FetchOptions::default()).await?,
            detect: Arc::new(detect.clone()),
            templates: DraftTemplates {
                compose: compose.source,
                fact_sentence: library.get(PromptName::FactSentence).source,
                translate: library.get(PromptName::Translate).source,
            },
            template_version: compose.version,
            route: if args.via_english {
                Route::ViaEnglish
            } else {
                Route::Direct
            },
        })
    } else {
        None
    };
    let outcome = eval::run(
        &args,
        Some(&classifier),
        drafter.as_ref().map(|d| d as &dyn eval::Drafter),
        &detect,
    )
    .await?;
    Ok(outcome.exit_code())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

/// `--backend local` (the default) drafts with the local `--model`; `--backend URL` with the
/// OpenAI-compatible server there, `--model` naming its model.
fn eval_backend(args: &EvalArgs) -> anyhow::Result<BackendChoice> {
    // The configured model, as `parley serve` would read it.
    let default_local =
        std::env::var("PARLEY_MODEL").unwrap_or_else(|_| config::DEFAULT_MODEL.to_string());
    let choice = match args.backend.as_deref() {
        None | Some("local") => BackendChoice::new(
            args.model.as_deref().unwrap_or(&default_local),
            None,
            None,
            None,
        )?,
        Some(url) => {
            let model = args
                .model
                .as_deref()
                .context("`--backend URL` needs `--model` naming the server's model")?;
            BackendChoice::new("none", Some(url), Some(model), None)?
        }
    };
    Ok(choice)
}
