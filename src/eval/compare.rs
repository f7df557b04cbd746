//! `--compare OLD.json`: which metrics moved and which cases flipped between two runs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::metrics::{all_values, LATENCY_KEYS};
use super::results::RunResult;

/// How a metric moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    Same,
    /// Only in the new run.
    Added,
    /// Only in the old run.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDelta {
    pub key: String,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub verdict: Verdict,
}

impl MetricDelta {
    pub fn delta(&self) -> Option<f64> {
        Some(self.new? - self.old?)
    }
}

/// A case whose pass/fail changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flip {
    pub kind: String,
    pub id: String,
    /// What fails now (newly failing) or failed before (newly passing).
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub old_label: String,
    /// Every metric either run has, changed ones first (worse before better), then by key.
    pub deltas: Vec<MetricDelta>,
    pub newly_failing: Vec<Flip>,
    pub newly_passing: Vec<Flip>,
    /// Cases in only one of the runs, which a comparison cannot judge.
    pub only_old: usize,
    pub only_new: usize,
}

impl Comparison {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.deltas.iter().filter(|d| d.verdict == verdict).count()
    }
}

/// Rates move by whole cases, so any change is real; latencies jitter between runs, so a move of
/// less than this fraction counts as the same.
const LATENCY_NOISE: f64 = 0.05;

pub fn compare(old: &RunResult, new: &RunResult, old_label: &str) -> Comparison {
    let old_values = all_values(&old.metrics);
    let new_values = all_values(&new.metrics);
    let keys: BTreeSet<&String> = old_values.keys().chain(new_values.keys()).collect();
    let mut deltas: Vec<MetricDelta> = keys
        .into_iter()
        .map(|key| {
            let old = old_values.get(key).copied();
            let new = new_values.get(key).copied();
            MetricDelta {
                verdict: verdict(key, old, new),
                key: key.clone(),
                old,
                new,
            }
        })
        .collect();
    let order = |v: Verdict| match v {
        Verdict::Worse => 0,
        Verdict::Better => 1,
        Verdict::Removed => 2,
        Verdict::Added => 3,
        Verdict::Same => 4,
    };
    deltas.sort_by(|a, b| {
        order(a.verdict)
            .cmp(&order(b.verdict))
            .then(a.key.cmp(&b.key))
    });

    let old_cases = outcomes(old);
    let new_cases = outcomes(new);
    let mut newly_failing = Vec::new();
    let mut newly_passing = Vec::new();
    for (key, (new_passed, new_failed)) in &new_cases {
        match old_cases.get(key) {
            Some((true, _)) if !new_passed => newly_failing.push(flip(key, new_failed)),
            Some((false, old_failed)) if *new_passed => newly_passing.push(flip(key, old_failed)),
            _ => {}
        }
    }
    Comparison {
        old_label: old_label.to_string(),
        deltas,
        newly_failing,
        newly_passing,
        only_old: old_cases
            .keys()
            .filter(|k| !new_cases.contains_key(*k))
            .count(),
        only_new: new_cases
            .keys()
            .filter(|k| !old_cases.contains_key(*k))
            .count(),
    }
}

fn verdict(key: &str, old: Option<f64>, new: Option<f64>) -> Verdict {
    let (old, new) = match (old, new) {
        (Some(o), Some(n)) => (o, n),
        (None, _) => return Verdict::Added,
        (_, None) => return Verdict::Removed,
    };
    let base = key.split('@').next().unwrap_or(key);
    let lower_is_better = LATENCY_KEYS.contains(&base);
    let threshold = if lower_is_better {
        old.abs() * LATENCY_NOISE
    } else {
        1e-9
    };
    if (new - old).abs() <= threshold {
        Verdict::Same
    } else if (new > old) != lower_is_better {
        Verdict::Better
    } else {
        Verdict::Worse
    }
}

type CaseKey = (&'static str, String);

fn outcomes(run: &RunResult) -> BTreeMap<CaseKey, (bool, Vec<String>)> {
    let messages = run
        .messages
        .iter()
        .map(|m| (("message", m.case.id.clone()), (m.passed, m.failed.clone())));
    let drafts = run
        .drafts
        .iter()
        .map(|d| (("draft", d.case.id.clone()), (d.passed, d.failed.clone())));
    messages.chain(drafts).collect()
}

fn flip(key: &CaseKey, failed: &[String]) -> Flip {
    Flip {
        kind: key.0.to_string(),
        id: key.1.clone(),
        failed: failed.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_move_on_any_change_and_latency_beyond_noise() {
        assert_eq!(
            verdict("tags.micro_f1", Some(0.8), Some(0.85)),
            Verdict::Better
        );
        assert_eq!(
            verdict("tags.micro_f1@es", Some(0.8), Some(0.75)),
            Verdict::Worse
        );
        assert_eq!(
            verdict("tags.micro_f1", Some(0.8), Some(0.8)),
            Verdict::Same
        );
        assert_eq!(
            verdict("drafts.latency_p50_ms", Some(1000.0), Some(1040.0)),
            Verdict::Same
        );
        assert_eq!(
            verdict("drafts.latency_p50_ms", Some(1000.0), Some(1100.0)),
            Verdict::Worse
        );
        assert_eq!(
            verdict("drafts.latency_p95_ms@en", Some(1000.0), Some(800.0)),
            Verdict::Better
        );
        assert_eq!(verdict("drafts.pass_rate", None, Some(0.5)), Verdict::Added);
        assert_eq!(
            verdict("drafts.pass_rate", Some(0.5), None),
            Verdict::Removed
        );
    }
}
