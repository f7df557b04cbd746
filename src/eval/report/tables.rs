//! The report's tables, built once from a run and laid out by each renderer.

use super::table::Table;
use super::{ms, pct, pct_delta};
use crate::eval::checks::CheckKind;
use crate::eval::compare::{Comparison, Verdict};
use crate::eval::metrics::{
    DraftMetrics, DraftScores, LengthBucket, MessageMetrics, MessageScores, UrgencyScores,
    LATENCY_KEYS,
};
use crate::eval::results::RunResult;

pub fn tags(scores: &MessageScores) -> Table {
    let mut t = Table::new(["tag", "precision", "recall", "f1", "support"]);
    for (tag, s) in &scores.tags.per_tag {
        t.row([
            tag.clone(),
            pct(s.precision),
            pct(s.recall),
            pct(Some(s.f1)),
            s.support().to_string(),
        ]);
    }
    let tags = &scores.tags;
    t.row([
        "micro".to_string(),
        pct(tags.micro_precision),
        pct(tags.micro_recall),
        pct(tags.micro_f1),
        String::new(),
    ]);
    t.row([
        "macro".to_string(),
        String::new(),
        String::new(),
        pct(tags.macro_f1),
        String::new(),
    ]);
    t
}

/// Rows: the fixtures' urgency; columns: the prediction.
pub fn urgency_matrix(scores: &UrgencyScores) -> Table {
    let mut t = Table::new(
        std::iter::once("expected \\ predicted".to_string())
            .chain(UrgencyScores::LABELS.iter().map(|l| l.to_string())),
    );
    for gold in UrgencyScores::LABELS {
        t.row(
            std::iter::once(gold.to_string()).chain(
                UrgencyScores::LABELS
                    .iter()
                    .map(|p| scores.count(gold, *p).to_string()),
            ),
        );
    }
    t
}

/// Language accuracy per length bucket on one line, for per-group sections.
pub fn language_summary(scores: &MessageScores) -> String {
    let buckets: Vec<String> = scores
        .language
        .buckets
        .iter()
        .filter(|b| b.cases > 0)
        .map(|b| format!("{} {} ({})", b.bucket.label(), pct(b.accuracy), b.cases))
        .collect();
    format!(
        "accuracy {}; {}",
        pct(scores.language.accuracy),
        buckets.join(", ")
    )
}

pub fn urgency_summary(scores: &UrgencyScores) -> String {
    format!(
        "accuracy {}, emergency recall {}, emergency precision {}",
        pct(scores.accuracy),
        pct(scores.emergency_recall),
        pct(scores.emergency_precision)
    )
}

pub fn language(scores: &MessageScores) -> Table {
    let mut t = Table::new(["length", "cases", "correct", "accuracy"]);
    for bucket in LengthBucket::ALL {
        if let Some(b) = scores.language.bucket(bucket) {
            t.row([
                bucket.label().to_string(),
                b.cases.to_string(),
                b.correct.to_string(),
                pct(b.accuracy),
            ]);
        }
    }
    t.row([
        "3+ words".to_string(),
        String::new(),
        String::new(),
        pct(scores.language.accuracy_3plus),
    ]);
    t.row([
        "all".to_string(),
        scores.language.cases.to_string(),
        scores.language.correct.to_string(),
        pct(scores.language.accuracy),
    ]);
    t
}

/// One row per language group, and the overall row last.
pub fn message_groups(metrics: &MessageMetrics) -> Table {
    let mut t = Table::new([
        "language",
        "cases",
        "all right",
        "tags micro F1",
        "tags macro F1",
        "urgency acc",
        "emerg. recall",
        "emerg. precision",
        "lang acc 3+",
        "classify p50",
    ]);
    let groups = metrics
        .by_language
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(std::iter::once(("all", &metrics.overall)));
    for (name, s) in groups {
        t.row([
            name.to_string(),
            s.cases.to_string(),
            s.passed.to_string(),
            pct(s.tags.micro_f1),
            pct(s.tags.macro_f1),
            pct(s.urgency.accuracy),
            pct(s.urgency.emergency_recall),
            pct(s.urgency.emergency_precision),
            pct(s.language.accuracy_3plus),
            ms(s.latency.p50_ms),
        ]);
    }
    t
}

/// One row per language group and overall: pass rates per check, then latency.
pub fn draft_groups(metrics: &DraftMetrics) -> Table {
    let checks: Vec<CheckKind> = CheckKind::ALL
        .into_iter()
        .filter(|k| metrics.overall.per_check.contains_key(k))
        .collect();
    let mut t = Table::new(
        ["language", "cases", "passed", "pass rate"]
            .into_iter()
            .map(String::from)
            .chain(checks.iter().map(|c| c.to_string()))
            .chain(["errors", "p50", "p95"].map(String::from)),
    );
    let groups = metrics
        .by_language
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(std::iter::once(("all", &metrics.overall)));
    for (name, s) in groups {
        t.row(draft_row(name, s, &checks));
    }
    t
}

fn draft_row(name: &str, s: &DraftScores, checks: &[CheckKind]) -> Vec<String> {
    let mut row = vec![
        name.to_string(),
        s.cases.to_string(),
        s.passed.to_string(),
        pct(s.pass_rate),
    ];
    row.extend(
        checks
            .iter()
            .map(|c| pct(s.per_check.get(c).and_then(|r| r.rate))),
    );
    row.extend([
        s.errors.to_string(),
        ms(s.latency.p50_ms),
        ms(s.latency.p95_ms),
    ]);
    row
}

pub fn gates(run: &RunResult) -> Table {
    let mut t = Table::new(["gate", "min", "actual", "result"]);
    for g in &run.gates {
        let name = match &g.gate.group {
            Some(group) => format!("{}@{group}", g.gate.key),
            None => g.gate.key.clone(),
        };
        t.row([
            name,
            format!("{:.3}", g.gate.min),
            g.actual
                .map(|a| format!("{a:.3}"))
                .unwrap_or_else(|| "no data".into()),
            if g.passed { "pass" } else { "FAIL" }.to_string(),
        ]);
    }
    t
}

/// Metrics that moved, worse first.
pub fn deltas(comparison: &Comparison) -> Table {
    let mut t = Table::new(["metric", "old", "new", "change", "verdict"]);
    for d in comparison
        .deltas
        .iter()
        .filter(|d| d.verdict != Verdict::Same)
    {
        let base = d.key.split('@').next().unwrap_or(&d.key);
        let is_latency = LATENCY_KEYS.contains(&base);
        let show = |v: Option<f64>| if is_latency { ms(v) } else { pct(v) };
        let change = match (is_latency, d.delta()) {
            (_, None) => String::new(),
            (true, Some(delta)) => format!("{delta:+.0} ms"),
            (false, Some(delta)) => pct_delta(delta),
        };
        let verdict = match d.verdict {
            Verdict::Better => "better",
            Verdict::Worse => "WORSE",
            Verdict::Added => "new",
            Verdict::Removed => "gone",
            Verdict::Same => "same",
        };
        t.row([
            d.key.clone(),
            show(d.old),
            show(d.new),
            change,
            verdict.to_string(),
        ]);
    }
    t
}
