//! Evaluation metrics for triage, grouped by language: tag F1, urgency, emergency recall and
//! precision, language accuracy, latency percentiles; plus k-fold cross-validation.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::{Classification, LabelledMessage, Triage, TriageConfig, TriageError};
use crate::domain::Urgency;

/// True/false positive and false negative counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub tp: u32,
    pub fp: u32,
    pub fn_: u32,
}

impl Counts {
    pub fn add(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// `a / b`, and 1.0 for 0/0 (nothing to find and nothing claimed is not a failure).
fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        1.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

/// Metrics over one group of messages (one language, or all).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupReport {
    pub messages: u32,
    /// Micro-averaged over all tags.
    pub tags: Counts,
    pub per_tag: BTreeMap<String, Counts>,
    /// Emergency as a binary label.
    pub emergency: Counts,
    pub urgency_correct: u32,
    /// `confusion[gold][predicted]`, levels ordered low, normal, high, emergency.
    pub urgency_confusion: [[u32; 4]; 4],
    /// Messages of ≥ 3 words with a gold language, and how many were detected right.
    pub language_total: u32,
    pub language_correct: u32,
}

impl GroupReport {
    pub fn tag_micro_f1(&self) -> f64 {
        self.tags.f1()
    }
    pub fn tag_macro_f1(&self) -> f64 {
        if self.per_tag.is_empty() {
            return 0.0;
        }
        self.per_tag.values().map(Counts::f1).sum::<f64>() / self.per_tag.len() as f64
    }
    pub fn urgency_accuracy(&self) -> f64 {
        ratio(self.urgency_correct, self.messages)
    }
    pub fn language_accuracy(&self) -> f64 {
        ratio(self.language_correct, self.language_total)
    }

    /// Adds one scored message.
    pub fn add(&mut self, gold: &LabelledMessage, pred: &Classification, words: usize) {
        self.messages += 1;
        let gold_tags: Vec<&str> = gold.tags.iter().flatten().map(String::as_str).collect();
        let pred_tags: Vec<&str> = pred.tags.iter().map(|t| t.id.as_str()).collect();
        for t in gold_tags.iter().chain(&pred_tags) {
            self.per_tag.entry((*t).to_string()).or_default();
        }
        for (tag, c) in self.per_tag.iter_mut() {
            let (g, p) = (
                gold_tags.contains(&tag.as_str()),
                pred_tags.contains(&tag.as_str()),
            );
            let d = Counts {
                tp: u32::from(g && p),
                fp: u32::from(!g && p),
                fn_: u32::from(g && !p),
            };
            c.add(d);
            self.tags.add(d);
        }
        if let Some(u) = gold.urgency {
            let (g, p) = (
                u.rank() as usize - 1,
                pred.urgency.level.rank() as usize - 1,
            );
            self.urgency_confusion[g][p] += 1;
            self.urgency_correct += u32::from(g == p);
            let (ge, pe) = (
                u == Urgency::Emergency,
                pred.urgency.level == Urgency::Emergency,
            );
            self.emergency.add(Counts {
                tp: u32::from(ge && pe),
                fp: u32::from(!ge && pe),
                fn_: u32::from(ge && !pe),
            });
        }
        if let Some(lang) = &gold.language {
            if words >= 3 {
                self.language_total += 1;
                self.language_correct +=
                    u32::from(pred.language.as_ref().is_some_and(|l| &l.code == lang));
            }
        }
    }
}

/// A whole evaluation: groups by gold language plus `all`, and the misses for inspection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub groups: BTreeMap<String, GroupReport>,
    pub all: GroupReport,
    /// Per-message latency in microseconds, in input order (empty for cross-validation).
    pub latencies_us: Vec<u64>,
    pub failures: Vec<Failure>,
}

/// A message whose tags or urgency came out wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub id: String,
    pub text: String,
    pub gold_tags: Vec<String>,
    pub pred_tags: Vec<String>,
    pub gold_urgency: Option<Urgency>,
    pub pred_urgency: Urgency,
    /// Emergency rules that fired, if any.
    pub rules: Vec<String>,
    pub gold_language: Option<String>,
    pub pred_language: Option<String>,
}

