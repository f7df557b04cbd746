//! Scores a run's case results, overall and per language group, and names each number by a key
//! that gates and comparisons use.

mod drafts;
mod language;
mod latency;
mod tags;
mod urgency;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use self::drafts::{CheckRate, DraftScores};
pub use self::language::{BucketScore, LanguageScores, LengthBucket};
pub use self::latency::{summarize as summarize_latency, Latency};
pub use self::tags::{TagScores, TagStat};
pub use self::urgency::UrgencyScores;
use super::checks::CheckKind;
use super::results::{language_group, DraftResult, MessageResult};

/// Every score of a run; a section is absent when the run had no cases of that kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub messages: Option<MessageMetrics>,
    pub drafts: Option<DraftMetrics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageMetrics {
    pub overall: MessageScores,
    /// Keyed by the fixtures' `language` (`und` when it is null).
    pub by_language: BTreeMap<String, MessageScores>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageScores {
    pub cases: usize,
    /// Cases right on tags, urgency and language at once.
    pub passed: usize,
    pub tags: TagScores,
    pub urgency: UrgencyScores,
    pub language: LanguageScores,
    pub latency: Latency,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftMetrics {
    pub overall: DraftScores,
    pub by_language: BTreeMap<String, DraftScores>,
}

/// Scores the results of a run.
pub fn compute(messages: &[MessageResult], drafts: &[DraftResult]) -> Metrics {
    let message_metrics = (!messages.is_empty()).then(|| {
        let all: Vec<&MessageResult> = messages.iter().collect();
        MessageMetrics {
            overall: score_messages(&all),
            by_language: group(messages, |m| m.case.language.as_deref())
                .into_iter()
                .map(|(lang, cases)| (lang, score_messages(&cases)))
                .collect(),
        }
    });
    let draft_metrics = (!drafts.is_empty()).then(|| {
        let all: Vec<&DraftResult> = drafts.iter().collect();
        DraftMetrics {
            overall: drafts::score(&all),
            by_language: group(drafts, |d| d.case.language.as_deref())
                .into_iter()
                .map(|(lang, cases)| (lang, drafts::score(&cases)))
                .collect(),
        }
    });
    Metrics {
        messages: message_metrics,
        drafts: draft_metrics,
    }
}

fn group<T>(items: &[T], language: impl Fn(&T) -> Option<&str>) -> BTreeMap<String, Vec<&T>> {
    let mut groups: BTreeMap<String, Vec<&T>> = BTreeMap::new();
    for item in items {
        groups
            .entry(language_group(language(item)))
            .or_default()
            .push(item);
    }
    groups
}

fn score_messages(results: &[&MessageResult]) -> MessageScores {
    MessageScores {
        cases: results.len(),
        passed: results.iter().filter(|r| r.passed).count(),
        tags: tags::score(
            results
                .iter()
                .map(|r| (r.case.tags.as_slice(), r.predicted.tags.as_slice())),
        ),
        urgency: urgency::score(
            results
                .iter()
                .map(|r| (r.case.urgency, r.predicted.urgency)),
        ),
        language: language::score(
            results
                .iter()
                .map(|r| (r.case.text.as_str(), r.language_correct())),
        ),
        latency: latency::summarize(results.iter().map(|r| r.latency_ms)),
    }
}

/// `num / den`, or `None` when there is nothing to divide by.
pub(crate) fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Keys a `--min` gate can name: rates in 0..=1 where higher is better. Append `@LANG` to read
/// the key in one language group (`tags.micro_f1@es`).
pub const GATE_KEYS: &[&str] = &[
    "tags.micro_f1",
    "tags.macro_f1",
    "tags.micro_precision",
    "tags.micro_recall",
    "urgency.accuracy",
    "urgency.emergency_recall",
    "urgency.emergency_precision",
    "language.accuracy",
    "language.accuracy_1_2",
    "language.accuracy_3_9",
    "language.accuracy_10plus",
    "language.accuracy_3plus",
    "drafts.pass_rate",
    "drafts.must_include_any",
    "drafts.must_not_include",
    "drafts.first_name",
    "drafts.language",
    "drafts.max_words",
];

/// Keys only comparisons show, where lower is better.
pub const LATENCY_KEYS: &[&str] = &[
    "classify.latency_p50_ms",
    "classify.latency_p95_ms",
    "drafts.latency_p50_ms",
    "drafts.latency_p95_ms",
];

/// The value of `key` (one of `GATE_KEYS` or `LATENCY_KEYS`) overall or in one language group;
/// `None` when the run has no data for it.
pub fn value(metrics: &Metrics, key: &str, group: Option<&str>) -> Option<f64> {
    let (section, name) = key.split_once('.')?;
    match section {
        "tags" | "urgency" | "language" | "classify" => {
            let m = metrics.messages.as_ref()?;
            let s = match group {
                Some(g) => m.by_language.get(g)?,
                None => &m.overall,
            };
            message_value(s, section, name)
        }
        "drafts" => {
            let d = metrics.drafts.as_ref()?;
            let s = match group {
                Some(g) => d.by_language.get(g)?,
                None => &d.overall,
            };
            draft_value(s, name)
        }
        _ => None,
    }
}

fn message_value(s: &MessageScores, section: &str, name: &str) -> Option<f64> {
    let bucket = |b| s.language.bucket(b).and_then(|b| b.accuracy);
    match (section, name) {
        ("tags", "micro_f1") => s.tags.micro_f1,
        ("tags", "macro_f1") => s.tags.macro_f1,
        ("tags", "micro_precision") => s.tags.micro_precision,
        ("tags", "micro_recall") => s.tags.micro_recall,
        ("urgency", "accuracy") => s.urgency.accuracy,
        ("urgency", "emergency_recall") => s.urgency.emergency_recall,
        ("urgency", "emergency_precision") => s.urgency.emergency_precision,
        ("language", "accuracy") => s.language.accuracy,
        ("language", "accuracy_1_2") => bucket(LengthBucket::Short),
        ("language", "accuracy_3_9") => bucket(LengthBucket::Medium),
        ("language", "accuracy_10plus") => bucket(LengthBucket::Long),
        ("language", "accuracy_3plus") => s.language.accuracy_3plus,
        ("classify", "latency_p50_ms") => s.latency.p50_ms,
        ("classify", "latency_p95_ms") => s.latency.p95_ms,
        _ => None,
    }
}

fn draft_value(s: &DraftScores, name: &str) -> Option<f64> {
    match name {
        "pass_rate" => s.pass_rate,
        "latency_p50_ms" => s.latency.p50_ms,
        "latency_p95_ms" => s.latency.p95_ms,
        check => CheckKind::ALL
            .iter()
            .find(|k| k.as_str() == check)
            .and_then(|k| s.per_check.get(k))
            .and_then(|r| r.rate),
    }
}

/// Every key with a value, overall and per language group (`key@lang`), for comparisons.
pub fn all_values(metrics: &Metrics) -> BTreeMap<String, f64> {
    let mut groups: Vec<Option<&str>> = vec![None];
    if let Some(m) = &metrics.messages {
        groups.extend(m.by_language.keys().map(|k| Some(k.as_str())));
    }
    if let Some(d) = &metrics.drafts {
        groups.extend(d.by_language.keys().map(|k| Some(k.as_str())));
    }
    groups.sort();
    groups.dedup();
    let mut out = BTreeMap::new();
    for group in groups {
        for key in GATE_KEYS.iter().chain(LATENCY_KEYS) {
            if let Some(v) = value(metrics, key, group) {
                let name = match group {
                    Some(g) => format!("{key}@{g}"),
                    None => key.to_string(),
                };
                out.insert(name, v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Urgency;
    use crate::eval::fixtures::{MessageCase, Source};
    use crate::eval::traits::MessagePrediction;

    fn result(
        id: &str,
        lang: Option<&str>,
        text: &str,
        gold: Urgency,
        got: Urgency,
    ) -> MessageResult {
        let case = MessageCase {
            id: id.into(),
            channel: None,
            text: text.into(),
            tags: vec!["booking_request".into()],
            urgency: gold,
            language: lang.map(str::to_string),
            source: Source {
                file: "f".into(),
                line: 1,
            },
        };
        let predicted = MessagePrediction::new(
            vec!["booking_request".into()],
            got,
            lang.map(str::to_string),
        );
        MessageResult::score(case, predicted, 5.0)
    }

    #[test]
    fn metrics_are_grouped_by_fixture_language() {
        let results = [
            result(
                "1",
                Some("en"),
                "gas smell in the kitchen",
                Urgency::Emergency,
                Urgency::Emergency,
            ),
            result(
                "2",
                Some("es"),
                "huele a gas en la cocina",
                Urgency::Emergency,
                Urgency::High,
            ),
            result("3", None, "ok", Urgency::Low, Urgency::Low),
        ];
        let m = compute(&results, &[]);
        assert!(m.drafts.is_none());
        let groups: Vec<&String> = m.messages.as_ref().unwrap().by_language.keys().collect();
        assert_eq!(groups, ["en", "es", "und"]);
        assert_eq!(value(&m, "urgency.emergency_recall", None), Some(0.5));
        assert_eq!(value(&m, "urgency.emergency_recall", Some("en")), Some(1.0));
        assert_eq!(value(&m, "urgency.emergency_recall", Some("es")), Some(0.0));
        assert_eq!(value(&m, "urgency.emergency_recall", Some("und")), None);
        assert_eq!(value(&m, "language.accuracy_3plus", None), Some(1.0));
        assert_eq!(value(&m, "drafts.pass_rate", None), None);
        assert_eq!(value(&m, "classify.latency_p50_ms", None), Some(5.0));
    }

    #[test]
    fn every_gate_key_is_readable() {
        let results = [result(
            "1",
            Some("en"),
            "gas smell",
            Urgency::Emergency,
            Urgency::Emergency,
        )];
        let m = compute(&results, &[]);
        let all = all_values(&m);
        assert!(all.contains_key("tags.micro_f1@en"));
        for key in GATE_KEYS.iter().filter(|k| !k.starts_with("drafts.")) {
            // Buckets with no messages legitimately have no value.
            if !key.starts_with("language.accuracy_") {
                assert!(all.contains_key(*key), "{key}");
            }
        }
    }
}
