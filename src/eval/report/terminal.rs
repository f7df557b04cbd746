//! The plain-text summary printed at the end of a run.

use super::{comparison_summary, n, tables};
use crate::eval::compare::Comparison;
use crate::eval::results::RunResult;

/// At most this many failing cases are listed; the reports in `--out` have them all.
const MAX_FAILURES: usize = 20;

pub fn terminal(run: &RunResult, comparison: Option<&Comparison>) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "parley eval: {}, {}, {}\n",
        n(run.messages.len(), "message case"),
        n(run.drafts.len(), "draft case"),
        n(run.skipped.len(), "skipped line")
    ));
    out.push_str(&format!("suites: {}\n", run.settings.suites.join(", ")));
    if let Some(drafter) = &run.settings.drafter {
        out.push_str(&format!("drafter: {drafter}\n"));
    }

    if let Some(m) = &run.metrics.messages {
        section(&mut out, "TAGS", &tables::tags(&m.overall).plain());
        section(
            &mut out,
            "URGENCY (rows: expected, columns: predicted)",
            &(tables::urgency_matrix(&m.overall.urgency).plain()
                + &tables::urgency_summary(&m.overall.urgency)
                + "\n"),
        );
        section(&mut out, "LANGUAGE", &tables::language(&m.overall).plain());
        section(
            &mut out,
            "BY LANGUAGE GROUP",
            &tables::message_groups(m).plain(),
        );
    }
    if let Some(d) = &run.metrics.drafts {
        section(&mut out, "DRAFTS", &tables::draft_groups(d).plain());
    }

    let failures: Vec<_> = run.failures().collect();
    if !failures.is_empty() {
        let mut body = String::new();
        for (kind, id, failed) in failures.iter().take(MAX_FAILURES) {
            body.push_str(&format!("  {kind} {id}: {}\n", failed.join(", ")));
        }
        if failures.len() > MAX_FAILURES {
            body.push_str(&format!(
                "  ... and {} more (see the report)\n",
                failures.len() - MAX_FAILURES
            ));
        }
        section(
            &mut out,
            &format!("FAILING CASES ({})", failures.len()),
            &body,
        );
    }
    if !run.skipped.is_empty() {
        let body: String = run.skipped.iter().map(|s| format!("  {s}\n")).collect();
        section(
            &mut out,
            &format!("SKIPPED LINES ({})", run.skipped.len()),
            &body,
        );
    }
    if let Some(c) = comparison {
        section(
            &mut out,
            &format!("COMPARED WITH {}", c.old_label),
            &comparison_text(c),
        );
    }
    if !run.gates.is_empty() {
        section(&mut out, "GATES", &tables::gates(run).plain());
    }
    out
}

fn section(out: &mut String, title: &str, body: &str) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
    out.push_str(body);
}

fn comparison_text(c: &Comparison) -> String {
    let mut body = comparison_summary(c) + "\n";
    let moved = tables::deltas(c);
    if !moved.rows.is_empty() {
        body.push_str(&moved.plain());
    }
    for f in &c.newly_failing {
        body.push_str(&format!(
            "  now failing: {} {} ({})\n",
            f.kind,
            f.id,
            f.failed.join(", ")
        ));
    }
    for f in &c.newly_passing {
        body.push_str(&format!(
            "  now passing: {} {} (failed {})\n",
            f.kind,
            f.id,
            f.failed.join(", ")
        ));
    }
    if c.only_old + c.only_new > 0 {
        body.push_str(&format!(
            "  {} only in the old run, {} only in this one\n",
            n(c.only_old, "case"),
            c.only_new
        ));
    }
    body
}
