//! The draft checks a fixture can ask for, each a pass/fail with a reason a reviewer can act on.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::fixtures::DraftChecks;
use super::text::{contains_folded, contains_word_folded, count_words, fold, normalize_language};
use super::traits::LanguageDetector;

/// One kind of check; also the per-check gate key suffix (`drafts.max_words`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    MustIncludeAny,
    MustNotInclude,
    FirstName,
    Language,
    MaxWords,
}

impl CheckKind {
    pub const ALL: [CheckKind; 5] = [
        CheckKind::MustIncludeAny,
        CheckKind::MustNotInclude,
        CheckKind::FirstName,
        CheckKind::Language,
        CheckKind::MaxWords,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::MustIncludeAny => "must_include_any",
            CheckKind::MustNotInclude => "must_not_include",
            CheckKind::FirstName => "first_name",
            CheckKind::Language => "language",
            CheckKind::MaxWords => "max_words",
        }
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check on one draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub check: CheckKind,
    pub passed: bool,
    /// What was missing or found, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CheckOutcome {
    fn new(check: CheckKind, failure: Option<String>) -> Self {
        CheckOutcome {
            check,
            passed: failure.is_none(),
            detail: failure,
        }
    }
}

/// Runs every check `checks` defines against `draft`, in `CheckKind::ALL` order.
pub fn run_checks(
    checks: &DraftChecks,
    draft: &str,
    detect: &LanguageDetector,
) -> Vec<CheckOutcome> {
    let folded = fold(draft);
    let mut out = Vec::new();
    if !checks.must_include_any.is_empty() {
        out.push(CheckOutcome::new(
            CheckKind::MustIncludeAny,
            must_include_any(&folded, &checks.must_include_any),
        ));
    }
    if !checks.must_not_include.is_empty() {
        out.push(CheckOutcome::new(
            CheckKind::MustNotInclude,
            must_not_include(&folded, &checks.must_not_include),
        ));
    }
    if let Some(name) = &checks.first_name {
        let failure = (!contains_word_folded(&folded, name))
            .then(|| format!("first name `{name}` not found"));
        out.push(CheckOutcome::new(CheckKind::FirstName, failure));
    }
    if let Some(expected) = &checks.language {
        out.push(CheckOutcome::new(
            CheckKind::Language,
            language(draft, expected, detect),
        ));
    }
    if let Some(max) = checks.max_words {
        let words = count_words(draft);
        let failure = (words > max).then(|| format!("{words} words, more than {max}"));
        out.push(CheckOutcome::new(CheckKind::MaxWords, failure));
    }
    out
}

/// Fails naming every group of which no alternative appears.
fn must_include_any(folded: &str, groups: &[Vec<String>]) -> Option<String> {
    let missing: Vec<String> = groups
        .iter()
        .filter(|alternatives| !alternatives.iter().any(|a| contains_folded(folded, a)))
        .map(|alternatives| format!("[{}]", quoted(alternatives).join(" | ")))
        .collect();
    (!missing.is_empty()).then(|| format!("none of {}", missing.join(", ")))
}

/// Fails naming every forbidden string found.
fn must_not_include(folded: &str, forbidden: &[String]) -> Option<String> {
    let found: Vec<&String> = forbidden
        .iter()
        .filter(|f| contains_folded(folded, f))
        .collect();
    (!found.is_empty()).then(|| format!("contains {}", quoted(found).join(", ")))
}

fn language(draft: &str, expected: &str, detect: &LanguageDetector) -> Option<String> {
    let detected = detect(draft).and_then(|code| normalize_language(&code));
    match detected {
        Some(code) if Some(&code) == normalize_language(expected).as_ref() => None,
        Some(code) => Some(format!("detected `{code}`, expected `{expected}`")),
        None => Some(format!("language undecided, expected `{expected}`")),
    }
}

fn quoted<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    items
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_es(text: &str) -> Option<String> {
        text.contains("Hola").then(|| "ES".to_string())
    }

    fn checks() -> DraftChecks {
        DraftChecks {
            must_include_any: vec![vec!["martes".into()], vec!["3 PM".into(), "15:00".into()]],
            must_not_include: vec!["[Name]".into(), "{customer".into()],
            first_name: Some("Ana".into()),
            language: Some("es".into()),
            max_words: Some(12),
        }
    }

    fn failed(outcomes: &[CheckOutcome]) -> Vec<CheckKind> {
        outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| o.check)
            .collect()
    }

    #[test]
    fn a_good_draft_passes_every_check() {
        let draft = "Hola Ana, podemos ir el MARTES a las 15:00. ¿Le funciona?";
        let outcomes = run_checks(&checks(), draft, &detect_es);
        assert_eq!(outcomes.len(), 5);
        assert!(failed(&outcomes).is_empty(), "{outcomes:?}");
    }

    #[test]
    fn alternatives_need_one_match_per_group_case_and_accent_insensitively() {
        let groups = vec![
            vec!["miércoles".to_string()],
            vec!["3 PM".into(), "15:00".into()],
        ];
        assert_eq!(
            must_include_any(&fold("El MIERCOLES a las 3 pm"), &groups),
            None
        );
        let failure = must_include_any(&fold("El miércoles"), &groups).unwrap();
        assert_eq!(failure, "none of [`3 PM` | `15:00`]");
    }

    #[test]
    fn forbidden_strings_are_named() {
        let failure = must_not_include(&fold("Hi [name], thanks"), &checks().must_not_include);
        assert_eq!(failure.as_deref(), Some("contains `[Name]`"));
    }

    #[test]
    fn first_name_must_be_a_whole_word() {
        let c = DraftChecks {
            first_name: Some("Ana".into()),
            ..DraftChecks::default()
        };
        let none = |_: &str| None;
        assert!(run_checks(&c, "Hi ana!", &none)[0].passed);
        let outcome = &run_checks(&c, "Banana bread", &none)[0];
        assert!(!outcome.passed);
        assert_eq!(
            outcome.detail.as_deref(),
            Some("first name `Ana` not found")
        );
    }

    #[test]
    fn language_check_uses_the_injected_detector() {
        let c = DraftChecks {
            language: Some("es".into()),
            ..DraftChecks::default()
        };
        let outcome = &run_checks(&c, "Hello Ana", &|_: &str| Some("en".into()))[0];
        assert_eq!(
            outcome.detail.as_deref(),
            Some("detected `en`, expected `es`")
        );
        let outcome = &run_checks(&c, "ok", &|_: &str| None)[0];
        assert!(!outcome.passed);
    }

    #[test]
    fn max_words_counts_cjk_characters() {
        let c = DraftChecks {
            max_words: Some(5),
            ..DraftChecks::default()
        };
        let none = |_: &str| None;
        assert!(run_checks(&c, "王先生您好", &none)[0].passed);
        let outcome = &run_checks(&c, "王先生，您好！", &none)[0];
        assert!(outcome.passed);
        let outcome = &run_checks(&c, "王先生您好，明天", &none)[0];
        assert_eq!(outcome.detail.as_deref(), Some("7 words, more than 5"));
    }

    #[test]
    fn absent_checks_are_not_run() {
        assert!(run_checks(&DraftChecks::default(), "anything", &|_: &str| None).is_empty());
    }
}
