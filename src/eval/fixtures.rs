//! Fixture suites: JSON Lines of message cases or draft cases, read leniently line by line.

mod fields;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::fields::{FieldError, FieldResult, Obj};
use super::error::EvalError;
use crate::domain::{Channel, Direction, Urgency};

/// Where a case came from, so reports can point at the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub file: String,
    pub line: usize,
}

/// A labelled inbound message: what triage should say about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageCase {
    pub id: String,
    pub channel: Option<Channel>,
    pub text: String,
    pub tags: Vec<String>,
    pub urgency: Urgency,
    /// `None` for messages too short to have a language ("ok", "👍").
    pub language: Option<String>,
    pub source: Source,
}

/// A conversation and an operator's goal, with the checks its draft must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftCase {
    pub id: String,
    pub business: Business,
    pub customer: Customer,
    pub thread: Vec<Turn>,
    pub goal: String,
    /// The language the reply should be in (the customer's).
    pub language: Option<String>,
    pub checks: DraftChecks,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Business {
    pub name: String,
    pub voice: Option<String>,
    pub technicians: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// `None` for an unknown contact.
    pub name: Option<String>,
}

/// One message of the fixture thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub direction: Direction,
    pub channel: Channel,
    pub text: String,
    pub at: Option<DateTime<FixedOffset>>,
}

/// What a draft must satisfy; a check that is absent is not run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DraftChecks {
    /// For each inner list, at least one alternative must appear.
    pub must_include_any: Vec<Vec<String>>,
    pub must_not_include: Vec<String>,
    pub first_name: Option<String>,
    pub language: Option<String>,
    /// CJK characters count as words.
    pub max_words: Option<usize>,
}

/// Which of the two fixture formats a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuiteFormat {
    Messages,
    Drafts,
}

/// A fixture line that could not be used; the run carries on without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedLine {
    pub file: String,
    pub line: usize,
    /// The offending field's path, when one field is to blame.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for SkippedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// The usable cases of one or more fixture files, and the lines that were not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suite {
    pub files: Vec<String>,
    pub messages: Vec<MessageCase>,
    pub drafts: Vec<DraftCase>,
    pub skipped: Vec<SkippedLine>,
}

impl Suite {
    pub fn case_count(&self) -> usize {
        self.messages.len() + self.drafts.len()
    }
}

/// Reads every file, each truncated to its first `limit` cases, into one suite. A missing file is
/// an error; a bad line, or an id already used by an earlier line, is a `SkippedLine`.
pub fn load_suites(paths: &[PathBuf], limit: Option<usize>) -> Result<Suite, EvalError> {
    let mut suite = Suite::default();
    let mut seen: HashMap<String, Source> = HashMap::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| EvalError::io(path, e))?;
        let mut part = parse_suite(&path.display().to_string(), &bytes);
        if let Some(limit) = limit {
            part.messages.truncate(limit);
            part.drafts.truncate(limit);
        }
        suite.files.push(path.display().to_string());
        suite.skipped.append(&mut part.skipped);
        let mut keep = |id: &str, source: &Source, skipped: &mut Vec<SkippedLine>| {
            if let Some(first) = seen.get(id) {
                skipped.push(SkippedLine {
                    file: source.file.clone(),
                    line: source.line,
                    field: Some("id".into()),
                    reason: format!(
                        "duplicate id `{id}` (first at {}:{})",
                        first.file, first.line
                    ),
                });
                return false;
            }
            seen.insert(id.to_string(), source.clone());
            true
        };
        for case in part.messages {
            if keep(&case.id, &case.source, &mut suite.skipped) {
                suite.messages.push(case);
            }
        }
        for case in part.drafts {
            if keep(&case.id, &case.source, &mut suite.skipped) {
                suite.drafts.push(case);
            }
        }
    }
    Ok(suite)
}