impl Report {
    pub fn add(&mut self, gold: &LabelledMessage, pred: &Classification) {
        let words = Triage::word_count(&gold.text);
        let group = gold.language.clone().unwrap_or_else(|| "unknown".into());
        self.groups.entry(group).or_default().add(gold, pred, words);
        self.all.add(gold, pred, words);
        let mut g: Vec<String> = gold.tags.clone().unwrap_or_default();
        let mut p: Vec<String> = pred.tags.iter().map(|t| t.id.clone()).collect();
        g.sort();
        p.sort();
        let lang_miss = words >= 3
            && gold.language.is_some()
            && gold.language.as_deref() != pred.language.as_ref().map(|l| l.code.as_str());
        if g != p || gold.urgency.is_some_and(|u| u != pred.urgency.level) || lang_miss {
            self.failures.push(Failure {
                id: gold.id.clone(),
                text: gold.text.chars().take(200).collect(),
                gold_tags: g,
                pred_tags: p,
                gold_urgency: gold.urgency,
                pred_urgency: pred.urgency.level,
                rules: pred
                    .reasons
                    .iter()
                    .filter_map(|r| match r {
                        super::Reason::Rule { rule, matched } => {
                            Some(format!("{rule}: {}", matched.join(", ")))
                        }
                        _ => None,
                    })
                    .collect(),
                gold_language: gold.language.clone(),
                pred_language: pred.language.as_ref().map(|l| l.code.clone()),
            });
        }
    }

    /// Latency percentile in microseconds (nearest rank), 0 when nothing was timed.
    pub fn latency_percentile_us(&self, pct: f64) -> u64 {
        percentile(&self.latencies_us, pct)
    }

    /// A fixed-width table: one row per language group and one for all.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<8} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10}\n",
            "lang", "n", "tagF1", "macroF1", "urgAcc", "emRec", "emPrec", "lang>=3w"
        );
        let row = |name: &str, g: &GroupReport| {
            format!(
                "{:<8} {:>5} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>6.3} ({})\n",
                name,
                g.messages,
                g.tag_micro_f1(),
                g.tag_macro_f1(),
                g.urgency_accuracy(),
                g.emergency.recall(),
                g.emergency.precision(),
                g.language_accuracy(),
                g.language_total
            )
        };
        for (name, g) in &self.groups {
            s.push_str(&row(name, g));
        }
        s.push_str(&row("all", &self.all));
        s
    }
}

/// Nearest-rank percentile of unsorted values.
pub fn percentile(values: &[u64], pct: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((pct / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Classifies every message one at a time, timing each.
pub fn evaluate(triage: &Triage, data: &[LabelledMessage]) -> Report {
    let mut r = Report::default();
    for m in data {
        let t = Instant::now();
        let pred = triage.classify(&m.text, m.channel);
        r.latencies_us.push(t.elapsed().as_micros() as u64);
        r.add(m, &pred);
    }
    r
}

/// k-fold cross-validation on training data (folds by position modulo k, so it is
/// deterministic): for each fold, train on the rest and score the fold.
pub fn cross_validate(
    config: &TriageConfig,
    data: &[LabelledMessage],
    k: usize,
) -> Result<Report, TriageError> {
    let k = k.max(2);
    let mut report = Report::default();
    let base = Triage::new(TriageConfig {
        training: Some(Vec::new()),
        ..config.clone()
    })?;
    for fold in 0..k {
        let train: Vec<LabelledMessage> = data
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k != fold)
            .map(|(_, m)| m.clone())
            .collect();
        let mut cfg = config.clone();
        cfg.training = Some(train);
        let triage = Triage::train_with(std::sync::Arc::clone(&base.engine), cfg)?;
        for (_, m) in data.iter().enumerate().filter(|(i, _)| i % k == fold) {
            report.add(m, &triage.classify(&m.text, m.channel));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_compute_f1() {
        let c = Counts {
            tp: 8,
            fp: 2,
            fn_: 2,
        };
        assert!((c.f1() - 0.8).abs() < 1e-9);
        assert_eq!(Counts::default().precision(), 1.0);
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
