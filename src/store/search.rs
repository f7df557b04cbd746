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

use std::collections::HashMap;

use sqlx::{AnyPool, Row};

use super::placeholders::{self, Param, Params};
use super::{Engine, StoreError};
use crate::contact::phone_search_terms;
use crate::domain::Direction;

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

/// A SQLite message's words are indexed under its tenant and bucket of the tenant's messages
/// (see `sqlite_candidate_threads`); a bucket holds `1 << BUCKET_BITS` inbound messages and the
/// replies among them. Much larger than PostgreSQL's 8,192: each bucket is one more statement
/// for FTS5 to set up (~27 µs for a word it lacks), and a prefix term costs at most one
/// bucket's matches.
pub(crate) const BUCKET_BITS: u32 = 16;

/// The most buckets one search walks (SQLite caps a compound SELECT at 500 arms): 26M of a
/// tenant's messages. Older ones are not searched.
const MAX_BUCKETS: i64 = 400;

/// The search bucket of a message stored after `ingested` inbound messages of its tenant.
pub(crate) fn bucket(ingested: i64) -> i64 {
    ingested.max(0) >> BUCKET_BITS
}

/// Where a bucket's number goes in the text of [`bucketed_words`] and [`bucketed_match`]:
/// the statement that stores or searches it puts the number in with `replace`. Neither holds
/// it otherwise, their words being letters and digits only.
pub(crate) const BUCKET_MARK: char = '#';

/// The prefix of every indexed word of a tenant's messages: `s`, eight hex digits of the
/// tenant id's SHA-256, the bucket mark, `z`. A collision between two tenants costs speed
/// only: the search keeps its `tenant_id =` condition.
fn word_prefix(tenant_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(tenant_id.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("s{hex}{BUCKET_MARK}z")
}

/// The text FTS5 indexes for a message of `tenant_id`: its runs of letters and digits, each
/// behind the tenant's prefix. Queries split their terms the same way ([`terms`]), so a run
/// that FTS5's tokenizer splits further is split alike on both sides.
pub(crate) fn bucketed_words(tenant_id: &str, body: &str) -> String {
    let prefix = word_prefix(tenant_id);
    let mut out = String::with_capacity(body.len() * 2);
    for word in body
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&prefix);
        out.push_str(word);
    }
    out
}