/// Parses one JSON Lines file. The format is told from the first line whose fields reveal it;
/// lines of the other format then fail on their missing fields. Blank lines are ignored.
pub fn parse_suite(file: &str, bytes: &[u8]) -> Suite {
    let mut suite = Suite {
        files: vec![file.to_string()],
        ..Suite::default()
    };
    let skip = |line: usize, field: Option<&str>, reason: String| SkippedLine {
        file: file.to_string(),
        line,
        field: field.map(str::to_string),
        reason,
    };

    let mut lines: Vec<(usize, serde_json::Map<String, Value>)> = Vec::new();
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let number = index + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            suite
                .skipped
                .push(skip(number, None, "not valid UTF-8".into()));
            continue;
        };
        // A BOM on the first line is common from Windows editors and harmless.
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => lines.push((number, map)),
            Ok(other) => suite.skipped.push(skip(
                number,
                None,
                format!("expected a JSON object, found {}", fields::kind(&other)),
            )),
            Err(e) => suite
                .skipped
                .push(skip(number, None, format!("invalid JSON: {e}"))),
        }
    }

    let Some(format) = lines.iter().find_map(|(_, map)| detect(map)) else {
        for (number, _) in &lines {
            suite.skipped.push(skip(
                *number,
                None,
                "cannot tell the format: expected message fields (text, tags, urgency) or draft \
                 fields (thread, goal, checks)"
                    .into(),
            ));
        }
        return suite;
    };

    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for (number, map) in &lines {
        let source = Source {
            file: file.to_string(),
            line: *number,
        };
        let root = Obj::root(map);
        let parsed = match format {
            SuiteFormat::Messages => message_case(&root, source).map(Case::Message),
            SuiteFormat::Drafts => draft_case(&root, source).map(Case::Draft),
        };
        match parsed {
            Err(FieldError { field, reason }) => {
                suite.skipped.push(skip(*number, Some(&field), reason));
            }
            Ok(case) => {
                let id = case.id().to_string();
                if let Some(first) = first_line_of.get(&id) {
                    suite.skipped.push(skip(
                        *number,
                        Some("id"),
                        format!("duplicate id `{id}` (first on line {first})"),
                    ));
                    continue;
                }
                first_line_of.insert(id, *number);
                match case {
                    Case::Message(message) => suite.messages.push(message),
                    Case::Draft(draft) => suite.drafts.push(draft),
                }
            }
        }
    }
    suite
}

enum Case {
    Message(MessageCase),
    Draft(DraftCase),
}

impl Case {
    fn id(&self) -> &str {
        match self {
            Case::Message(c) => &c.id,
            Case::Draft(c) => &c.id,
        }
    }
}

/// Tells the format from keys only one of them has.
fn detect(map: &serde_json::Map<String, Value>) -> Option<SuiteFormat> {
    if ["thread", "goal", "checks"]
        .iter()
        .any(|k| map.contains_key(*k))
    {
        Some(SuiteFormat::Drafts)
    } else if ["text", "tags", "urgency"]
        .iter()
        .any(|k| map.contains_key(*k))
    {
        Some(SuiteFormat::Messages)
    } else {
        None
    }
}

fn message_case(o: &Obj<'_>, source: Source) -> FieldResult<MessageCase> {
    Ok(MessageCase {
        id: o.id("id")?,
        channel: o.opt_parse("channel")?,
        text: o.string("text")?,
        tags: o.strings("tags", true)?,
        urgency: o.parse("urgency")?,
        language: language(o, "language")?,
        source,
    })
}

