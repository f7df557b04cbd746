//! `parley eval`: the command-line arguments and the whole run, from loading suites to the exit
//! code, against whichever classifier and drafter the caller built.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sha2::{Digest, Sha256};

use super::cache::{self, DraftCache};
use super::compare::{compare, Comparison};
use super::error::EvalError;
use super::fixtures::load_suites;
use super::gates::{self, Gate};
use super::report;
use super::results::{RunResult, RunSettings};
use super::runner::{self, RunOptions};
use super::traits::{Drafter, LanguageDetector, MessageClassifier};

/// Score triage and drafts against fixture suites.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// A fixture suite: JSON Lines of message cases or of draft cases (told apart by their
    /// fields). Repeat for several.
    #[arg(long = "suite", value_name = "PATH", required = true)]
    pub suites: Vec<PathBuf>,

    /// Drafting backend: `local` (the default) or the base URL of an OpenAI-compatible server
    /// (e.g. `http://127.0.0.1:8000/v1`, with `--model` naming its model).
    #[arg(long, env = "PARLEY_EVAL_BACKEND")]
    pub backend: Option<String>,

    /// Model: a local model id (default: `PARLEY_MODEL` or the shipped default), or the
    /// remote server's model name with `--backend URL`.
    #[arg(long, env = "PARLEY_EVAL_MODEL")]
    pub model: Option<String>,

    /// Prompt template directory to use instead of the configured one; its contents version the
    /// draft cache when the drafter does not report a template version itself.
    #[arg(long, value_name = "DIR", env = "PARLEY_EVAL_PROMPTS")]
    pub prompts: Option<PathBuf>,

    /// Write non-English drafts in English first and translate them (to compare with writing
    /// in the target language directly).
    #[arg(long)]
    pub via_english: bool,

    #[command(flatten)]
    pub triage: crate::config::TriageModelConfig,

    /// Run only the first N cases of each suite.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Write results.json, report.md and report.html into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write JUnit XML to this file.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Show what got better or worse since an earlier run's results.json.
    #[arg(long, value_name = "PATH")]
    pub compare: Option<PathBuf>,

    /// Exit non-zero when a metric is below the bar, e.g. `tags.micro_f1=0.85`,
    /// `urgency.emergency_recall=0.97`; `@es` reads one language group, `@!en` all but one
    /// (`drafts.pass_rate@!en=0.75`). Repeat for several.
    #[arg(long = "min", value_name = "KEY[@LANG]=VALUE", value_parser = parse_gate)]
    pub min: Vec<Gate>,

    /// Directory of cached drafts.
    #[arg(long, value_name = "DIR", env = "PARLEY_EVAL_CACHE", default_value = cache::DEFAULT_DIR)]
    pub cache_dir: PathBuf,

    /// Draft every case afresh, neither reading nor writing the cache.
    #[arg(long)]
    pub no_cache: bool,
}

fn parse_gate(arg: &str) -> Result<Gate, EvalError> {
    arg.parse()
}

/// How a finished run went; `exit_code` is what `parley eval` should exit with.
#[derive(Debug)]
pub struct EvalOutcome {
    pub result: RunResult,
    pub comparison: Option<Comparison>,
}

