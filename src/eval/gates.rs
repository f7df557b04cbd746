//! `--min KEY=VALUE` gates: the bars CI holds a run to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::EvalError;
use super::metrics::{self, Metrics, GATE_KEYS};
use super::results::{language_group, DraftResult, MessageResult, RunResult};

/// A lower bound on one metric: overall, in one language group (`KEY@es=VALUE`), or over every
/// group but one (`KEY@!en=VALUE`, e.g. "75 % of non-English drafts pass").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub key: String,
    pub group: Option<String>,
    pub min: f64,
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        if let Some(group) = &self.group {
            write!(f, "@{group}")?;
        }
        write!(f, " >= {}", self.min)
    }
}

impl FromStr for Gate {
    type Err = EvalError;

    /// Parses `tags.micro_f1=0.85`, `drafts.pass_rate@es=75%`.
    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| EvalError::BadGate {
            arg: arg.to_string(),
            reason: reason.to_string(),
        };
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE, e.g. tags.micro_f1=0.85"))?;
        let (key, group) = match name.trim().split_once('@') {
            Some((key, group)) => (key, Some(group.trim().to_ascii_lowercase())),
            None => (name.trim(), None),
        };
        if !GATE_KEYS.contains(&key) {
            return Err(EvalError::UnknownGateKey {
                key: key.to_string(),
                valid: GATE_KEYS.join(", "),
            });
        }
        if matches!(group.as_deref(), Some("" | "!")) {
            return Err(bad("empty language group after `@`"));
        }
        let value = value.trim();
        let min = match value.strip_suffix('%') {
            Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
            None => value.parse::<f64>(),
        }
        .map_err(|_| bad("the value is not a number"))?;
        if !(0.0..=1.0).contains(&min) {
            return Err(bad("rates run from 0 to 1 (write 0.85 or 85%)"));
        }
        Ok(Gate {
            key: key.to_string(),
            group,
            min,
        })
    }
}

/// A gate checked against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: Gate,
    /// `None` when the run has no data for the key, which fails the gate: a suite that stops
    /// covering what CI guards must not pass silently.
    pub actual: Option<f64>,
    pub passed: bool,
}

/// Checks each gate against a run's metrics (and, for `@!LANG` groups, its cases).
pub fn evaluate(gates: &[Gate], run: &RunResult) -> Vec<GateResult> {
    gates
        .iter()
        .map(|gate| {
            let actual = match gate.group.as_deref().and_then(|g| g.strip_prefix('!')) {
                Some(excluded) => {
                    let others = metrics_without(run, excluded);
                    metrics::value(&others, &gate.key, None)
                }
                None => metrics::value(&run.metrics, &gate.key, gate.group.as_deref()),
            };
            GateResult {
                passed: actual.is_some_and(|a| a >= gate.min - 1e-12),
                actual,
                gate: gate.clone(),
            }
        })
        .collect()
}

/// Metrics over every case outside one language group.
fn metrics_without(run: &RunResult, excluded: &str) -> Metrics {
    let keep = |language: Option<&str>| language_group(language) != excluded;
    let messages: Vec<MessageResult> = run
        .messages
        .iter()
        .filter(|m| keep(m.case.language.as_deref()))
        .cloned()
        .collect();
    let drafts: Vec<DraftResult> = run
        .drafts
        .iter()
        .filter(|d| keep(d.case.language.as_deref()))
        .cloned()
        .collect();
    metrics::compute(&messages, &drafts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::{DraftMetrics, DraftScores};
    use crate::eval::results::{RunSettings, RESULTS_SCHEMA};

    fn metrics_with_pass_rate(rate: f64) -> RunResult {
        let scores = DraftScores {
            pass_rate: Some(rate),
            ..DraftScores::default()
        };
        RunResult {
            schema: RESULTS_SCHEMA,
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            settings: RunSettings::default(),
            skipped: Vec::new(),
            messages: Vec::new(),
            drafts: Vec::new(),
            metrics: Metrics {
                messages: None,
                drafts: Some(DraftMetrics {
                    overall: scores.clone(),
                    by_language: [("es".to_string(), scores)].into(),
                }),
            },
            gates: Vec::new(),
        }
    }

    #[test]
    fn parses_keys_groups_and_percentages() {
        let g: Gate = "tags.micro_f1=0.85".parse().unwrap();
        assert_eq!(
            (g.key.as_str(), g.group, g.min),
            ("tags.micro_f1", None, 0.85)
        );
        let g: Gate = "drafts.pass_rate@ES = 75%".parse().unwrap();
        assert_eq!(g.group.as_deref(), Some("es"));
        assert!((g.min - 0.75).abs() < 1e-12);
        assert_eq!(g.to_string(), "drafts.pass_rate@es >= 0.75");
    }

    #[test]
    fn unknown_keys_list_the_valid_ones() {
        let err = "tags.f1=0.9".parse::<Gate>().unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("unknown gate key `tags.f1`; valid keys: "),
            "{text}"
        );
        assert!(text.contains("urgency.emergency_recall"));
        assert!(text.contains("language.accuracy_3plus"));
    }

    #[test]
    fn malformed_gates_say_why() {
        for (arg, reason) in [
            ("tags.micro_f1", "expected KEY=VALUE"),
            ("tags.micro_f1=high", "not a number"),
            ("tags.micro_f1=85", "rates run from 0 to 1"),
            ("tags.micro_f1@=0.5", "empty language group"),
            ("tags.micro_f1@!=0.5", "empty language group"),
        ] {
            let err = arg.parse::<Gate>().unwrap_err().to_string();
            assert!(err.contains(reason), "{arg}: {err}");
        }
    }

    #[test]
    fn gates_pass_at_the_bar_and_fail_below_or_without_data() {
        let m = metrics_with_pass_rate(0.9);
        let gates: Vec<Gate> = [
            "drafts.pass_rate=0.9",
            "drafts.pass_rate=0.91",
            "drafts.pass_rate@es=0.5",
            "drafts.pass_rate@vi=0.5",
            "tags.micro_f1=0.1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let results = evaluate(&gates, &m);
        let passed: Vec<bool> = results.iter().map(|r| r.passed).collect();
        assert_eq!(passed, [true, false, true, false, false]);
        assert_eq!(results[3].actual, None);
    }
}
