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
    let messages = |must_keep: Vec<String>| -> Result<Vec<ChatMessage>, ComposeError> {
        let ctx = TranslateContext {
            text: text.to_string(),
            source: view(&source),
            target: view(target),
            must_keep,
        };
        Ok(prompts::render(PromptName::Translate, template, &ctx)?
            .into_iter()
            .map(ChatMessage::from)
            .collect())
    };
    // Room for scripts that spend several tokens per word.
    let max_tokens = (text.chars().count() as u32 * 2).clamp(64, 1024);
    let facts = kept_facts(text);
    let lost = |out: &str| -> Vec<&Fact> {
        facts
            .iter()
            .filter(|f| !matches!(f, Fact::Name(_)) || !non_latin(target))
            .filter(|f| !facts::present(f, out))
            .collect()
    };
    let first = backend
        .complete(GenerateRequest::chat(messages(Vec::new())?, max_tokens))
        .await?;
    let mut out = tidy(&first.text);
    let mut missing = lost(&out);
    tracing::debug!(?missing, %out, "translation");
    if !missing.is_empty() {
        // Asked afresh with what was lost named in the instructions. A follow-up turn saying
        // what was lost was itself translated as the next text ("A tradução perdeu: hora
        // 8:00."), and that carried the lost time, so it passed.
        let must_keep = missing.iter().map(|f| f.spelled(target)).collect();
        let second = backend
            .complete(GenerateRequest::chat(messages(must_keep)?, max_tokens))
            .await?;
        let retry = tidy(&second.text);
        let retry_missing = lost(&retry);
        tracing::debug!(missing = ?retry_missing, %retry, "translation, asked again");
        if retry_missing.len() < missing.len() {
            out = retry;
            missing = retry_missing;
        }
    }
    Ok(Translated {
        text: out,
        source,
        target: target.to_string(),
        missing: missing.iter().map(|f| f.to_string()).collect(),
    })
}

fn non_latin(code: &str) -> bool {
    matches!(code, "zh" | "ja" | "ko" | "ru" | "ar" | "hi")
}
