//! Translation that keeps what must not change: numbers, times, prices and names are checked
//! against the original, with one retry that names what was lost.

use super::compose::{language_name, ComposeError, LanguageDetector, SUPPORTED_LANGUAGES};
use super::facts::{self, Fact};
use super::guardrails::tidy;
use crate::llm::{ChatMessage, GenerateRequest, LlmBackend};
use crate::prompts::context::{LanguageView, TranslateContext};
use crate::prompts::{self, PromptName};

#[derive(Debug, Clone)]
pub struct Translated {
    pub text: String,
    pub source: String,
    pub target: String,
    /// Facts of the original still missing after the retry.
    pub missing: Vec<String>,
}

fn view(code: &str) -> LanguageView {
    LanguageView {
        code: code.to_string(),
        name: language_name(code).to_string(),
    }
}

fn check_code(field: &str, code: &str) -> Result<(), ComposeError> {
    if SUPPORTED_LANGUAGES.contains(&code) {
        Ok(())
    } else {
        Err(ComposeError::Invalid(format!(
            "unsupported `{field}` language `{code}`; use one of {}",
            SUPPORTED_LANGUAGES.join(", ")
        )))
    }
}

/// Facts of `text` a faithful translation keeps verbatim: numbers, prices, times and names.
fn kept_facts(text: &str) -> Vec<Fact> {
    facts::extract(text, &[])
        .into_iter()
        .filter(|f| !matches!(f, Fact::Weekday(_) | Fact::RelativeDay(_)))
        .collect()
}

pub async fn translate(
    backend: &dyn LlmBackend,
    detect: &LanguageDetector,
    template: &str,
    text: &str,
    source: Option<&str>,
    target: &str,
) -> Result<Translated, ComposeError> {
    check_code("target", target)?;
    let source = match source {
        Some(s) => {
            check_code("source", s)?;
            s.to_string()
        }
        None => detect(text).unwrap_or_else(|| "en".to_string()),
    };
    if source == target {
        return Ok(Translated {
            text: text.to_string(),
            source,
            target: target.to_string(),
            missing: Vec::new(),
        });
    }
    let ctx = TranslateContext {
        text: text.to_string(),
        source: view(&source),
        target: view(target),
    };
    let mut messages: Vec<ChatMessage> = prompts::render(PromptName::Translate, template, &ctx)?
        .into_iter()
        .map(ChatMessage::from)
        .collect();
    // Room for scripts that spend several tokens per word.
    let max_tokens = (text.chars().count() as u32 * 2).clamp(64, 1024);
    let facts = kept_facts(text);
    let missing_of = |out: &str| -> Vec<String> {
        facts
            .iter()
            .filter(|f| !matches!(f, Fact::Name(_)) || !non_latin(target))
            .filter(|f| !facts::present(f, out))
            .map(|f| f.to_string())
            .collect()
    };
    let first = backend
        .complete(GenerateRequest::chat(messages.clone(), max_tokens))
        .await?;
    let mut out = tidy(&first.text);
    let mut missing = missing_of(&out);
    if !missing.is_empty() {
        messages.push(ChatMessage::assistant(out.clone()));
        messages.push(ChatMessage::user(format!(
            "The translation lost: {}. Translate again, keeping them exactly. Output only the translation.",
            missing.join(", ")
        )));
        let second = backend
            .complete(GenerateRequest::chat(messages, max_tokens))
            .await?;
        let retry = tidy(&second.text);
        let retry_missing = missing_of(&retry);
        if retry_missing.len() < missing.len() {
            out = retry;
            missing = retry_missing;
        }
    }
    Ok(Translated {
        text: out,
        source,
        target: target.to_string(),
        missing,
    })
}

fn non_latin(code: &str) -> bool {
    matches!(code, "zh" | "ja" | "ko" | "ru" | "ar" | "hi")
}