fn draft_case(o: &Obj<'_>, source: Source) -> FieldResult<DraftCase> {
    let id = o.id("id")?;
    let business = o.required_object("business")?;
    let business = Business {
        name: business.string("name")?,
        voice: business.opt_string("voice")?,
        technicians: business.strings("technicians", false)?,
    };
    let customer = match o.object("customer")? {
        Some(c) => Customer {
            name: c.opt_string("name")?,
        },
        None => Customer { name: None },
    };
    let thread = o
        .objects("thread")?
        .iter()
        .map(|t| {
            Ok(Turn {
                direction: t.parse("direction")?,
                channel: t.parse("channel")?,
                text: t.string("text")?,
                at: t.opt_parse("at")?,
            })
        })
        .collect::<FieldResult<Vec<_>>>()?;
    let goal = o.string("goal")?;
    let lang = language(o, "language")?;
    let checks = match o.object("checks")? {
        Some(c) => DraftChecks {
            must_include_any: c.string_lists("must_include_any")?,
            must_not_include: c.strings("must_not_include", false)?,
            first_name: c.opt_string("first_name")?,
            language: language(&c, "language")?,
            max_words: c.opt_count("max_words")?,
        },
        None => DraftChecks::default(),
    };
    Ok(DraftCase {
        id,
        business,
        customer,
        thread,
        goal,
        language: lang,
        checks,
        source,
    })
}

