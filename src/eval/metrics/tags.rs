//! Multi-label tag scores: per-tag precision/recall/F1, micro and macro F1.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ratio;

/// Counts and scores for one tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagStat {
    pub true_pos: usize,
    pub false_pos: usize,
    pub false_neg: usize,
    /// `None` when the tag was never predicted.
    pub precision: Option<f64>,
    /// `None` when the tag never occurs in the fixtures.
    pub recall: Option<f64>,
    pub f1: f64,
}

impl TagStat {
    /// Gold occurrences of the tag.
    pub fn support(&self) -> usize {
        self.true_pos + self.false_neg
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagScores {
    /// Every tag that occurs in the fixtures or the predictions.
    pub per_tag: BTreeMap<String, TagStat>,
    pub micro_precision: Option<f64>,
    pub micro_recall: Option<f64>,
    pub micro_f1: Option<f64>,
    /// Unweighted mean of the per-tag F1, so rare tags count as much as common ones.
    pub macro_f1: Option<f64>,
}

/// Scores `(gold, predicted)` tag lists; duplicates within a list count once.
pub fn score<'a>(pairs: impl IntoIterator<Item = (&'a [String], &'a [String])>) -> TagScores {
    let mut per_tag: BTreeMap<String, TagStat> = BTreeMap::new();
    for (gold, predicted) in pairs {
        let gold: BTreeSet<&String> = gold.iter().collect();
        let predicted: BTreeSet<&String> = predicted.iter().collect();
        for tag in gold.union(&predicted) {
            let stat = per_tag.entry((*tag).clone()).or_default();
            match (gold.contains(tag), predicted.contains(tag)) {
                (true, true) => stat.true_pos += 1,
                (false, true) => stat.false_pos += 1,
                _ => stat.false_neg += 1,
            }
        }
    }
    let (mut tp, mut fp, mut fneg) = (0, 0, 0);
    for stat in per_tag.values_mut() {
        stat.precision = ratio(stat.true_pos, stat.true_pos + stat.false_pos);
        stat.recall = ratio(stat.true_pos, stat.support());
        stat.f1 = f1(stat.true_pos, stat.false_pos, stat.false_neg).unwrap_or(0.0);
        tp += stat.true_pos;
        fp += stat.false_pos;
        fneg += stat.false_neg;
    }
    let macro_f1 = (!per_tag.is_empty())
        .then(|| per_tag.values().map(|s| s.f1).sum::<f64>() / per_tag.len() as f64);
    TagScores {
        micro_precision: ratio(tp, tp + fp),
        micro_recall: ratio(tp, tp + fneg),
        micro_f1: f1(tp, fp, fneg),
        macro_f1,
        per_tag,
    }
}

/// F1 as 2TP / (2TP + FP + FN), which equals the harmonic mean of precision and recall and stays
/// defined when one of them is not.
fn f1(tp: usize, fp: usize, fneg: usize) -> Option<f64> {
    ratio(2 * tp, 2 * tp + fp + fneg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn three_cases_scored_by_hand() {
        // 1: quote → quote (TP quote)
        // 2: booking+quote → booking (TP booking, FN quote)
        // 3: complaint → complaint+billing (TP complaint, FP billing)
        let cases = [
            (tags(&["quote_request"]), tags(&["quote_request"])),
            (
                tags(&["booking_request", "quote_request"]),
                tags(&["booking_request"]),
            ),
            (tags(&["complaint"]), tags(&["complaint", "billing"])),
        ];
        let s = score(cases.iter().map(|(g, p)| (g.as_slice(), p.as_slice())));

        let quote = &s.per_tag["quote_request"];
        assert_eq!(
            (quote.true_pos, quote.false_pos, quote.false_neg),
            (1, 0, 1)
        );
        assert!(close(quote.precision, 1.0));
        assert!(close(quote.recall, 0.5));
        assert!(close(Some(quote.f1), 2.0 / 3.0));
        assert!(close(Some(s.per_tag["booking_request"].f1), 1.0));
        let billing = &s.per_tag["billing"];
        assert!(close(billing.precision, 0.0));
        assert_eq!(billing.recall, None);
        assert_eq!(billing.f1, 0.0);

        // micro: TP 3, FP 1, FN 1 → P = R = F1 = 0.75
        assert!(close(s.micro_precision, 0.75));
        assert!(close(s.micro_recall, 0.75));
        assert!(close(s.micro_f1, 0.75));
        // macro over quote, booking, complaint, billing: (2/3 + 1 + 1 + 0) / 4 = 2/3
        assert!(close(s.macro_f1, 2.0 / 3.0));
    }

    #[test]
    fn duplicate_tags_count_once_and_no_tags_scores_nothing() {
        let gold = tags(&["spam", "spam"]);
        let s = score([(gold.as_slice(), gold.as_slice())]);
        assert_eq!(s.per_tag["spam"].true_pos, 1);
        let empty: Vec<String> = Vec::new();
        let s = score([(empty.as_slice(), empty.as_slice())]);
        assert_eq!(s.micro_f1, None);
        assert_eq!(s.macro_f1, None);
    }
}
