//! Drafts the first N cases of a drafts fixture with a local model and prints text, flags and
//! latency: a quick look while tuning the compose prompt (the eval runner does the scoring).
//!
//! cargo run --release --example draft_try -- evals/drafts/dev.jsonl 5 [model-id]

use std::sync::Arc;

use anyhow::Context;
use lingua::{Language, LanguageDetectorBuilder};
use parley::domain::{Channel, Direction, VoiceSettings};
use parley::llm::fetch::FetchOptions;
use parley::llm::local::LocalBackend;
use parley::llm::LlmBackend;
use parley::pipeline::compose::{compose_blocking, ComposeInput, LanguageDetector, ThreadTurn};
use parley::prompts::PromptLibrary;
use serde_json::Value;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).context("fixture path")?;
    let n: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let model = args
        .get(3)
        .map_or("qwen2.5-coder-0.5b-instruct", String::as_str);
    let backend: Arc<dyn LlmBackend> =
        Arc::new(LocalBackend::from_model_id(model, &FetchOptions::default()).await?);
    let lingua = Arc::new(
        LanguageDetectorBuilder::from_languages(&[
            Language::English,
            Language::Spanish,
            Language::Vietnamese,
            Language::Chinese,
            Language::Tagalog,
            Language::Korean,
            Language::French,
            Language::Portuguese,
            Language::Russian,
            Language::Arabic,
        ])
        .build(),
    );
    let detect: LanguageDetector = Arc::new(move |t: &str| {
        lingua
            .detect_language_of(t)
            .map(|l| l.iso_code_639_1().to_string().to_lowercase())
    });
    let library = PromptLibrary::load(Some(std::path::Path::new("prompts")))?;
    let template = library.get(parley::prompts::PromptName::Compose).source;
    for line in std::fs::read_to_string(path)?.lines().take(n) {
        let case: Value = serde_json::from_str(line)?;
        let thread = case["thread"]
            .as_array()
            .context("thread")?
            .iter()
            .map(|m| ThreadTurn {
                direction: if m["direction"] == "inbound" {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                channel: m["channel"]
                    .as_str()
                    .unwrap_or("sms")
                    .parse()
                    .unwrap_or(Channel::Sms),
                text: m["text"].as_str().unwrap_or_default().to_string(),
                at: m["at"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_default(),
            })
            .collect();
        let business = VoiceSettings {
            name: case["business"]["name"].as_str().unwrap_or_default().into(),
            tone: case["business"]["voice"]
                .as_str()
                .unwrap_or_default()
                .into(),
            technicians: serde_json::from_value(case["business"]["technicians"].clone())
                .unwrap_or_default(),
            ..Default::default()
        };
        let input = ComposeInput {
            business,
            customer_name: case["customer"]["name"].as_str().unwrap_or_default().into(),
            thread,
            goal: case["goal"].as_str().unwrap_or_default().into(),
            language: case["language"].as_str().map(str::to_string),
            template: template.clone(),
        };
        let done = compose_blocking(backend.clone(), detect.clone(), input).await?;
        println!(
            "--- {} [{}] goal: {}\n{}\nflags: {:?} attempts: {} latency: {} ms\n",
            case["id"],
            done.language,
            case["goal"],
            done.text,
            done.flags.iter().map(|f| f.check).collect::<Vec<_>>(),
            done.attempts,
            done.latency_ms
        );
    }
    Ok(())
}
