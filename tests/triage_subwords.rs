//! Triage's multilingual subword features from the local model's embedding table. Skips when
//! the model is not in the cache, unless `PARLEY_REQUIRE_MODELS` is set (CI fetches first).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parley::config::DEFAULT_TRIAGE_EMBEDDINGS;
use parley::llm::{fetch, manifest};
use parley::triage::data::parse_jsonl;
use parley::triage::metrics::evaluate;
use parley::triage::subwords::SubwordEmbeddings;
use parley::triage::{Triage, TriageConfig};

fn model_path() -> Option<PathBuf> {
    let m = manifest::find(DEFAULT_TRIAGE_EMBEDDINGS).expect("manifest");
    match fetch::local_path(&m, &fetch::cache_dir()) {
        Some(p) => Some(p),
        None if std::env::var_os("PARLEY_REQUIRE_MODELS").is_some() => {
            panic!("model {DEFAULT_TRIAGE_EMBEDDINGS} is required (PARLEY_REQUIRE_MODELS) but not in the cache")
        }
        None => {
            eprintln!("skipped: model {DEFAULT_TRIAGE_EMBEDDINGS} not in the cache");
            None
        }
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn split(lang: &str) -> Vec<parley::triage::data::LabelledMessage> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("evals/messages/train/{lang}.jsonl"));
    let text = std::fs::read_to_string(&path).expect("training file");
    parse_jsonl(&path.display().to_string(), &text).expect("parses")
}

/// One test, so the table loads once: it is ~2 s and ~1 GB while it dequantizes.
#[test]
fn subwords_load_embed_and_lift_tag_f1() {
    let Some(path) = model_path() else { return };
    let emb = Arc::new(SubwordEmbeddings::load(&path).expect("load embeddings"));
    assert_eq!(emb.dim(), 896);
    let n = emb
        .embed("how much does a new water heater cost?")
        .expect("tokens");
    assert!((cosine(&n, &n) - 1.0).abs() < 1e-4, "unit length");
    assert!(emb.embed("").is_none(), "no tokens, no vector");

    // Half of every language's training messages to learn from, the other half to score.
    let mut train = Vec::new();
    let mut test = Vec::new();
    for lang in ["en", "es", "vi", "zh", "tl", "ko", "fr", "pt", "ru", "ar"] {
        for (i, m) in split(lang).into_iter().enumerate() {
            if i % 2 == 0 {
                train.push(m)
            } else {
                test.push(m)
            }
        }
    }
    let plain = TriageConfig {
        training: Some(train),
        ..TriageConfig::default()
    };
    let with_subwords = TriageConfig {
        subwords: Some(emb),
        ..plain.clone()
    };
    let f1 = |config: TriageConfig| {
        let triage = Triage::new(config).expect("train");
        evaluate(&triage, &test).all.tag_micro_f1()
    };
    let (without, with) = (f1(plain), f1(with_subwords));
    eprintln!("tag micro-F1 on the other half: n-grams {without:.3}, with subwords {with:.3}");
    assert!(
        with > without + 0.01,
        "subwords should help: {without:.3} -> {with:.3}"
    );
}
