//! Full-text search over contacts and message bodies: FTS5 on SQLite, tsvector on PostgreSQL.
//! A query becomes a conjunction of prefix terms, so "maria leak" finds a thread whose customer
//! is Maria and whose messages mention a leak, and "(512) 555-0100" finds the number.

use super::Engine;
use crate::contact::phone_search_terms;

/// Text indexed for a contact: name, email and the digit strings of the phone number.
pub(crate) fn contact_search_text(
    name: Option<&str>,
    phone: Option<&str>,
    email: Option<&str>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(name.map(str::to_string));
    parts.extend(email.map(str::to_string));
    if let Some(phone) = phone {
        parts.extend(phone_search_terms(phone));
    }
    parts.join(" ")
}

/// Splits a user query into index terms: runs of letters and digits, at most 8 of them, each at
/// most 64 characters. Everything else (quotes, operators, punctuation) is dropped, so user input
/// can never be read as query syntax by either engine.
fn terms(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(8)
        .map(|t| t.chars().take(64).collect::<String>().to_lowercase())
        .collect()
}

/// The engine's match expression for `query`, or `None` when it has no searchable term.
pub(crate) fn match_expression(engine: Engine, query: &str) -> Option<String> {
    let terms = terms(query);
    if terms.is_empty() {
        return None;
    }
    Some(match engine {
        Engine::Sqlite => terms
            .iter()
            .map(|t| format!("\"{t}\"*"))
            .collect::<Vec<_>>()
            .join(" "),
        Engine::Postgres => terms
            .iter()
            .map(|t| format!("{t}:*"))
            .collect::<Vec<_>>()
            .join(" & "),
    })
}

/// SQL condition (on `t.id`) selecting threads whose contact or any message matches the match
/// expression bound at placeholder `m`, within the tenant bound at placeholder `t`.
pub(crate) fn thread_condition(engine: Engine, m: &str, t: &str) -> String {
    match engine {
        Engine::Sqlite => format!(
            "t.id IN (SELECT ms.thread_id FROM messages_fts f JOIN messages ms ON ms.seq = f.rowid \
                      WHERE messages_fts MATCH {m} AND ms.tenant_id = {t} \
                      UNION SELECT th.id FROM contacts_fts cf JOIN contacts ct ON ct.seq = cf.rowid \
                      JOIN threads th ON th.contact_id = ct.id \
                      WHERE contacts_fts MATCH {m} AND ct.tenant_id = {t})"
        ),
        Engine::Postgres => format!(
            "t.id IN (SELECT ms.thread_id FROM messages ms \
                      WHERE ms.body_tsv @@ to_tsquery('simple', {m}) AND ms.tenant_id = {t} \
                      UNION SELECT th.id FROM contacts ct JOIN threads th ON th.contact_id = ct.id \
                      WHERE ct.search_tsv @@ to_tsquery('simple', {m}) AND ct.tenant_id = {t})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_syntax_is_neutralised() {
        assert_eq!(
            match_expression(Engine::Sqlite, "maria \"OR\" * NEAR(leak)").as_deref(),
            Some("\"maria\"* \"or\"* \"near\"* \"leak\"*")
        );
        assert_eq!(
            match_expression(Engine::Postgres, "it's & | !gas").as_deref(),
            Some("it:* & s:* & gas:*")
        );
        assert_eq!(match_expression(Engine::Sqlite, "  ()-- "), None);
    }

    #[test]
    fn formatted_phone_becomes_digit_terms() {
        assert_eq!(
            match_expression(Engine::Sqlite, "(512) 555-0100").as_deref(),
            Some("\"512\"* \"555\"* \"0100\"*")
        );
        assert!(contact_search_text(None, Some("+15125550100"), None).contains("5125550100"));
    }
}
