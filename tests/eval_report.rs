//! Snapshot tests of the eval reports for a small fixed run, and the `parley eval` flow end to
//! end (files written, gates, skipped lines, cache, compare) against fakes defined here only.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use parley::domain::{Channel, Urgency};
use parley::eval::compare::compare;
use parley::eval::fixtures::load_suites;
use parley::eval::gates::{self, Gate};
use parley::eval::results::{RunResult, RunSettings};
use parley::eval::runner::{self, RunOptions};
use parley::eval::{
    metrics, report, DraftCase, DraftOutput, Drafter, EvalArgs, EvalError, MessageClassifier,
    MessagePrediction,
};

const MESSAGES: &str = "tests/eval_fixtures/messages.jsonl";
const DRAFTS: &str = "tests/eval_fixtures/drafts.jsonl";

/// Keyword rules standing in for triage; `weak` never calls an emergency, as an "old" model.
struct KeywordClassifier {
    weak: bool,
}

impl MessageClassifier for KeywordClassifier {
    fn classify(&self, text: &str, _channel: Option<Channel>) -> MessagePrediction {
        let lower = text.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
        let mut tags = Vec::new();
        if has(&["how much", "cuánto"]) {
            tags.push("quote_request".to_string());
        }
        if has(&["come", "venir"]) {
            tags.push("booking_request".to_string());
        }
        if has(&["thank", "gracias"]) {
            tags.push("confirmation".to_string());
        }
        if has(&["charged", "invoice"]) {
            tags.push("billing".to_string());
        }
        let urgency = if has(&["gas"]) && !self.weak {
            Urgency::Emergency
        } else if has(&["today"]) {
            Urgency::High
        } else if tags.iter().any(|t| t == "confirmation") {
            Urgency::Low
        } else {
            Urgency::Normal
        };
        let language = if text.split_whitespace().count() <= 2 {
            None
        } else if has(&["¿", "cuánto"]) {
            Some("es".to_string())
        } else {
            Some("en".to_string())
        };
        MessagePrediction::new(tags, urgency, language)
    }
}

/// Canned drafts per case id; counts calls so tests can see the cache work.
#[derive(Default)]
struct CannedDrafter {
    calls: AtomicUsize,
}

#[async_trait]
impl Drafter for CannedDrafter {
    async fn draft(&self, case: &DraftCase) -> Result<DraftOutput, EvalError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (text, latency) = match case.id.as_str() {
            "d1" => (
                "Hi Ana, Mike can come Tuesday at 3 PM. Does that work?",
                1200,
            ),
            "d2" => (
                "Hola Jose, podemos ir el martes a las 15:00. ¿Le parece bien?",
                1500,
            ),
            "d3" => ("王先生您好，我们明天下午三点可以过来，请问方便吗？", 2500),
            _ => return Err(EvalError::Draft("backend timed out".into())),
        };
        Ok(DraftOutput::new(text, case.language.clone(), latency))
    }

    fn describe(&self) -> String {
        "canned test drafts".into()
    }
}

/// Script-based stand-in for lingua.
fn detect(text: &str) -> Option<String> {
    let code = if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
        "zh"
    } else if text.contains("Hola") {
        "es"
    } else {
        "en"
    };
    Some(code.to_string())
}

/// A run with wall-clock values pinned, so the reports are byte-for-byte stable.
async fn fixed_run(weak: bool, gates: &[&str]) -> RunResult {
    let suites = [PathBuf::from(MESSAGES), PathBuf::from(DRAFTS)];
    let suite = load_suites(&suites, None).unwrap();
    let drafter = CannedDrafter::default();
    let options = RunOptions {
        settings: RunSettings {
            suites: suite.files.clone(),
            model: Some("test-model".into()),
            template_version: Some("v1".into()),
            ..RunSettings::default()
        },
        cache: None,
        progress: false,
    };
    let classifier = KeywordClassifier { weak };
    let mut run = runner::run(&suite, Some(&classifier), Some(&drafter), &detect, options)
        .await
        .unwrap();
    run.started_at = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    run.finished_at = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 7).unwrap();
    for (i, m) in run.messages.iter_mut().enumerate() {
        m.latency_ms = 2.0 + i as f64;
    }
    run.metrics = metrics::compute(&run.messages, &run.drafts);
    let gates: Vec<Gate> = gates.iter().map(|g| g.parse().unwrap()).collect();
    run.gates = gates::evaluate(&gates, &run);
    run
}

