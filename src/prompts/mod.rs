//! Operator-tunable prompt templates (minijinja): the defaults live in `prompts/` on disk and
//! hot-reload; a business can override one through the API, each change a new version.
//!
//! A template renders to a chat: lines `--- system ---`, `--- user ---` and `--- assistant ---`
//! start a turn, so operators can write instructions and few-shot examples in one file.

mod chat;
pub mod context;
mod library;

use std::fmt;
use std::str::FromStr;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

pub use chat::{ChatTurn, TurnRole};
pub use library::PromptLibrary;

use crate::domain::UnknownVariant;

/// The prompts the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromptName {
    /// A reply to the customer from the operator's one-line goal.
    Compose,
    /// Translation that keeps numbers, times, prices, addresses and names intact.
    Translate,
    /// The job title and scope drawn from a thread.
    JobSummary,
    /// One part of a goal as one sentence, for a draft that left that part's facts out.
    FactSentence,
}

impl PromptName {
    pub const ALL: [PromptName; 4] = [
        PromptName::Compose,
        PromptName::Translate,
        PromptName::JobSummary,
        PromptName::FactSentence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PromptName::Compose => "compose",
            PromptName::Translate => "translate",
            PromptName::JobSummary => "job_summary",
            PromptName::FactSentence => "fact_sentence",
        }
    }

    /// File name of the default under the prompts directory.
    pub fn file_name(self) -> String {
        format!("{}.j2", self.as_str())
    }
}

impl FromStr for PromptName {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PromptName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                kind: "template",
                value: s.to_string(),
                expected: "compose translate job_summary",
            })
    }
}

impl fmt::Display for PromptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A template that does not compile or render, located for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("{name}: line {line}: {reason}")]
    Invalid {
        name: String,
        line: usize,
        reason: String,
    },
    #[error("{name}: {reason}")]
    Shape { name: String, reason: String },
    #[error("cannot read prompt `{path}`: {reason}")]
    Io { path: String, reason: String },
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt variable must fail loudly at validation, never render as an empty string
    // into a customer-facing draft.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

fn located(name: PromptName, err: &minijinja::Error) -> PromptError {
    PromptError::Invalid {
        name: name.to_string(),
        line: err.line().unwrap_or(0),
        reason: err
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| err.kind().to_string()),
    }
}

/// Renders `source` as prompt `name` with `ctx` into chat turns.
pub fn render<C: Serialize>(
    name: PromptName,
    source: &str,
    ctx: &C,
) -> Result<Vec<ChatTurn>, PromptError> {
    let env = environment();
    let template = env
        .template_from_named_str(name.as_str(), source)
        .map_err(|e| located(name, &e))?;
    let text = template.render(ctx).map_err(|e| located(name, &e))?;
    chat::split_turns(&text).map_err(|reason| PromptError::Shape {
        name: name.to_string(),
        reason,
    })
}

/// Checks a template compiles and renders against the sample context for its prompt.
pub fn validate(name: PromptName, source: &str) -> Result<Vec<ChatTurn>, PromptError> {
    match name {
        PromptName::Compose => render(name, source, &context::sample_compose()),
        PromptName::Translate => render(name, source, &context::sample_translate()),
        PromptName::JobSummary => render(name, source, &context::sample_job()),
        PromptName::FactSentence => render(name, source, &context::sample_fact_sentence()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_variable_is_an_error_with_its_line() {
        let src =
            "--- system ---\nYou write for {{ business.name }}.\n--- user ---\n{{ custmer.name }}";
        let err = validate(PromptName::Compose, src).unwrap_err();
        match err {
            PromptError::Invalid { line, .. } => assert_eq!(line, 4),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_error_names_the_line() {
        let src = "--- system ---\nok\n--- user ---\n{% if goal %}\nno end";
        let err = validate(PromptName::Compose, src).unwrap_err();
        assert!(
            matches!(err, PromptError::Invalid { line: 5, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn template_without_a_user_turn_is_refused() {
        let err = validate(PromptName::Compose, "--- system ---\nhello").unwrap_err();
        assert!(matches!(err, PromptError::Shape { .. }), "{err:?}");
    }
}
