//! The self-contained HTML report: tables, the urgency confusion matrix as an SVG heat map, and
//! the failing cases. No scripts or external assets, so it can be attached to CI runs as is.

use super::{comparison_summary, draft_details, escape_html as esc, message_details, n, tables};
use crate::eval::compare::Comparison;
use crate::eval::metrics::UrgencyScores;
use crate::eval::results::RunResult;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;max-width:75rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;\
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}\
.fail{color:#b00020;font-weight:bold}.pass{color:#1b5e20}blockquote{white-space:pre-wrap;\
border-left:4px solid #ccc;margin:.5rem 0;padding:.25rem .75rem;background:#fafafa}\
details{margin:.25rem 0}summary{cursor:pointer}code{background:#f3f3f3;padding:0 .2rem}";

pub fn html(run: &RunResult, comparison: Option<&Comparison>) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>Eval report</h1>\n<p>{}, {}, {}. Suites: {}.{}</p>\n",
        n(run.messages.len(), "message case"),
        n(run.drafts.len(), "draft case"),
        n(run.skipped.len(), "skipped fixture line"),
        esc(&run.settings.suites.join(", ")),
        run.settings
            .drafter
            .as_ref()
            .map(|d| format!(" Drafter: <code>{}</code>.", esc(d)))
            .unwrap_or_default()
    ));
    if !run.gates.is_empty() {
        let failed = run.gates_failed();
        let (class, verdict) = if failed == 0 {
            ("pass", "all gates pass".to_string())
        } else {
            ("fail", format!("{} failed", n(failed, "gate")))
        };
        body.push_str(&format!(
            "<h2>Gates: <span class=\"{class}\">{verdict}</span></h2>\n"
        ));
        body.push_str(&tables::gates(run).html());
    }
    if let Some(m) = &run.metrics.messages {
        body.push_str("<h2>Triage by language group</h2>\n");
        body.push_str(&tables::message_groups(m).html());
        body.push_str("<h2>Urgency</h2>\n");
        body.push_str(&heat_map(&m.overall.urgency));
        body.push_str(&format!(
            "<p>{}</p>\n",
            esc(&tables::urgency_summary(&m.overall.urgency))
        ));
        body.push_str("<h2>Tags</h2>\n");
        body.push_str(&tables::tags(&m.overall).html());
        body.push_str("<h2>Language by message length</h2>\n");
        body.push_str(&tables::language(&m.overall).html());
    }
    if let Some(d) = &run.metrics.drafts {
        body.push_str("<h2>Drafts</h2>\n");
        body.push_str(&tables::draft_groups(d).html());
    }
    if let Some(c) = comparison {
        body.push_str(&format!(
            "<h2>Compared with <code>{}</code></h2>\n",
            esc(&c.old_label)
        ));
        body.push_str(&format!("<p>{}.</p>\n", esc(&comparison_summary(c))));
        body.push_str(&tables::deltas(c).html());
        body.push_str("<ul>\n");
        for f in &c.newly_failing {
            body.push_str(&format!(
                "<li class=\"fail\">now failing: {} <code>{}</code> ({})</li>\n",
                esc(&f.kind),
                esc(&f.id),
                esc(&f.failed.join(", "))
            ));
        }
        for f in &c.newly_passing {
            body.push_str(&format!(
                "<li class=\"pass\">now passing: {} <code>{}</code></li>\n",
                esc(&f.kind),
                esc(&f.id)
            ));
        }
        body.push_str("</ul>\n");
    }
    body.push_str(&failing_cases(run));
    if !run.skipped.is_empty() {
        body.push_str(&format!(
            "<h2>Skipped fixture lines ({})</h2>\n<ul>\n",
            run.skipped.len()
        ));
        for s in &run.skipped {
            body.push_str(&format!("<li><code>{}</code></li>\n", esc(&s.to_string())));
        }
        body.push_str("</ul>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Parley eval report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

fn failing_cases(run: &RunResult) -> String {
    let count = run.failures().count();
    let mut out = format!("<h2>Failing cases ({count})</h2>\n");
    for m in run.messages.iter().filter(|m| !m.passed) {
        out.push_str(&format!(
            "<details><summary>message <code>{}</code>: {}</summary>\n<blockquote>{}</blockquote>\n<ul>\n",
            esc(&m.case.id),
            esc(&m.failed.join(", ")),
            esc(&m.case.text)
        ));
        for line in message_details(m) {
            out.push_str(&format!("<li>{}</li>\n", esc(&line)));
        }
        out.push_str(&format!(
            "</ul>\n<p>{}:{}</p></details>\n",
            esc(&m.case.source.file),
            m.case.source.line
        ));
    }
    for d in run.drafts.iter().filter(|d| !d.passed) {
        out.push_str(&format!(
            "<details><summary>draft <code>{}</code>: {}</summary>\n<p>Goal: {}</p>\n",
            esc(&d.case.id),
            esc(&d.failed.join(", ")),
            esc(&d.case.goal)
        ));
        if let Some(o) = &d.output {
            out.push_str(&format!("<blockquote>{}</blockquote>\n", esc(&o.text)));
        }
        out.push_str("<ul>\n");
        for line in draft_details(d) {
            out.push_str(&format!("<li>{}</li>\n", esc(&line)));
        }
        out.push_str(&format!(
            "</ul>\n<p>{}:{}</p></details>\n",
            esc(&d.case.source.file),
            d.case.source.line
        ));
    }
    out
}

/// The confusion matrix as an SVG grid: each cell's shade is its share of the expected row, so a
/// dark diagonal means urgency is right and a dark cell left of it means under-calling.
pub fn heat_map(scores: &UrgencyScores) -> String {
    const CELL: usize = 64;
    const LEFT: usize = 100;
    const TOP: usize = 44;
    let n = UrgencyScores::LABELS.len();
    let (width, height) = (LEFT + n * CELL + 8, TOP + n * CELL + 8);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         role=\"img\" aria-label=\"urgency confusion matrix\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"{}\" y=\"12\" text-anchor=\"middle\">predicted</text>\n\
         <text x=\"12\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">expected</text>\n",
        LEFT + n * CELL / 2,
        TOP + n * CELL / 2,
        TOP + n * CELL / 2
    );
    for (i, label) in UrgencyScores::LABELS.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{label}</text>\n",
            LEFT + i * CELL + CELL / 2,
            TOP - 8
        ));
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>\n",
            LEFT - 6,
            TOP + i * CELL + CELL / 2 + 4
        ));
    }
    for (r, row) in scores.matrix.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (c, count) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                *count as f64 / total as f64
            };
            let (x, y) = (LEFT + c * CELL, TOP + r * CELL);
            let text_colour = if share > 0.5 { "#fff" } else { "#222" };
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" fill=\"{}\" stroke=\"#fff\">\
                 <title>expected {}, predicted {}: {count}</title></rect>\n\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{text_colour}\">{count}</text>\n",
                shade(share),
                UrgencyScores::LABELS[r],
                UrgencyScores::LABELS[c],
                x + CELL / 2,
                y + CELL / 2 + 4
            ));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// White to dark blue by `share` in 0..=1.
fn shade(share: f64) -> String {
    let mix = |from: f64, to: f64| (from + (to - from) * share.clamp(0.0, 1.0)).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(247.0, 8.0),
        mix(251.0, 48.0),
        mix(255.0, 107.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Urgency;

    #[test]
    fn heat_map_draws_sixteen_cells_shaded_by_row_share() {
        let mut scores = UrgencyScores::default();
        let e = UrgencyScores::index(Urgency::Emergency);
        let h = UrgencyScores::index(Urgency::High);
        scores.matrix[e][e] = 3;
        scores.matrix[e][h] = 1;
        let svg = heat_map(&scores);
        assert_eq!(svg.matches("<rect ").count(), 16);
        assert!(svg.contains("expected emergency, predicted emergency: 3"));
        assert!(svg.contains(&format!("fill=\"{}\"", shade(0.75))));
        assert_eq!(shade(0.0), "#f7fbff");
        assert_eq!(shade(1.0), "#08306b");
    }
}
