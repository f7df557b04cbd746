//! The one error type of the eval runner; bad fixture lines are not errors but `SkippedLine`s.

use std::path::PathBuf;

/// Everything that stops an eval run (or one draft) from completing.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a results file of `parley eval`: {source}")]
    ResultsFormat {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} has results schema {found}; this version reads schema {expected}")]
    ResultsSchema {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("encoding results: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the suites hold no cases")]
    NoCases,
    #[error("the suites hold {cases} message cases but no classifier was given")]
    NoClassifier { cases: usize },
    #[error("the suites hold {cases} draft cases but no drafter was given")]
    NoDrafter { cases: usize },
    #[error("unknown gate key `{key}`; valid keys: {valid}")]
    UnknownGateKey { key: String, valid: String },
    #[error("bad gate `{arg}`: {reason}")]
    BadGate { arg: String, reason: String },
    /// A drafter failed on one case; the runner records it on the case and carries on.
    #[error("draft failed: {0}")]
    Draft(String),
}

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            source,
        }
    }
}
