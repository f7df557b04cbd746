//! Labelled messages: the JSON Lines fixture format and the training data shipped in the binary.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TriageError;
use crate::domain::{Channel, Urgency};

/// One labelled message, as in `evals/messages/*/*.jsonl`; also an operator correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledMessage {
    pub id: String,
    #[serde(default)]
    pub channel: Option<Channel>,
    pub text: String,
    /// Tag ids; `None` when only the urgency was corrected.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub urgency: Option<Urgency>,
    #[serde(default)]
    pub language: Option<String>,
}

/// The training split, compiled in so the default `Triage` needs no files at run time.
const SHIPPED: &[(&str, &str)] = &[
    ("en", include_str!("../../evals/messages/train/en.jsonl")),
    ("es", include_str!("../../evals/messages/train/es.jsonl")),
    ("vi", include_str!("../../evals/messages/train/vi.jsonl")),
    ("zh", include_str!("../../evals/messages/train/zh.jsonl")),
    ("tl", include_str!("../../evals/messages/train/tl.jsonl")),
    ("ko", include_str!("../../evals/messages/train/ko.jsonl")),
    ("fr", include_str!("../../evals/messages/train/fr.jsonl")),
    ("pt", include_str!("../../evals/messages/train/pt.jsonl")),
    ("ru", include_str!("../../evals/messages/train/ru.jsonl")),
    ("ar", include_str!("../../evals/messages/train/ar.jsonl")),
];

/// Parses JSON Lines; blank lines are skipped, a bad line is an error naming file and line.
pub fn parse_jsonl(source: &str, text: &str) -> Result<Vec<LabelledMessage>, TriageError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m: LabelledMessage = serde_json::from_str(line).map_err(|e| TriageError::Fixture {
            file: source.to_string(),
            line: n + 1,
            message: e.to_string(),
        })?;
        out.push(m);
    }
    Ok(out)
}

/// The shipped training messages, all languages.
pub fn shipped_training() -> Result<Vec<LabelledMessage>, TriageError> {
    let mut all = Vec::new();
    for (lang, text) in SHIPPED {
        all.extend(parse_jsonl(&format!("train/{lang}.jsonl"), text)?);
    }
    Ok(all)
}

/// Every `*.jsonl` file in a directory, in file-name order.
pub fn load_dir(dir: &Path) -> Result<Vec<LabelledMessage>, TriageError> {
    let io = |e: std::io::Error| TriageError::Io(format!("{}: {e}", dir.display()));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| TriageError::Io(format!("{}: {e}", f.display())))?;
        all.extend(parse_jsonl(&f.display().to_string(), &text)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_training_parses_with_known_labels() {
        let all = shipped_training().unwrap();
        assert!(all.len() > 300);
        let tax = super::super::taxonomy::Taxonomy::default();
        for m in &all {
            for t in m.tags.iter().flatten() {
                assert!(tax.index_of(t).is_some(), "{}: unknown tag {t}", m.id);
            }
            assert!(m.urgency.is_some(), "{}: no urgency", m.id);
        }
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = parse_jsonl("x.jsonl", "\n{\"id\":\"a\",\"text\":\"hi\"}\n{oops").unwrap_err();
        assert!(err.to_string().contains("x.jsonl:3"), "{err}");
    }
}
