//! Full-text search over contacts and message bodies: FTS5 on SQLite, tsvector on PostgreSQL.
//! A query becomes a conjunction of prefix terms that one message, or one contact (name, email,
//! phone), must hold: "water heater" finds a message about a water heater, and "(512) 555-0100"
//! finds the number.
//!
//! Search looks at the newest `SEARCH_WINDOW` matching messages and contacts, not at every
//! match: a word like "furnace" is in a sixth of a busy inbox's million messages, and finding
//! every thread that ever said it costs a second where the newest few hundred cost a
//! millisecond. The matching threads then list in the view's usual order. Older matches of a
//! frequent word are reached by adding a word, a name or a number to the query.

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
/// can never be read as query syntax by either engine. A query that is a phone number however
/// it is written ("(512) 555-0100", "+1 512 555 0100") becomes its digits, one term, which the
/// contact's indexed number strings start with.
fn terms(query: &str) -> Vec<String> {
    let phone_like = query
        .chars()
        .all(|c| c.is_ascii_digit() || " ()+-./".contains(c));
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    if phone_like && digits.len() >= 7 {
        return vec![digits.chars().take(64).collect()];
    }
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(8)
        .map(|t| t.chars().take(64).collect::<String>().to_lowercase())
        .collect()
}

/// The engine's match expression for `query`, or `None` when it has no searchable term.
/// Only the last term matches as a prefix, the word still being typed ("water hea"): a short
/// prefix such as "ref" stands for every indexed word that starts with it, and merging all
/// those lists cost 40–60 ms a query at a million messages.
pub(crate) fn match_expression(engine: Engine, query: &str) -> Option<String> {
    let terms = terms(query);
    let last = terms.len().checked_sub(1)?;
    let star = |i: usize| i == last;
    Some(match engine {
        Engine::Sqlite => terms
            .iter()
            .enumerate()
            .map(|(i, t)| format!("\"{t}\"{}", if star(i) { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" "),
        Engine::Postgres => terms
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{t}{}", if star(i) { ":*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" & "),
    })
}

/// How many of the newest matching messages, and of the newest matching contacts, a search
/// looks at (see the module doc).
pub(crate) const SEARCH_WINDOW: u32 = 500;

/// SQL query for the ids of the threads whose contact or one of whose messages is among the
/// newest matches of the expression bound at placeholder `m`, within the tenant bound at
/// placeholder `t`, each thread once. Newest is by insertion sequence.
pub(crate) fn candidate_threads(engine: Engine, m: &str, t: &str) -> String {
    let w = SEARCH_WINDOW;
    match engine {
        // FTS5 walks its rowids, the insertion sequence, backwards and stops at the window.
        Engine::Sqlite => format!(
            "SELECT thread_id FROM (SELECT ms.thread_id FROM messages_fts f \
               JOIN messages ms ON ms.seq = f.rowid \
               WHERE messages_fts MATCH {m} AND ms.tenant_id = {t} \
               ORDER BY f.rowid DESC LIMIT {w}) \
             UNION SELECT th.id FROM (SELECT ct.id FROM contacts_fts cf \
               JOIN contacts ct ON ct.seq = cf.rowid \
               WHERE contacts_fts MATCH {m} AND ct.tenant_id = {t} \
               ORDER BY cf.rowid DESC LIMIT {w}) hit \
             JOIN threads th ON th.contact_id = hit.id"
        ),
        // PostgreSQL's GIN index cannot be walked newest first, so the messages are indexed
        // by tenant and bucket of ~8,192 of the tenant's messages
        // (migrations/postgres/…_bucketed_search.sql), and the search asks for one bucket's
        // matches at a time, from the tenant's newest bucket down to its first, each bucket's
        // sorted newest first. LIMIT stops the walk: a frequent word is done within the first
        // bucket or two, and a rare one costs an index probe per bucket (~130 buckets at 1M
        // messages: 1 ms for a word no message holds, 5 ms for two words that are each common
        // but never together). The query is a sub-select so that it is parsed once, not once a
        // bucket.
        Engine::Postgres => format!(
            "(SELECT hit.thread_id FROM generate_series(\
                (SELECT message_search_bucket(tn.messages_ingested) FROM tenants tn \
                 WHERE tn.id = {t}), 0, -1) bucket \
              CROSS JOIN LATERAL (SELECT ms.thread_id FROM messages ms \
                WHERE ms.tenant_id = {t} \
                  AND message_search_lexemes(ms.tenant_id, ms.search_bucket, ms.body) \
                    @@ message_search_query({t}, bucket, (SELECT to_tsquery('simple', {m}))) \
                ORDER BY ms.seq DESC) hit \
              LIMIT {w}) \
             UNION (SELECT th.id FROM (SELECT ct.id FROM contacts ct \
               WHERE ct.search_tsv @@ to_tsquery('simple', {m}) AND ct.tenant_id = {t} \
               ORDER BY ct.seq DESC LIMIT {w}) hit \
             JOIN threads th ON th.contact_id = hit.id)"
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
            Some("\"maria\" \"or\" \"near\" \"leak\"*")
        );
        assert_eq!(
            match_expression(Engine::Postgres, "it's & | !gas").as_deref(),
            Some("it & s & gas:*")
        );
        assert_eq!(match_expression(Engine::Sqlite, "  ()-- "), None);
    }

    #[test]
    fn formatted_phone_becomes_one_digit_term() {
        assert_eq!(
            match_expression(Engine::Sqlite, "(512) 555-0100").as_deref(),
            Some("\"5125550100\"*")
        );
        assert_eq!(
            match_expression(Engine::Postgres, "+1 512.555.0100").as_deref(),
            Some("15125550100:*")
        );
        // Too short for a phone number: words, as typed.
        assert_eq!(
            match_expression(Engine::Sqlite, "unit 4242").as_deref(),
            Some("\"unit\" \"4242\"*")
        );
        assert!(contact_search_text(None, Some("+15125550100"), None).contains("5125550100"));
    }
}
