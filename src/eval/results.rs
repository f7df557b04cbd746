//! What a run produced, case by case: the results JSON that reports render and `--compare` reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::checks::CheckOutcome;
use super::fixtures::{DraftCase, MessageCase, SkippedLine};
use super::gates::GateResult;
use super::metrics::Metrics;
use super::text::normalize_language;
use super::traits::{DraftOutput, MessagePrediction};

/// Bumped when the results JSON changes incompatibly.
pub const RESULTS_SCHEMA: u32 = 1;

/// A whole run: settings, every case with the model's output, the metrics and the gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub schema: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub settings: RunSettings,
    pub skipped: Vec<SkippedLine>,
    pub messages: Vec<MessageResult>,
    pub drafts: Vec<DraftResult>,
    pub metrics: Metrics,
    #[serde(default)]
    pub gates: Vec<GateResult>,
}

impl RunResult {
    /// Every case that failed, as `(kind, id, why)`, messages first.
    pub fn failures(&self) -> impl Iterator<Item = (&'static str, &str, &[String])> {
        let messages = self
            .messages
            .iter()
            .filter(|m| !m.passed)
            .map(|m| ("message", m.case.id.as_str(), m.failed.as_slice()));
        let drafts = self
            .drafts
            .iter()
            .filter(|d| !d.passed)
            .map(|d| ("draft", d.case.id.as_str(), d.failed.as_slice()));
        messages.chain(drafts)
    }

    /// How many gates failed.
    pub fn gates_failed(&self) -> usize {
        self.gates.iter().filter(|g| !g.passed).count()
    }
}

/// What the run was asked to do, for the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub suites: Vec<String>,
    pub drafter: Option<String>,
    pub backend: Option<String>,
    pub model: Option<String>,
    pub prompts: Option<String>,
    pub template_version: Option<String>,
    pub limit: Option<usize>,
}

/// One message case: the fixture, the classifier's answer and what it got wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageResult {
    pub case: MessageCase,
    pub predicted: MessagePrediction,
    pub latency_ms: f64,
    pub passed: bool,
    /// Any of `tags`, `urgency`, `language`.
    pub failed: Vec<String>,
}

impl MessageResult {
    /// Compares the prediction with the fixture: tags as sets, language codes normalised.
    pub fn score(case: MessageCase, predicted: MessagePrediction, latency_ms: f64) -> Self {
        let mut failed = Vec::new();
        let mut gold_tags = case.tags.clone();
        let mut got_tags = predicted.tags.clone();
        for tags in [&mut gold_tags, &mut got_tags] {
            tags.sort();
            tags.dedup();
        }
        if gold_tags != got_tags {
            failed.push("tags".to_string());
        }
        if case.urgency != predicted.urgency {
            failed.push("urgency".to_string());
        }
        if !language_matches(case.language.as_deref(), predicted.language.as_deref()) {
            failed.push("language".to_string());
        }
        MessageResult {
            passed: failed.is_empty(),
            case,
            predicted,
            latency_ms,
            failed,
        }
    }

    pub fn language_correct(&self) -> bool {
        !self.failed.iter().any(|f| f == "language")
    }
}

/// Whether a detected language matches the expected one; both `None` (undecidable) matches.
pub fn language_matches(expected: Option<&str>, got: Option<&str>) -> bool {
    expected.and_then(normalize_language) == got.and_then(normalize_language)
}

/// One draft case: the fixture, the draft (or the error) and its check outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftResult {
    pub case: DraftCase,
    pub output: Option<DraftOutput>,
    pub error: Option<String>,
    /// The output came from the cache, not a fresh model call.
    pub cached: bool,
    pub checks: Vec<CheckOutcome>,
    pub passed: bool,
    /// Names of the failed checks, plus `error` when no draft was produced.
    pub failed: Vec<String>,
}

impl DraftResult {
    pub fn new(
        case: DraftCase,
        output: Result<DraftOutput, String>,
        cached: bool,
        checks: Vec<CheckOutcome>,
    ) -> Self {
        let (output, error) = match output {
            Ok(o) => (Some(o), None),
            Err(e) => (None, Some(e)),
        };
        let mut failed: Vec<String> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.check.to_string())
            .collect();
        if error.is_some() {
            failed.push("error".to_string());
        }
        DraftResult {
            passed: failed.is_empty(),
            case,
            output,
            error,
            cached,
            checks,
            failed,
        }
    }
}

/// The language group a case is reported under; `und` for messages with no language.
pub fn language_group(language: Option<&str>) -> String {
    language
        .and_then(normalize_language)
        .unwrap_or_else(|| "und".to_string())
}