/// An optional language code, normalised ("ES" → "es").
fn language(o: &Obj<'_>, key: &str) -> FieldResult<Option<String>> {
    Ok(o.opt_string(key)?
        .and_then(|code| super::text::normalize_language(&code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = r#"{"id":"m1","channel":"sms","text":"AC stopped overnight, two kids at home","tags":["booking_request"],"urgency":"emergency","language":"en","note":"ignored"}"#;
    const DRAFT: &str = r#"{"id":"d1","business":{"name":"Cool Air","voice":"friendly","technicians":["Mike"]},"customer":{"name":"Ana Pérez"},"thread":[{"direction":"inbound","channel":"sms","text":"¿Pueden venir el martes?","at":"2026-11-23T06:47:00-06:00"}],"goal":"propose 3 PM Tuesday","language":"es","checks":{"must_include_any":[["martes"],["3 PM","15:00"]],"must_not_include":["[Name]"],"first_name":"Ana","language":"es","max_words":60}}"#;

    fn parse(text: &str) -> Suite {
        parse_suite("evals/x.jsonl", text.as_bytes())
    }

    #[test]
    fn parses_a_message_line_and_ignores_extra_fields() {
        let suite = parse(MESSAGE);
        assert!(suite.skipped.is_empty(), "{:?}", suite.skipped);
        let case = &suite.messages[0];
        assert_eq!(case.channel, Some(Channel::Sms));
        assert_eq!(case.urgency, Urgency::Emergency);
        assert_eq!(case.tags, vec!["booking_request"]);
        assert_eq!(case.source.line, 1);
    }

    #[test]
    fn parses_a_draft_line() {
        let suite = parse(DRAFT);
        assert!(suite.skipped.is_empty(), "{:?}", suite.skipped);
        let case = &suite.drafts[0];
        assert_eq!(case.customer.name.as_deref(), Some("Ana Pérez"));
        assert_eq!(case.thread[0].direction, Direction::Inbound);
        assert!(case.thread[0].at.is_some());
        assert_eq!(case.checks.must_include_any[1], vec!["3 PM", "15:00"]);
        assert_eq!(case.checks.max_words, Some(60));
        assert_eq!(case.language.as_deref(), Some("es"));
    }

    #[test]
    fn a_bad_line_names_file_line_and_field_and_the_rest_still_parses() {
        let bad = MESSAGE
            .replace("\"m1\"", "\"m2\"")
            .replace("emergency", "urgent");
        let suite = parse(&format!("{MESSAGE}\n\n{bad}\n{{not json\n"));
        assert_eq!(suite.messages.len(), 1);
        assert_eq!(suite.skipped.len(), 2);
        let first = &suite.skipped[0];
        assert_eq!((first.file.as_str(), first.line), ("evals/x.jsonl", 4));
        assert!(first.reason.starts_with("invalid JSON"));
        let second = &suite.skipped[1];
        assert_eq!(second.line, 3);
        assert_eq!(second.field.as_deref(), Some("urgency"));
        assert!(
            second.reason.contains("unknown urgency `urgent`"),
            "{second}"
        );
        assert!(second
            .to_string()
            .starts_with("evals/x.jsonl:3: field `urgency`: "));
    }

    #[test]
    fn nested_fields_are_named_by_path() {
        let cases = [
            (
                DRAFT.replace("\"inbound\"", "\"sideways\""),
                "thread[0].direction",
            ),
            (
                DRAFT.replace("[\"3 PM\",\"15:00\"]", "\"3 PM\""),
                "checks.must_include_any[1]",
            ),
            (
                DRAFT.replace("[\"martes\"]", "[]"),
                "checks.must_include_any[0]",
            ),
            (DRAFT.replace("60}", "-1}"), "checks.max_words"),
            (DRAFT.replace("\"Cool Air\"", "7"), "business.name"),
            (
                DRAFT.replace("\"2026-11-23T06:47:00-06:00\"", "\"tuesday\""),
                "thread[0].at",
            ),
            (
                DRAFT.replace("\"goal\":\"propose 3 PM Tuesday\",", ""),
                "goal",
            ),
        ];
        for (line, field) in cases {
            let suite = parse(&line);
            assert_eq!(suite.drafts.len(), 0, "{field}");
            assert_eq!(suite.skipped[0].field.as_deref(), Some(field));
        }
    }

    #[test]
    fn missing_required_message_fields_are_named() {
        let suite = parse(r#"{"id":"m1","text":"hi","urgency":"low"}"#);
        assert_eq!(suite.skipped[0].field.as_deref(), Some("tags"));
        assert_eq!(suite.skipped[0].reason, "missing");
    }

    #[test]
    fn format_is_detected_per_file_and_lines_of_the_other_format_are_skipped() {
        let suite = parse(&format!("{DRAFT}\n{MESSAGE}"));
        assert_eq!(suite.drafts.len(), 1);
        assert_eq!(suite.messages.len(), 0);
        assert_eq!(suite.skipped[0].line, 2);
        assert_eq!(suite.skipped[0].field.as_deref(), Some("business"));
    }

    #[test]
    fn an_undetectable_file_skips_every_line() {
        let suite = parse("{\"id\":1}\n[1,2]");
        assert_eq!(suite.skipped.len(), 2);
        assert!(suite.skipped[0].reason.contains("expected a JSON object"));
        assert!(suite.skipped[1].reason.contains("cannot tell the format"));
    }

    #[test]
    fn duplicate_ids_and_invalid_utf8_are_skipped() {
        let mut bytes = format!("{MESSAGE}\n{MESSAGE}\n").into_bytes();
        bytes.extend_from_slice(b"{\"id\":\"\xff\"}\n");
        let suite = parse_suite("f.jsonl", &bytes);
        assert_eq!(suite.messages.len(), 1);
        assert_eq!(suite.skipped[0].line, 3);
        assert_eq!(suite.skipped[0].reason, "not valid UTF-8");
        assert!(suite.skipped[1]
            .reason
            .contains("duplicate id `m1` (first on line 1)"));
    }

    #[test]
    fn load_suites_limits_each_file_and_rejects_ids_repeated_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        let b = dir.path().join("b.jsonl");
        let second = MESSAGE.replace("\"m1\"", "\"m2\"");
        std::fs::write(&a, format!("{MESSAGE}\n{second}\n")).unwrap();
        std::fs::write(&b, format!("{MESSAGE}\n")).unwrap();
        let suite = load_suites(std::slice::from_ref(&a), Some(1)).unwrap();
        assert_eq!(suite.messages.len(), 1);
        let suite = load_suites(&[a, b], None).unwrap();
        assert_eq!(suite.messages.len(), 2);
        assert_eq!(suite.skipped.len(), 1);
        assert!(suite.skipped[0]
            .reason
            .contains("duplicate id `m1` (first at "));
        assert!(suite.skipped[0].file.ends_with("b.jsonl"));
        let missing = load_suites(&[dir.path().join("nope.jsonl")], None).unwrap_err();
        assert!(missing.to_string().contains("nope.jsonl"));
    }
}