/// The FTS5 expression for `query` against messages stored by [`bucketed_words`], with the
/// bucket mark still in it; `None` when it has no searchable term.
pub(crate) fn bucketed_match(tenant_id: &str, query: &str) -> Option<String> {
    let terms = terms(query);
    let last = terms.len().checked_sub(1)?;
    let prefix = word_prefix(tenant_id);
    Some(
        terms
            .iter()
            .enumerate()
            .map(|(i, t)| format!("\"{prefix}{t}\"{}", if i == last { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Indexes for search, on SQLite, the messages stored before the index was bucketed
/// (migration 7 emptied it); returns how many. One transaction: a store closed midway starts
/// over when next opened. Nothing to do, one query, on every later start.
pub(crate) async fn index_stored_messages(pool: &AnyPool) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let pending: i64 = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM messages) AND NOT EXISTS (SELECT 1 FROM messages_fts)",
    )
    .fetch_one(&mut *tx)
    .await?;
    if pending == 0 {
        return Ok(0);
    }
    // each message takes the bucket of the tenant's inbound messages before it
    let mut ingested: HashMap<String, i64> = HashMap::new();
    let (mut after, mut indexed) = (0i64, 0u64);
    loop {
        let rows = sqlx::query(
            "SELECT seq, tenant_id, direction, body FROM messages WHERE seq > $1 \
             ORDER BY seq LIMIT 4096",
        )
        .bind(after)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("seq")?;
        let mut params = Params::default();
        for row in &rows {
            let tenant: String = row.try_get("tenant_id")?;
            let body: String = row.try_get("body")?;
            let count = ingested.entry(tenant.clone()).or_default();
            let words =
                bucketed_words(&tenant, &body).replace(BUCKET_MARK, &bucket(*count).to_string());
            if row.try_get::<String, _>("direction")? == Direction::Inbound.as_str() {
                *count += 1;
            }
            params.push(Param::Int(row.try_get("seq")?));
            params.push(Param::Text(words));
        }
        let sql = format!(
            "INSERT INTO messages_fts (rowid, words) VALUES {}",
            placeholders::rows(1, rows.len(), 2)
        );
        params
            .bind_all(sqlx::query(&sql).persistent(false))
            .execute(&mut *tx)
            .await?;
        indexed += rows.len() as u64;
    }
    // Inserted in one go, the index is left in many segments, each of which every bucket's
    // probe looks into: merged, a word no message holds took 0.24 ms at 1M messages, not 0.94.
    sqlx::query("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(indexed)
}

/// SQLite's query for the ids of the threads whose contact or one of whose messages is among
/// the newest matches: `c` is the placeholder of [`match_expression`] (contacts), `m` that of
/// [`bucketed_match`] (messages), `t` the tenant's, and `newest` the tenant's newest bucket.
///
/// FTS5 answers a prefix term ("banging*") by merging the full lists of every word it starts
/// before it can hand over the newest: 7–15 ms for a word in a sixth of a million messages.
/// So the words are indexed by bucket (`bucketed_words`), and the query asks one bucket at a
/// time, newest first, each bucket's matches newest first. The buckets are the arms of a
/// `UNION ALL` under one `LIMIT`, which SQLite stops evaluating once the limit is reached.
pub(crate) fn sqlite_candidate_threads(c: &str, m: &str, t: &str, newest: i64) -> String {
    let w = SEARCH_WINDOW;
    let newest = newest.max(0);
    let arms: Vec<String> = (newest.saturating_sub(MAX_BUCKETS - 1).max(0)..=newest)
        .rev()
        .map(|b| {
            format!(
                "SELECT * FROM (SELECT rowid AS seq FROM messages_fts \
                 WHERE messages_fts MATCH replace({m}, '{BUCKET_MARK}', {b}) ORDER BY rowid DESC)"
            )
        })
        .collect();
    format!(
        "SELECT ms.thread_id FROM ({} LIMIT {w}) hit \
           JOIN messages ms ON ms.seq = hit.seq WHERE ms.tenant_id = {t} \
         UNION SELECT th.id FROM (SELECT ct.id FROM contacts_fts cf \
           JOIN contacts ct ON ct.seq = cf.rowid \
           WHERE contacts_fts MATCH {c} AND ct.tenant_id = {t} \
           ORDER BY cf.rowid DESC LIMIT {w}) hit \
         JOIN threads th ON th.contact_id = hit.id",
        arms.join(" UNION ALL ")
    )
}

/// PostgreSQL's query for the ids of the threads whose contact or one of whose messages is
/// among the newest matches of the expression bound at placeholder `m`, within the tenant
/// bound at placeholder `t`, each thread once.
///
/// PostgreSQL's GIN index cannot be walked newest first, so the messages are indexed by tenant
/// and bucket of ~8,192 of the tenant's messages
/// (migrations/postgres/…_bucketed_search.sql), and the search asks for one bucket's matches
/// at a time, from the tenant's newest bucket down to its first, each bucket's sorted newest
/// first. LIMIT stops the walk: a frequent word is done within the first bucket or two, and a
/// rare one costs an index probe per bucket (~130 buckets at 1M messages: 1 ms for a word no
/// message holds, 5 ms for two words that are each common but never together). The query is a
/// sub-select so that it is parsed once, not once a bucket.
pub(crate) fn postgres_candidate_threads(m: &str, t: &str) -> String {
    let w = SEARCH_WINDOW;
    format!(
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
    )
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
    fn every_word_of_a_message_goes_behind_its_tenants_prefix() {
        let a = word_prefix("tenant-a");
        assert_eq!(a.len(), 11);
        assert!(a.starts_with('s') && a.ends_with("#z"));
        assert_ne!(a, word_prefix("tenant-b"));
        assert_eq!(
            bucketed_words("tenant-a", "AC's dead — ¿cotización? 4242"),
            format!("{a}AC {a}s {a}dead {a}cotización {a}4242")
        );
        assert_eq!(bucketed_words("tenant-a", " -- "), "");
        assert_eq!(
            bucketed_match("tenant-a", "Unit 4242").as_deref(),
            Some(format!("\"{a}unit\" \"{a}4242\"*").as_str())
        );
        assert_eq!(bucketed_match("tenant-a", "()"), None);
    }

    /// Runs a test's async body on a runtime of its own, with sqlx's drivers installed.
    fn block_on<F: std::future::Future>(body: F) -> F::Output {
        sqlx::any::install_default_drivers();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body)
    }

    /// The walk through the buckets: the newest matches fill the window, and a word only the
    /// oldest bucket holds is still found.
    #[test]
    fn search_walks_the_buckets_newest_first() {
        block_on(async {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect("sqlite::memory:")
                .await
                .unwrap();
            let schema = [
                "CREATE TABLE messages (seq INTEGER PRIMARY KEY, tenant_id TEXT, thread_id TEXT)",
                "CREATE TABLE contacts (seq INTEGER PRIMARY KEY, id TEXT, tenant_id TEXT)",
                "CREATE TABLE threads (id TEXT, contact_id TEXT)",
                "CREATE VIRTUAL TABLE contacts_fts USING fts5 (search_text)",
                "CREATE VIRTUAL TABLE messages_fts USING fts5 (words, content = '', \
                 contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')",
            ];
            for sql in schema {
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            // thread "old" said "furnace" once, in bucket 0; SEARCH_WINDOW + 10 messages of
            // thread "new", in buckets 2 and 3, say "furnaces"; bucket 1 is empty
            let mut seq = 0;
            let mut store = |thread: &'static str, bucket: i64, body: &'static str| {
                seq += 1;
                let words = bucketed_words("t", body).replace(BUCKET_MARK, &bucket.to_string());
                (seq, thread, words)
            };
            let mut rows = vec![store("old", 0, "the furnace bangs")];
            for i in 0..SEARCH_WINDOW + 10 {
                rows.push(store(
                    "new",
                    2 + i64::from(i % 2),
                    "two furnaces, cotización",
                ));
            }
            for (seq, thread, words) in rows {
                sqlx::query("INSERT INTO messages VALUES ($1, 't', $2)")
                    .bind(seq)
                    .bind(thread)
                    .execute(&mut conn)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO messages_fts (rowid, words) VALUES ($1, $2)")
                    .bind(seq)
                    .bind(words)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            let sql = sqlite_candidate_threads("$1", "$2", "$3", 3);
            let found = |q: &'static str| {
                let query = sqlx::query_scalar::<_, String>(&sql)
                    .bind(match_expression(Engine::Sqlite, q).unwrap())
                    .bind(bucketed_match("t", q).unwrap())
                    .bind("t");
                query
            };
            // "furnace" as a prefix is in every message: the newest 500 are all thread "new"
            for (q, want) in [
                ("furnace", &["new"][..]),
                // as a whole word, only the oldest bucket has it
                ("bangs", &["old"][..]),
                ("COTIZACION", &["new"][..]),
                ("boiler", &[][..]),
            ] {
                let mut ids = found(q).fetch_all(&mut conn).await.unwrap();
                ids.sort();
                assert_eq!(ids, want, "{q}");
            }
        });
    }

    /// A store whose messages predate the bucketed index has them indexed when opened, once.
    #[test]
    fn messages_stored_before_the_index_are_indexed_once() {
        block_on(async {
            let pool = sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect("sqlite::memory:")
                .await
                .unwrap();
            for sql in [
                "CREATE TABLE messages (seq INTEGER PRIMARY KEY, tenant_id TEXT, \
                 direction TEXT, body TEXT)",
                "CREATE VIRTUAL TABLE messages_fts USING fts5 (words, content = '', \
                 contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')",
                "INSERT INTO messages VALUES (1, 'a', 'inbound', 'Furnace is banging'), \
                 (2, 'b', 'inbound', 'furnace quote?'), (3, 'a', 'outbound', 'On our way')",
            ] {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            assert_eq!(index_stored_messages(&pool).await.unwrap(), 3);
            assert_eq!(index_stored_messages(&pool).await.unwrap(), 0);
            let hits = |tenant: &str, q: &str| {
                let m = bucketed_match(tenant, q).unwrap().replace(BUCKET_MARK, "0");
                sqlx::query_scalar::<_, i64>(
                    "SELECT rowid FROM messages_fts WHERE messages_fts MATCH $1 ORDER BY rowid",
                )
                .bind(m)
            };
            assert_eq!(hits("a", "furn").fetch_all(&pool).await.unwrap(), [1]);
            assert_eq!(hits("b", "furnace").fetch_all(&pool).await.unwrap(), [2]);
            assert_eq!(hits("a", "our way").fetch_all(&pool).await.unwrap(), [3]);
        });
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
