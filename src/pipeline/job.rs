//! Turning a thread into a pre-filled job: a short title, the scope, and the address.

use std::sync::Arc;

use serde::Deserialize;

use super::compose::ComposeError;
use super::guardrails::tidy;
use crate::llm::{ChatMessage, GenerateRequest, LlmBackend};
use crate::prompts::context::JobContext;
use crate::prompts::{self, PromptName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    pub title: String,
    pub scope: String,
}

#[derive(Deserialize)]
struct Raw {
    title: String,
    scope: String,
}

const STREET_WORDS: &[&str] = &[
    "st",
    "st.",
    "street",
    "ave",
    "ave.",
    "avenue",
    "dr",
    "dr.",
    "drive",
    "ln",
    "ln.",
    "lane",
    "rd",
    "rd.",
    "road",
    "blvd",
    "blvd.",
    "boulevard",
    "way",
    "ct",
    "ct.",
    "court",
    "pl",
    "pl.",
    "place",
    "pkwy",
    "parkway",
    "trl",
    "trail",
    "cir",
    "circle",
    "hwy",
    "highway",
    "loop",
];

/// The first street address in the text: a house number, up to four words, a street word
/// ("2207 Pecan Drive", "88 Mesquite Ln").
pub fn find_address(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let number = w.trim_end_matches(',');
        if !(1..=6).contains(&number.len()) || !number.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        for len in 1..=5 {
            let Some(last) = words.get(i + len) else {
                break;
            };
            let clean = last
                .trim_end_matches([',', ';', '!', '?'])
                .trim_end_matches('.')
                .to_lowercase();
            let with_dot = format!("{clean}.");
            if STREET_WORDS.contains(&clean.as_str()) || STREET_WORDS.contains(&with_dot.as_str()) {
                let end = words[i + len].trim_end_matches([',', ';', '!', '?', '.']);
                let mut parts: Vec<&str> = words[i..i + len].to_vec();
                parts.push(end);
                return Some(parts.join(" ").trim_end_matches(',').to_string());
            }
        }
    }
    None
}

/// A title and scope when the model's answer is unusable: the first inbound message, cut short.
pub fn fallback_summary(ctx: &JobContext) -> JobSummary {
    let first = ctx
        .thread
        .iter()
        .find(|t| t.from == "customer")
        .map(|t| t.text.clone())
        .unwrap_or_default();
    let words: Vec<&str> = first.split_whitespace().collect();
    let mut title = words.iter().take(8).copied().collect::<Vec<_>>().join(" ");
    if words.len() > 8 {
        title.push('…');
    }
    if ctx.urgency == "emergency" {
        title = format!("Emergency: {title}");
    }
    let scope = ctx
        .thread
        .iter()
        .filter(|t| t.from == "customer")
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    JobSummary {
        title,
        scope: scope.chars().take(600).collect(),
    }
}

fn parse(text: &str) -> Option<JobSummary> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    let raw: Raw = serde_json::from_str(text.get(start..=end)?).ok()?;
    let title = raw.title.trim().to_string();
    let scope = raw.scope.trim().to_string();
    (!title.is_empty() && !scope.is_empty()).then_some(JobSummary { title, scope })
}

/// Asks the model for a title and scope; falls back to the customer's own words when the
/// answer is not the JSON asked for.
pub async fn summarize(
    backend: Arc<dyn LlmBackend>,
    template: &str,
    ctx: &JobContext,
) -> Result<JobSummary, ComposeError> {
    let messages: Vec<ChatMessage> = prompts::render(PromptName::JobSummary, template, ctx)?
        .into_iter()
        .map(ChatMessage::from)
        .collect();
    let done = backend
        .complete(GenerateRequest::chat(messages, 160))
        .await?;
    let mut summary = parse(&tidy(&done.text)).unwrap_or_else(|| fallback_summary(ctx));
    if ctx.urgency == "emergency" && !summary.title.starts_with("Emergency") {
        summary.title = format!("Emergency: {}", summary.title);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::context::sample_job;

    #[test]
    fn finds_street_addresses() {
        assert_eq!(
            find_address("Address: 88 Mesquite Ln. Family has left the house.").as_deref(),
            Some("88 Mesquite Ln")
        );
        assert_eq!(
            find_address("Mi dirección es 2207 Pecan Drive, gracias").as_deref(),
            Some("2207 Pecan Drive")
        );
        assert_eq!(find_address("AC stopped, 2 kids at home"), None);
    }

    #[test]
    fn parses_json_even_with_chatter() {
        let s = parse("Sure! {\"title\": \"AC out\", \"scope\": \"No cooling.\"} Done");
        assert_eq!(
            s,
            Some(JobSummary {
                title: "AC out".into(),
                scope: "No cooling.".into()
            })
        );
        assert_eq!(parse("no json here"), None);
    }

    #[test]
    fn fallback_marks_emergencies() {
        let s = fallback_summary(&sample_job());
        assert!(
            s.title.starts_with("Emergency: Hi, AC stopped working"),
            "{}",
            s.title
        );
        assert!(s.scope.contains("two kids"));
    }
}
