//! Renders a run for people and CI: terminal summary, Markdown, HTML, JUnit XML, results JSON.

mod html;
mod junit;
mod markdown;
mod table;
mod tables;
mod terminal;

use std::path::{Path, PathBuf};

pub use self::html::{heat_map, html};
pub use self::junit::junit;
pub use self::markdown::markdown;
pub use self::terminal::terminal;
use super::compare::Comparison;
use super::error::EvalError;
use super::results::{DraftResult, MessageResult, RunResult, RESULTS_SCHEMA};

/// Files `--out DIR` writes.
pub const RESULTS_FILE: &str = "results.json";
pub const MARKDOWN_FILE: &str = "report.md";
pub const HTML_FILE: &str = "report.html";

/// Writes the results JSON, the Markdown and the HTML report into `dir`, creating it.
pub fn write_all(
    dir: &Path,
    run: &RunResult,
    comparison: Option<&Comparison>,
) -> Result<Vec<PathBuf>, EvalError> {
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let files = [
        (RESULTS_FILE, serde_json::to_string_pretty(run)? + "\n"),
        (MARKDOWN_FILE, markdown(run, comparison)),
        (HTML_FILE, html(run, comparison)),
    ];
    let mut written = Vec::new();
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|e| EvalError::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// Reads a results JSON written by an earlier run, for `--compare`.
pub fn read_results(path: &Path) -> Result<RunResult, EvalError> {
    let bytes = std::fs::read(path).map_err(|e| EvalError::io(path, e))?;
    let run: RunResult =
        serde_json::from_slice(&bytes).map_err(|source| EvalError::ResultsFormat {
            path: path.to_path_buf(),
            source,
        })?;
    if run.schema != RESULTS_SCHEMA {
        return Err(EvalError::ResultsSchema {
            path: path.to_path_buf(),
            found: run.schema,
            expected: RESULTS_SCHEMA,
        });
    }
    Ok(run)
}

/// `count` and `noun`, pluralised by a trailing "s" when the count is not one.
pub(crate) fn n(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// One line saying how a comparison came out.
pub(crate) fn comparison_summary(c: &Comparison) -> String {
    use super::compare::Verdict;
    format!(
        "{} better, {} worse, {} unchanged; {} newly failing, {} newly passing",
        n(c.count(Verdict::Better), "metric"),
        c.count(Verdict::Worse),
        c.count(Verdict::Same),
        n(c.newly_failing.len(), "case"),
        c.newly_passing.len()
    )
}

/// A rate as a percentage with one decimal; `-` when there was nothing to measure.
pub(crate) fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// A change in a rate, in percentage points.
pub(crate) fn pct_delta(delta: f64) -> String {
    format!("{:+.1} pp", delta * 100.0)
}

pub(crate) fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.0} ms"))
}

pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What a failing message case got wrong, one line per aspect.
pub(crate) fn message_details(m: &MessageResult) -> Vec<String> {
    let lang = |l: Option<&String>| l.cloned().unwrap_or_else(|| "undecided".to_string());
    m.failed
        .iter()
        .map(|aspect| match aspect.as_str() {
            "tags" => format!(
                "tags: expected {}, got {}",
                list(&m.case.tags),
                list(&m.predicted.tags)
            ),
            "urgency" => format!(
                "urgency: expected {}, got {}",
                m.case.urgency, m.predicted.urgency
            ),
            "language" => format!(
                "language: expected {}, got {}",
                lang(m.case.language.as_ref()),
                lang(m.predicted.language.as_ref())
            ),
            other => other.to_string(),
        })
        .collect()
}

/// What a failing draft case got wrong, one line per failed check (or the error).
pub(crate) fn draft_details(d: &DraftResult) -> Vec<String> {
    let mut lines: Vec<String> = d
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| match &c.detail {
            Some(detail) => format!("{}: {detail}", c.check),
            None => c.check.to_string(),
        })
        .collect();
    if let Some(error) = &d.error {
        lines.push(format!("error: {error}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_for_people() {
        assert_eq!(pct(Some(0.8567)), "85.7%");
        assert_eq!(pct(None), "-");
        assert_eq!(pct_delta(-0.025), "-2.5 pp");
        assert_eq!(ms(Some(1234.4)), "1234 ms");
        assert_eq!(n(1, "skipped line"), "1 skipped line");
        assert_eq!(n(0, "case"), "0 cases");
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
