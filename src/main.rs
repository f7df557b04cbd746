//! The `parley` binary: parse the command line, then hand over to the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use parley::config::{DatabaseConfig, ModelConfig, ServeConfig};
use parley::domain::Role;
use parley::eval::{self, adapters::ComposeDrafter, adapters::TriageClassifier, EvalArgs};
use parley::http::{self, AppState};
use parley::llm::cli::{self as llm_cli, GenerateArgs, ModelsCommand};
use parley::llm::fetch::FetchOptions;
use parley::llm::local::LocalBackend;
use parley::prompts::PromptLibrary;
use parley::prompts::PromptName;
use parley::store::Store;
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
    let triage = Arc::new(Triage::new(TriageConfig::default()).context("training the classifier")?);
    let state = AppState::new(store.clone(), prompts, triage);
    load_model(&state, &config.model);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    http::serve(listener, state, shutdown_signal()).await?;
    store.close().await;
    Ok(())
}

/// Fetches (first start only) and loads the drafting model in the background; `/readyz` says
/// 503 until it is in, and drafting endpoints answer 503 meanwhile.
fn load_model(state: &AppState, model: &ModelConfig) {
    if model.id == "none" {
        return;
    }
    state.readiness.waiting_for("model");
    let (state, id) = (state.clone(), model.id.clone());
    tokio::spawn(async move {
        match LocalBackend::from_model_id(&id, &FetchOptions::default()).await {
            Ok(backend) => {
                let _ = state.llm.set(Arc::new(backend));
                state.readiness.ready("model");
                tracing::info!(model = %id, "model ready");
            }
            Err(e) => {
                tracing::error!(model = %id, error = %e, "model failed to load; drafting is off")
            }
        }
    });
}

async fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let triage = Arc::new(Triage::new(TriageConfig::default()).context("training the classifier")?);
    let detect_triage = triage.clone();
    let detect = move |t: &str| detect_triage.detect_language(t).map(|g| g.code);
    let classifier = TriageClassifier(triage.clone());
    let library = PromptLibrary::load(args.prompts.as_deref()).context("loading prompts")?;
    let compose = library.get(PromptName::Compose);
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| "qwen2.5-coder-0.5b-instruct".into());
    // The model loads only when a suite holds draft cases.
    let needs_drafter = !eval::fixtures::load_suites(&args.suites, args.limit)?
        .drafts
        .is_empty();
    let drafter = if needs_drafter {
        let backend = LocalBackend::from_model_id(&model, &FetchOptions::default()).await?;
        Some(ComposeDrafter {
            backend: Arc::new(backend),
            detect: Arc::new(detect.clone()),
            template: compose.source,
            template_version: compose.version,
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
