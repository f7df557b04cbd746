//! JUnit XML for CI: a test case per fixture case, per skipped line and per gate.

use super::{draft_details, escape_html as esc, message_details};
use crate::eval::results::{language_group, RunResult};

struct Case {
    class: String,
    name: String,
    seconds: Option<f64>,
    failure: Option<(String, String)>,
}

pub fn junit(run: &RunResult) -> String {
    let mut suites: Vec<(&str, Vec<Case>)> = Vec::new();
    if !run.messages.is_empty() {
        let cases = run
            .messages
            .iter()
            .map(|m| Case {
                class: format!("messages.{}", language_group(m.case.language.as_deref())),
                name: m.case.id.clone(),
                seconds: Some(m.latency_ms / 1000.0),
                failure: (!m.passed).then(|| (m.failed.join(", "), message_details(m).join("\n"))),
            })
            .collect();
        suites.push(("messages", cases));
    }
    if !run.drafts.is_empty() {
        let cases = run
            .drafts
            .iter()
            .map(|d| Case {
                class: format!("drafts.{}", language_group(d.case.language.as_deref())),
                name: d.case.id.clone(),
                seconds: d.output.as_ref().map(|o| o.latency_ms as f64 / 1000.0),
                failure: (!d.passed).then(|| {
                    let mut body = draft_details(d).join("\n");
                    if let Some(o) = &d.output {
                        body.push_str("\n--- draft ---\n");
                        body.push_str(&o.text);
                    }
                    (d.failed.join(", "), body)
                }),
            })
            .collect();
        suites.push(("drafts", cases));
    }
    if !run.skipped.is_empty() {
        let cases = run
            .skipped
            .iter()
            .map(|s| Case {
                class: "fixtures".into(),
                name: format!("{}:{}", s.file, s.line),
                seconds: None,
                failure: Some(("skipped fixture line".into(), s.to_string())),
            })
            .collect();
        suites.push(("fixtures", cases));
    }
    if !run.gates.is_empty() {
        let cases = run
            .gates
            .iter()
            .map(|g| Case {
                class: "gates".into(),
                name: g.gate.to_string(),
                seconds: None,
                failure: (!g.passed).then(|| {
                    let actual = g.actual.map_or("no data".into(), |a| format!("{a:.4}"));
                    (
                        "below the bar".into(),
                        format!("{}: actual {actual}", g.gate),
                    )
                }),
            })
            .collect();
        suites.push(("gates", cases));
    }

    let total: usize = suites.iter().map(|(_, c)| c.len()).sum();
    let failures = |cases: &[Case]| cases.iter().filter(|c| c.failure.is_some()).count();
    let total_failures: usize = suites.iter().map(|(_, c)| failures(c)).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"parley eval\" tests=\"{total}\" failures=\"{total_failures}\">\n"
    );
    for (name, cases) in &suites {
        out.push_str(&format!(
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\">\n",
            cases.len(),
            failures(cases)
        ));
        for case in cases {
            let time = case
                .seconds
                .map(|s| format!(" time=\"{s:.3}\""))
                .unwrap_or_default();
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"{time}",
                esc(&case.class),
                esc(&case.name)
            ));
            match &case.failure {
                None => out.push_str("/>\n"),
                Some((message, body)) => out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    esc(message),
                    esc(&xml_text(body))
                )),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Drops characters XML 1.0 cannot carry at all (control characters a model may emit).
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || !c.is_control())
        .collect()
}
