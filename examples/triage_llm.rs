//! Triage against the local LLM as a classifier, on the same held-out messages in one run: tag
//! micro-F1, emergency recall and per-message latency for each.
//!
//! `cargo run --release --example triage_llm -- [PER_LANGUAGE] [MODEL_ID]` (defaults 5 and
//! qwen2.5-coder-0.5b-instruct); the model is fetched into the cache when missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parley::domain::Urgency;
use parley::llm::fetch::FetchOptions;
use parley::llm::local::LocalBackend;
use parley::llm::{ChatMessage, GenerateRequest, LlmBackend};
use parley::triage::data::{load_dir, LabelledMessage};
use parley::triage::metrics::{percentile, Counts};
use parley::triage::subwords::SubwordEmbeddings;
use parley::triage::{Taxonomy, Triage, TriageConfig};

const SYSTEM: &str = "You label customer messages sent to a home-service company (HVAC, plumbing, electrical, cleaning).
Tags, one or more: quote_request (asks a price or estimate), booking_request (wants a visit), schedule_change (an existing appointment: move, cancel, late, ETA), complaint, billing (invoices, payments, refunds), question (other information), confirmation (confirms or thanks), spam.
Urgency, exactly one: emergency (safety risk or essential service lost: gas, CO, sparks, flooding, sewage, no heat in freezing weather, no AC in heat with vulnerable people), high (needs attention today), normal, low (thanks, spam, FYI).
Answer with two lines and nothing else:
tags: <tag>, <tag>
urgency: <level>";

struct Scored {
    tags: Counts,
    emergencies: Counts,
    latencies_us: Vec<u64>,
}

impl Scored {
    fn new() -> Self {
        Scored {
            tags: Counts::default(),
            emergencies: Counts::default(),
            latencies_us: Vec::new(),
        }
    }

    fn add(
        &mut self,
        gold: &LabelledMessage,
        tags: &BTreeSet<String>,
        urgency: Option<Urgency>,
        us: u64,
    ) {
        let want: BTreeSet<String> = gold.tags.iter().flatten().cloned().collect();
        self.tags.add(Counts {
            tp: tags.intersection(&want).count() as u32,
            fp: tags.difference(&want).count() as u32,
            fn_: want.difference(tags).count() as u32,
        });
        let (g, p) = (
            gold.urgency == Some(Urgency::Emergency),
            urgency == Some(Urgency::Emergency),
        );
        self.emergencies.add(Counts {
            tp: u32::from(g && p),
            fp: u32::from(!g && p),
            fn_: u32::from(g && !p),
        });
        self.latencies_us.push(us);
    }

    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {:.3} | {:.3} ({}/{}) | {:.1} ms | {:.1} ms |",
            self.tags.f1(),
            self.emergencies.recall(),
            self.emergencies.tp,
            self.emergencies.tp + self.emergencies.fn_,
            percentile(&self.latencies_us, 50.0) as f64 / 1e3,
            percentile(&self.latencies_us, 99.0) as f64 / 1e3,
        )
    }
}

/// Reads the model's two lines; unknown words are ignored.
fn parse(answer: &str, taxonomy: &Taxonomy) -> (BTreeSet<String>, Option<Urgency>) {
    let lower = answer.to_lowercase();
    let line = |key: &str| {
        lower
            .lines()
            .find_map(|l| l.trim().strip_prefix(key).map(str::to_string))
            .unwrap_or_default()
    };
    let tag_line = line("tags:");
    let tags = taxonomy
        .tags
        .iter()
        .filter(|t| tag_line.contains(t.id.as_str()))
        .map(|t| t.id.clone())
        .collect();
    let urgency_line = line("urgency:");
    let urgency = ["emergency", "high", "normal", "low"]
        .iter()
        .find(|u| urgency_line.contains(*u))
        .and_then(|u| u.parse().ok());
    (tags, urgency)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let per_language: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let model_id = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| parley::config::DEFAULT_TRIAGE_EMBEDDINGS.to_string());

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("evals/messages/test");
    let all = load_dir(&root)?;
    let mut picked: Vec<LabelledMessage> = Vec::new();
    for lang in ["en", "es", "vi", "zh", "tl", "ko", "fr", "pt", "ru", "ar"] {
        // Spread over the file: each file is grouped by kind (emergencies first).
        let of_lang: Vec<&LabelledMessage> = all
            .iter()
            .filter(|m| m.id.starts_with(&format!("{lang}-")))
            .collect();
        let step = (of_lang.len() / per_language.max(1)).max(1);
        picked.extend(
            of_lang
                .iter()
                .step_by(step)
                .take(per_language)
                .map(|m| (*m).clone()),
        );
    }

    let backend = LocalBackend::from_model_id(&model_id, &FetchOptions::default()).await?;
    let manifest = parley::llm::manifest::find(parley::config::DEFAULT_TRIAGE_EMBEDDINGS)?;
    let path = parley::llm::fetch::ensure(&manifest, &FetchOptions::default()).await?;
    let config = TriageConfig {
        subwords: Some(Arc::new(SubwordEmbeddings::load(Path::new(&path))?)),
        ..TriageConfig::default()
    };
    let triage = Triage::new(config)?;
    let taxonomy = Taxonomy::default();

    let mut ours = Scored::new();
    let mut llm = Scored::new();
    for m in &picked {
        let t = Instant::now();
        let c = triage.classify(&m.text, m.channel);
        let us = t.elapsed().as_micros() as u64;
        ours.add(
            m,
            &c.tags.iter().map(|t| t.id.clone()).collect(),
            Some(c.urgency.level),
            us,
        );

        let t = Instant::now();
        let req = GenerateRequest::chat(
            vec![
                ChatMessage::system(SYSTEM),
                ChatMessage::user(m.text.clone()),
            ],
            48,
        );
        let answer = backend.complete(req).await?;
        let us = t.elapsed().as_micros() as u64;
        let (tags, urgency) = parse(&answer.text, &taxonomy);
        if llm.latencies_us.len() < 3 {
            println!("LLM on {}: {:?}", m.id, answer.text);
        }
        llm.add(m, &tags, urgency, us);
    }
    println!(
        "{} held-out messages ({per_language} per language), one at a time",
        picked.len()
    );
    println!("| classifier | tag micro-F1 | emergency recall | p50 | p99 |");
    println!("|---|---|---|---|---|");
    println!(
        "{}",
        ours.row("triage (n-grams + subwords, linear, rule floor)")
    );
    println!(
        "{}",
        llm.row(&format!("local LLM `{model_id}`, zero-shot, greedy"))
    );
    Ok(())
}
