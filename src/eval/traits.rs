//! The two systems an eval scores, as small traits, so the runner is independent of how triage
//! and drafting are built.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::error::EvalError;
use super::fixtures::DraftCase;
use crate::domain::{Channel, TagScore, Urgency};

/// Detects the language (ISO 639-1) of a draft for the `language` check; `None` = undecided.
pub type LanguageDetector = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Triage under test: tags, urgency and language of one message.
pub trait MessageClassifier: Send + Sync {
    fn classify(&self, text: &str, channel: Option<Channel>) -> MessagePrediction;
}

/// Drafting under test: one reply for one fixture case.
#[async_trait]
pub trait Drafter: Send + Sync {
    async fn draft(&self, case: &DraftCase) -> Result<DraftOutput, EvalError>;

    /// Backend, model and decoding settings (seed, greedy or not): everything besides the
    /// templates that changes the output. It names the run in reports and keys the cache, so two
    /// drafters that can answer differently must describe themselves differently.
    fn describe(&self) -> String;

    /// Version of the prompt templates in use, when the drafter knows it; part of the cache key.
    fn template_version(&self) -> Option<String> {
        None
    }
}

/// What the classifier said about one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePrediction {
    pub tags: Vec<String>,
    pub urgency: Urgency,
    /// `None` when the message is too short to tell.
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_scores: Vec<TagScore>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency_score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_confidence: Option<f32>,
    /// Why, where the classifier can say (the rule that fired, the nearest examples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

impl MessagePrediction {
    /// A prediction without scores or explanation.
    pub fn new(tags: Vec<String>, urgency: Urgency, language: Option<String>) -> Self {
        MessagePrediction {
            tags,
            urgency,
            language,
            tag_scores: Vec::new(),
            urgency_score: None,
            language_confidence: None,
            explanation: None,
        }
    }
}

/// One draft the drafter wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftOutput {
    pub text: String,
    /// The language the drafter aimed for; the `language` check detects it from `text` instead.
    pub language: Option<String>,
    /// Wall time of the whole draft, as the operator would wait for it.
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    /// Guardrail flags the drafting pipeline raised itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

impl DraftOutput {
    /// A draft without time-to-first-token or flags.
    pub fn new(text: impl Into<String>, language: Option<String>, latency_ms: u64) -> Self {
        DraftOutput {
            text: text.into(),
            language,
            latency_ms,
            first_token_ms: None,
            flags: Vec::new(),
        }
    }
}