const GATES: &[&str] = &[
    "tags.micro_f1=0.85",
    "urgency.emergency_recall=0.97",
    "language.accuracy_3plus@es=0.5",
    "drafts.pass_rate=0.5",
    "drafts.pass_rate@!en=0.75",
];

#[tokio::test]
async fn markdown_report_of_a_small_run() {
    let run = fixed_run(false, GATES).await;
    insta::assert_snapshot!(report::markdown(&run, None));
}

#[tokio::test]
async fn junit_of_a_small_run() {
    let run = fixed_run(false, GATES).await;
    insta::assert_snapshot!(report::junit(&run));
}

#[tokio::test]
async fn terminal_summary_with_gates_and_a_comparison() {
    let old = fixed_run(true, &[]).await;
    let new = fixed_run(false, GATES).await;
    let comparison = compare(&old, &new, "old/results.json");
    insta::assert_snapshot!(report::terminal(&new, Some(&comparison)));
}

#[tokio::test]
async fn comparison_names_flipped_cases_both_ways() {
    let old = fixed_run(true, &[]).await;
    let new = fixed_run(false, &[]).await;
    let c = compare(&old, &new, "old.json");
    let ids = |flips: &[parley::eval::compare::Flip]| {
        flips.iter().map(|f| f.id.clone()).collect::<Vec<_>>()
    };
    // The weak classifier missed m1's emergency; the new one calls m8's "no emergency" one.
    assert_eq!(ids(&c.newly_passing), ["m1"]);
    assert_eq!(ids(&c.newly_failing), ["m8"]);
    let recall = c
        .deltas
        .iter()
        .find(|d| d.key == "urgency.emergency_recall")
        .unwrap();
    assert_eq!((recall.old, recall.new), (Some(0.0), Some(1.0)));
    assert_eq!(recall.verdict, parley::eval::compare::Verdict::Better);
}

#[tokio::test]
async fn html_report_is_self_contained_with_heat_map_and_failing_cases() {
    let run = fixed_run(false, GATES).await;
    let html = report::html(&run, None);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg "));
    assert_eq!(html.matches("<rect ").count(), 16);
    assert!(html.contains("draft <code>d3</code>: max_words"));
    assert!(html.contains("message <code>m8</code>: urgency"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") || html.contains("xmlns=\"http://www.w3.org/2000/svg\""));
}

fn args(suites: Vec<PathBuf>, dir: &std::path::Path) -> EvalArgs {
    EvalArgs {
        suites,
        backend: None,
        model: None,
        via_english: false,
        triage: parley::config::TriageModelConfig {
            embeddings: "none".into(),
        },
        prompts: Some(dir.join("prompts")),
        limit: None,
        out: Some(dir.join("out")),
        junit: Some(dir.join("junit/eval.xml")),
        compare: None,
        min: Vec::new(),
        cache_dir: dir.join("cache"),
        no_cache: false,
    }
}