impl EvalOutcome {
    /// Every gate passed and every fixture line was usable.
    pub fn success(&self) -> bool {
        self.result.gates_failed() == 0 && self.result.skipped.is_empty()
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Runs `parley eval`: loads the suites, runs them, prints the summary to stdout, writes the
/// requested files and checks the gates. Missing files and a missing classifier or drafter for
/// the suites' cases are errors; bad fixture lines and failed gates make the outcome fail.
pub async fn run(
    args: &EvalArgs,
    classifier: Option<&dyn MessageClassifier>,
    drafter: Option<&dyn Drafter>,
    language_detector: &LanguageDetector,
) -> Result<EvalOutcome, EvalError> {
    // Read the old results first: a typo in the path should not cost a whole model run.
    let old = args
        .compare
        .as_deref()
        .map(|path| report::read_results(path).map(|r| (path, r)))
        .transpose()?;
    let suite = load_suites(&args.suites, args.limit)?;
    for skipped in &suite.skipped {
        eprintln!("skipping {skipped}");
    }

    let template_version = match drafter {
        // Nothing to draft (or nothing to draft with, which the runner reports): no templates.
        _ if suite.drafts.is_empty() => None,
        None => None,
        Some(d) => match d.template_version() {
            Some(version) => Some(version),
            None => args.prompts.as_deref().map(prompts_digest).transpose()?,
        },
    };
    let cache = match (&template_version, args.no_cache, suite.drafts.is_empty()) {
        (_, true, _) | (_, _, true) => None,
        (Some(_), false, false) => Some(DraftCache::new(&args.cache_dir)),
        (None, false, false) => {
            // Without a template version a cached draft could come from edited templates.
            eprintln!(
                "the template version is unknown (pass --prompts DIR): drafts are not cached"
            );
            None
        }
    };
    let settings = RunSettings {
        suites: suite.files.clone(),
        drafter: None,
        backend: args.backend.clone(),
        model: args.model.clone(),
        prompts: args.prompts.as_ref().map(|p| p.display().to_string()),
        template_version,
        limit: args.limit,
    };
    let options = RunOptions {
        settings,
        cache: cache.as_ref(),
        progress: true,
    };
    let mut result = runner::run(&suite, classifier, drafter, language_detector, options).await?;
    result.gates = gates::evaluate(&args.min, &result);
    let comparison = old.map(|(path, old)| compare(&old, &result, &path.display().to_string()));

    print!("{}", report::terminal(&result, comparison.as_ref()));
    if let Some(dir) = &args.out {
        for path in report::write_all(dir, &result, comparison.as_ref())? {
            eprintln!("wrote {}", path.display());
        }
    }
    if let Some(path) = &args.junit {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| EvalError::io(parent, e))?;
        }
        std::fs::write(path, report::junit(&result)).map_err(|e| EvalError::io(path, e))?;
        eprintln!("wrote {}", path.display());
    }
    let outcome = EvalOutcome { result, comparison };
    if !outcome.result.skipped.is_empty() {
        eprintln!(
            "{} skipped: failing the run",
            report::n(outcome.result.skipped.len(), "fixture line")
        );
    }
    if outcome.result.gates_failed() > 0 {
        eprintln!(
            "{} failed",
            report::n(outcome.result.gates_failed(), "gate")
        );
    }
    Ok(outcome)
}

/// SHA-256 over the relative paths and contents of every file under `dir`, in sorted order, as
/// a template version: any edit, addition or removal changes it.
pub fn prompts_digest(dir: &Path) -> Result<String, EvalError> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        let bytes = std::fs::read(&file).map_err(|e| EvalError::io(&file, e))?;
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(format!("sha256:{}", &hex::encode(hasher.finalize())[..16]))
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), EvalError> {
    let entries = std::fs::read_dir(dir).map_err(|e| EvalError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| EvalError::io(dir, e))?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        eval: EvalArgs,
    }

    #[test]
    fn parses_repeatable_suites_and_gates() {
        let cli = Cli::try_parse_from([
            "eval",
            "--suite",
            "a.jsonl",
            "--suite",
            "b.jsonl",
            "--min",
            "tags.micro_f1=0.85",
            "--min",
            "drafts.pass_rate@es=75%",
            "--limit",
            "5",
        ])
        .unwrap();
        assert_eq!(cli.eval.suites.len(), 2);
        assert_eq!(cli.eval.min.len(), 2);
        assert_eq!(cli.eval.limit, Some(5));
        assert_eq!(cli.eval.cache_dir, PathBuf::from(".eval-cache"));
    }

    #[test]
    fn an_unknown_gate_key_is_a_usage_error_listing_valid_keys() {
        let err = Cli::try_parse_from(["eval", "--suite", "a.jsonl", "--min", "f1=0.9"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown gate key `f1`"), "{err}");
        assert!(err.contains("urgency.emergency_recall"), "{err}");
    }

    #[test]
    fn prompts_digest_changes_with_any_template_edit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.j2"), "Hi {{ name }}").unwrap();
        let before = prompts_digest(dir.path()).unwrap();
        assert_eq!(before, prompts_digest(dir.path()).unwrap());
        std::fs::write(dir.path().join("compose.j2"), "Hello {{ name }}").unwrap();
        assert_ne!(before, prompts_digest(dir.path()).unwrap());
    }
}
