//! The `parley` binary: parse the command line, then hand over to the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use parley::config::{DatabaseConfig, ServeConfig};
use parley::domain::Role;
use parley::http::{self, AppState};
use parley::llm::cli::{self as llm_cli, GenerateArgs, ModelsCommand};
use parley::prompts::PromptLibrary;
use parley::store::Store;
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
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(config) => serve(config).await,
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
            Ok(())
        }
        Command::Models(cmd) => Ok(llm_cli::run_models(cmd).await?),
        Command::Generate(args) => Ok(llm_cli::run_generate(args).await?),
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
    let state = AppState::new(store.clone(), prompts);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    http::serve(listener, state, shutdown_signal()).await?;
    store.close().await;
    Ok(())
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
