//! Evals: score triage and drafts against fixture suites, report, compare runs and gate CI.
//!
//! The flow: `fixtures` → `runner` (against the `traits`, with `cache` and `checks`) →
//! `results` + `metrics` → `gates`, `compare` → `report`; `cli` ties it to `parley eval`.

pub mod adapters;
pub mod cache;
pub mod checks;
pub mod cli;
pub mod compare;
pub mod error;
pub mod fixtures;
pub mod gates;
pub mod metrics;
pub mod report;
pub mod results;
pub mod runner;
pub mod text;
pub mod traits;

pub use self::cli::{run, EvalArgs, EvalOutcome};
pub use self::error::EvalError;
pub use self::fixtures::{DraftCase, MessageCase, SkippedLine, Suite};
pub use self::results::RunResult;
pub use self::traits::{
    DraftOutput, Drafter, LanguageDetector, MessageClassifier, MessagePrediction,
};
