use clap::{Parser, Subcommand};
use parley::llm::cli::{self, GenerateArgs, ModelsCommand};

/// Parley: the AI engine behind a customer-messaging inbox.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage local model files.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Generate text with a local model, streaming to stdout.
    Generate(GenerateArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Models(cmd) => cli::run_models(cmd).await?,
        Command::Generate(args) => cli::run_generate(args).await?,
    }
    Ok(())
}
