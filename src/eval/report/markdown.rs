//! The Markdown report: every table, the gates, the comparison and each failing case in full.

use super::{comparison_summary, draft_details, message_details, n, tables};
use crate::eval::compare::Comparison;
use crate::eval::results::RunResult;

pub fn markdown(run: &RunResult, comparison: Option<&Comparison>) -> String {
    let mut out = String::from("# Eval report\n\n");
    out.push_str(&format!(
        "- Run: {} → {}\n- Suites: {}\n",
        run.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        run.finished_at.format("%H:%M:%S UTC"),
        run.settings.suites.join(", ")
    ));
    let settings = [
        ("Drafter", &run.settings.drafter),
        ("Backend", &run.settings.backend),
        ("Model", &run.settings.model),
        ("Prompts", &run.settings.prompts),
        ("Template version", &run.settings.template_version),
    ];
    for (name, value) in settings {
        if let Some(value) = value {
            out.push_str(&format!("- {name}: `{value}`\n"));
        }
    }
    if let Some(limit) = run.settings.limit {
        out.push_str(&format!("- Limit: first {limit} cases of each suite\n"));
    }
    out.push_str(&format!(
        "- Cases: {}, {}; {}\n",
        n(run.messages.len(), "message"),
        n(run.drafts.len(), "draft"),
        n(run.skipped.len(), "skipped fixture line")
    ));

    if !run.gates.is_empty() {
        out.push_str("\n## Gates\n\n");
        out.push_str(&tables::gates(run).markdown());
    }
    if let Some(m) = &run.metrics.messages {
        out.push_str("\n## Triage by language group\n\n");
        out.push_str(&tables::message_groups(m).markdown());
        out.push_str("\n## Tags\n\n");
        out.push_str(&tables::tags(&m.overall).markdown());
        out.push_str(
            "\n## Urgency\n\nRows are the expected urgency, columns the predicted one.\n\n",
        );
        out.push_str(&tables::urgency_matrix(&m.overall.urgency).markdown());
        out.push_str(&format!(
            "\n{}\n",
            tables::urgency_summary(&m.overall.urgency)
        ));
        out.push_str("\n## Language by message length\n\n");
        out.push_str(&tables::language(&m.overall).markdown());
        for (group, scores) in &m.by_language {
            out.push_str(&format!("\n### Language group `{group}`\n\n"));
            out.push_str(&tables::tags(scores).markdown());
            out.push_str(&format!(
                "\nUrgency: {}\n\nLanguage: {}\n",
                tables::urgency_summary(&scores.urgency),
                tables::language_summary(scores)
            ));
        }
    }
    if let Some(d) = &run.metrics.drafts {
        out.push_str("\n## Drafts\n\nPass rates per check, by language group.\n\n");
        out.push_str(&tables::draft_groups(d).markdown());
    }
    if let Some(c) = comparison {
        out.push_str(&comparison_md(c));
    }
    out.push_str(&failing_cases_md(run));
    if !run.skipped.is_empty() {
        out.push_str(&format!(
            "\n## Skipped fixture lines ({})\n\n",
            run.skipped.len()
        ));
        for s in &run.skipped {
            out.push_str(&format!("- {s}\n"));
        }
    }
    out
}

fn comparison_md(c: &Comparison) -> String {
    let mut out = format!(
        "\n## Compared with `{}`\n\n{}.\n",
        c.old_label,
        comparison_summary(c)
    );
    let moved = tables::deltas(c);
    if !moved.rows.is_empty() {
        out.push('\n');
        out.push_str(&moved.markdown());
    }
    if !c.newly_failing.is_empty() || !c.newly_passing.is_empty() {
        out.push('\n');
    }
    for f in &c.newly_failing {
        out.push_str(&format!(
            "- now failing: {} `{}` ({})\n",
            f.kind,
            f.id,
            f.failed.join(", ")
        ));
    }
    for f in &c.newly_passing {
        out.push_str(&format!(
            "- now passing: {} `{}` (failed {})\n",
            f.kind,
            f.id,
            f.failed.join(", ")
        ));
    }
    out
}

fn failing_cases_md(run: &RunResult) -> String {
    let failing_messages: Vec<_> = run.messages.iter().filter(|m| !m.passed).collect();
    let failing_drafts: Vec<_> = run.drafts.iter().filter(|d| !d.passed).collect();
    if failing_messages.is_empty() && failing_drafts.is_empty() {
        return "\n## Failing cases\n\nNone.\n".to_string();
    }
    let mut out = format!(
        "\n## Failing cases ({})\n",
        failing_messages.len() + failing_drafts.len()
    );
    for m in failing_messages {
        out.push_str(&format!(
            "\n### message `{}` ({}:{})\n\n{}\n",
            m.case.id,
            m.case.source.file,
            m.case.source.line,
            quote(&m.case.text)
        ));
        for line in message_details(m) {
            out.push_str(&format!("- {line}\n"));
        }
    }
    for d in failing_drafts {
        out.push_str(&format!(
            "\n### draft `{}` ({}:{})\n\nGoal: {}\n\n",
            d.case.id, d.case.source.file, d.case.source.line, d.case.goal
        ));
        if let Some(o) = &d.output {
            out.push_str(&quote(&o.text));
            out.push('\n');
        }
        for line in draft_details(d) {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out
}

/// A Markdown block quote, so customer or model text cannot become headings or lists.
fn quote(text: &str) -> String {
    text.lines().map(|l| format!("> {l}\n")).collect()
}
