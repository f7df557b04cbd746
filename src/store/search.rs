//! Full-text search over contacts and message bodies: FTS5 on SQLite, tsvector on PostgreSQL.
//! A query becomes a conjunction of prefix terms that one message, or one contact (name, email,
//! phone), must hold: "water heater" finds a message about a water heater, and "(512) 555-0100"
//! finds the number.
//!
//! Search looks at the newest `SEARCH_WINDOW` matching messages and contacts, not at every
//! match: a word like "furnace" is in a sixth of a busy inbox's million messages, and finding
//! every thread that ever said it costs half a second where the newest few hundred cost a
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

/// On PostgreSQL, how many matches the full-text index is asked for before the search decides
/// how to find the newest ones. Fewer than this (a name, a number, an uncommon word): all of
/// them are fetched and sorted, a few milliseconds. This many or more: the word is frequent,
/// and the newest messages are read in order instead (`RECENT_SCAN`).
const RARE_MATCHES: u32 = 2_000;

/// On PostgreSQL, how many of the newest messages a frequent word is looked for in, one by
/// one, before the full-text index is asked for older matches: a word in more than one message
/// of forty fills the search window from these alone.
const RECENT_SCAN: u32 = 20_000;

/// SQL query for the ids of the threads whose contact or one of whose messages is among the
/// newest matches of the expression bound at placeholder `m`, within the tenant bound at
/// placeholder `t`, each thread once. Rows are newest first by their insertion
/// sequence, which the full-text index walks backwards and stops early.
pub(crate) fn candidate_threads(engine: Engine, m: &str, t: &str) -> String {
    let w = SEARCH_WINDOW;
    match engine {
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
        // PostgreSQL's GIN index cannot be walked newest first. It is asked for up to
        // `RARE_MATCHES` matches in any order (a bitmap scan that stops there); when it has
        // fewer, those are all the matches, and the newest of them are the answer. A frequent
        // word instead reads the newest `RECENT_SCAN` messages in order and tests them one by
        // one (the word fills the window there and the query stops), and only when they hold
        // too few matches does the index find the older ones. LIMIT over UNION ALL runs a
        // branch only if the ones before it left the window short; each branch's one-time
        // filter on the probe's count skips the other path. `body_tsv IS NOT NULL` (always
        // true) is what lets the ordered reads use `messages_recent`. The query the rows are
        // tested against is a sub-select, so that it is parsed once, not once a row, under a
        // generic plan (see `Store::read_threads`).
        Engine::Postgres => format!(
            "(WITH probe AS MATERIALIZED (SELECT seq, thread_id FROM messages \
                WHERE tenant_id = {t} AND body_tsv @@ to_tsquery('simple', {m}) \
                LIMIT {RARE_MATCHES}) \
              SELECT thread_id FROM (\
               (SELECT p.thread_id FROM (SELECT seq, thread_id FROM probe \
                 WHERE (SELECT count(*) FROM probe) < {RARE_MATCHES} \
                 ORDER BY seq DESC) p) \
               UNION ALL \
               (SELECT r.thread_id FROM (SELECT thread_id, body_tsv FROM messages \
                 WHERE tenant_id = {t} AND body_tsv IS NOT NULL \
                   AND (SELECT count(*) FROM probe) >= {RARE_MATCHES} \
                 ORDER BY seq DESC LIMIT {RECENT_SCAN}) r \
                WHERE r.body_tsv @@ (SELECT to_tsquery('simple', {m}))) \
               UNION ALL \
               (SELECT ms.thread_id FROM messages ms \
                WHERE ms.body_tsv @@ to_tsquery('simple', {m}) AND ms.tenant_id = {t} \
                  AND (SELECT count(*) FROM probe) >= {RARE_MATCHES} \
                  AND ms.seq < (SELECT coalesce(min(o.seq), 0) FROM (SELECT seq FROM messages \
                    WHERE tenant_id = {t} AND body_tsv IS NOT NULL \
                    ORDER BY seq DESC LIMIT {RECENT_SCAN}) o) \
                ORDER BY ms.seq DESC)) msg_hit LIMIT {w}) \
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