#[tokio::test]
async fn eval_writes_reports_caches_drafts_and_compares() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    std::fs::write(dir.path().join("prompts/compose.j2"), "{{ goal }}").unwrap();
    let drafter = CannedDrafter::default();
    let classifier = KeywordClassifier { weak: false };
    let mut a = args(vec![DRAFTS.into()], dir.path());
    a.min = vec!["drafts.pass_rate=0.5".parse().unwrap()];

    let first = parley::eval::run(&a, Some(&classifier), Some(&drafter), &detect)
        .await
        .unwrap();
    assert!(first.success(), "{:?}", first.result.gates);
    assert_eq!(drafter.calls.load(Ordering::SeqCst), 4);
    for file in [
        "out/results.json",
        "out/report.md",
        "out/report.html",
        "junit/eval.xml",
    ] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    let written = report::read_results(&dir.path().join("out/results.json")).unwrap();
    assert_eq!(written, first.result);
    let d3 = written.drafts.iter().find(|d| d.case.id == "d3").unwrap();
    assert_eq!(d3.failed, ["max_words"]);
    assert!(d3.output.as_ref().unwrap().text.starts_with("王先生"));

    // Same input, model and templates: the three good drafts come from the cache; the failed
    // one is tried again.
    a.compare = Some(dir.path().join("out/results.json"));
    let second = parley::eval::run(&a, Some(&classifier), Some(&drafter), &detect)
        .await
        .unwrap();
    assert_eq!(drafter.calls.load(Ordering::SeqCst), 5);
    assert_eq!(second.result.drafts.iter().filter(|d| d.cached).count(), 3);
    let comparison = second.comparison.unwrap();
    assert!(comparison.newly_failing.is_empty() && comparison.newly_passing.is_empty());
    assert_eq!(comparison.count(parley::eval::compare::Verdict::Worse), 0);

    // A template edit invalidates the cache.
    std::fs::write(dir.path().join("prompts/compose.j2"), "{{ goal }}!").unwrap();
    parley::eval::run(&a, Some(&classifier), Some(&drafter), &detect)
        .await
        .unwrap();
    assert_eq!(drafter.calls.load(Ordering::SeqCst), 9);
}

#[tokio::test]
async fn drafts_are_not_cached_without_a_template_version() {
    let dir = tempfile::tempdir().unwrap();
    let drafter = CannedDrafter::default();
    let mut a = args(vec![DRAFTS.into()], dir.path());
    a.prompts = None;
    for _ in 0..2 {
        parley::eval::run(&a, None, Some(&drafter), &detect)
            .await
            .unwrap();
    }
    assert_eq!(drafter.calls.load(Ordering::SeqCst), 8);
    assert!(!dir.path().join("cache").exists());
}

#[tokio::test]
async fn compare_rejects_a_file_that_is_not_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(vec![DRAFTS.into()], dir.path());
    std::fs::write(dir.path().join("old.json"), "{\"schema\": 1}").unwrap();
    a.compare = Some(dir.path().join("old.json"));
    let drafter = CannedDrafter::default();
    let err = parley::eval::run(&a, None, Some(&drafter), &detect)
        .await
        .unwrap_err();
    assert!(matches!(err, EvalError::ResultsFormat { .. }), "{err}");
    // Checked before any drafting.
    assert_eq!(drafter.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn skipped_lines_and_failed_gates_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    let classifier = KeywordClassifier { weak: false };
    let mut a = args(vec![MESSAGES.into()], dir.path());
    let outcome = parley::eval::run(&a, Some(&classifier), None, &detect)
        .await
        .unwrap();
    assert_eq!(outcome.result.skipped.len(), 1);
    assert_eq!(outcome.result.skipped[0].field.as_deref(), Some("urgency"));
    assert!(!outcome.success());

    a.suites = vec![dir.path().join("clean.jsonl")];
    let clean: String = std::fs::read_to_string(MESSAGES)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("urgent"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&a.suites[0], clean).unwrap();
    let outcome = parley::eval::run(&a, Some(&classifier), None, &detect)
        .await
        .unwrap();
    assert!(outcome.success());
    a.min = vec!["urgency.emergency_precision=0.9".parse().unwrap()];
    let outcome = parley::eval::run(&a, Some(&classifier), None, &detect)
        .await
        .unwrap();
    assert!(!outcome.success());
    assert_eq!(outcome.result.gates_failed(), 1);
}

#[tokio::test]
async fn a_suite_without_its_system_or_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = args(vec![DRAFTS.into()], dir.path());
    let err = parley::eval::run(&a, None, None, &detect)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the suites hold 4 draft cases but no drafter was given"
    );
    let a = args(vec![dir.path().join("missing.jsonl")], dir.path());
    let err = parley::eval::run(&a, None, None, &detect)
        .await
        .unwrap_err();
    assert!(matches!(err, EvalError::Io { .. }));
}
