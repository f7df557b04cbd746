//! Draft scores: pass rate per check and overall, and latency.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::latency::{summarize, Latency};
use super::ratio;
use crate::eval::checks::CheckKind;
use crate::eval::results::DraftResult;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckRate {
    /// Cases that define this check and produced a draft.
    pub evaluated: usize,
    pub passed: usize,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DraftScores {
    pub cases: usize,
    pub passed: usize,
    /// Cases passing every check; a case whose draft failed with an error does not pass.
    pub pass_rate: Option<f64>,
    pub errors: usize,
    pub per_check: BTreeMap<CheckKind, CheckRate>,
    /// Over drafts produced (cached ones report the latency of the call that made them).
    pub latency: Latency,
    pub first_token: Latency,
}

pub fn score(results: &[&DraftResult]) -> DraftScores {
    let mut per_check: BTreeMap<CheckKind, CheckRate> = BTreeMap::new();
    for outcome in results.iter().flat_map(|r| &r.checks) {
        let rate = per_check.entry(outcome.check).or_default();
        rate.evaluated += 1;
        rate.passed += usize::from(outcome.passed);
    }
    for rate in per_check.values_mut() {
        rate.rate = ratio(rate.passed, rate.evaluated);
    }
    let passed = results.iter().filter(|r| r.passed).count();
    let outputs = || results.iter().filter_map(|r| r.output.as_ref());
    DraftScores {
        cases: results.len(),
        passed,
        pass_rate: ratio(passed, results.len()),
        errors: results.iter().filter(|r| r.error.is_some()).count(),
        per_check,
        latency: summarize(outputs().map(|o| o.latency_ms as f64)),
        first_token: summarize(outputs().filter_map(|o| o.first_token_ms.map(|t| t as f64))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::checks::CheckOutcome;
    use crate::eval::fixtures::{Business, Customer, DraftCase, DraftChecks, Source};
    use crate::eval::traits::DraftOutput;

    fn case() -> DraftCase {
        DraftCase {
            id: "d".into(),
            business: Business {
                name: "B".into(),
                voice: None,
                technicians: vec![],
            },
            customer: Customer { name: None },
            thread: vec![],
            goal: "g".into(),
            language: Some("en".into()),
            checks: DraftChecks::default(),
            source: Source {
                file: "f".into(),
                line: 1,
            },
        }
    }

    fn outcome(check: CheckKind, passed: bool) -> CheckOutcome {
        CheckOutcome {
            check,
            passed,
            detail: None,
        }
    }

    #[test]
    fn three_drafts_scored_by_hand() {
        // 1 passes both checks; 2 fails max_words; 3 errored (no checks run).
        let results = [
            DraftResult::new(
                case(),
                Ok(DraftOutput::new("a", None, 100)),
                false,
                vec![
                    outcome(CheckKind::FirstName, true),
                    outcome(CheckKind::MaxWords, true),
                ],
            ),
            DraftResult::new(
                case(),
                Ok(DraftOutput::new("b", None, 300)),
                true,
                vec![
                    outcome(CheckKind::FirstName, true),
                    outcome(CheckKind::MaxWords, false),
                ],
            ),
            DraftResult::new(case(), Err("timeout".into()), false, vec![]),
        ];
        let s = score(&results.iter().collect::<Vec<_>>());
        assert_eq!((s.cases, s.passed, s.errors), (3, 1, 1));
        assert_eq!(s.pass_rate, Some(1.0 / 3.0));
        assert_eq!(s.per_check[&CheckKind::FirstName].rate, Some(1.0));
        assert_eq!(s.per_check[&CheckKind::MaxWords].rate, Some(0.5));
        assert!(!s.per_check.contains_key(&CheckKind::Language));
        assert_eq!(
            (s.latency.p50_ms, s.latency.p95_ms),
            (Some(100.0), Some(300.0))
        );
        assert_eq!(results[2].failed, vec!["error"]);
    }
}
