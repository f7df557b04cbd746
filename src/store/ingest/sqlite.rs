//! An ingest batch on SQLite: the lookups by `IN` lists, and the writes as one script, sent to
//! the connection's thread in one trip.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Writes;
use crate::domain::{DeliveryStatus, Direction};
use crate::store::placeholders::{self, Param, Params};
use crate::store::search::{bucketed_words, BUCKET_BITS, BUCKET_MARK};
use crate::store::{rows, StoreError, WriteTx};

/// In one round trip: the messages of tenant `tenant_id` stored under any of `ids`, and the
/// stored contacts among `phones` and `emails` with their threads (the columns
/// `super::sender` reads).
pub(super) async fn look_up(
    tx: &mut WriteTx,
    tenant_id: &str,
    ids: &[&str],
    phones: &[&str],
    emails: &[&str],
) -> Result<(Vec<AnyRow>, Vec<AnyRow>), StoreError> {
    let mut script = Script::default();
    if let Some(begin) = tx.take_begin() {
        script.push(begin);
    }
    if !ids.is_empty() {
        let sql = format!(
            "SELECT {} FROM messages WHERE tenant_id = $1 AND external_id IN ({})",
            rows::MESSAGE_COLUMNS,
            placeholders::list(2, ids.len())
        );
        script.add(sql, tenant_and(tenant_id, ids));
    }
    for (column, handles) in [("phone", phones), ("email", emails)] {
        if handles.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT c.id AS contact_id, c.name, c.phone, c.email, '{column}' AS found_by, \
               t.id AS thread_id, t.blocked, t.pending_drafts \
             FROM contacts c JOIN threads t ON t.contact_id = c.id \
             WHERE c.tenant_id = $1 AND c.{column} IN ({})",
            placeholders::list(2, handles.len())
        );
        script.add(sql, tenant_and(tenant_id, handles));
    }
    // a contact's row is the one that says how it was found
    Ok(script
        .fetch(tx)
        .await?
        .into_iter()
        .partition(|row| row.try_column("found_by").is_err()))
}

/// A lookup's parameters: the tenant (`$1`), then the values of its `IN` list.
fn tenant_and(tenant_id: &str, values: &[&str]) -> Params {
    let mut params = Params::default();
    params.push(Param::Text(tenant_id.to_string()));
    for value in values {
        params.push(Param::Text(value.to_string()));
    }
    params
}

/// Values a batch's script binds per message at most: its row (12) and its words (2), and
/// either its new contact (8) and thread (8), or its thread's Attention update (4), stale
/// drafts (2) and its contact's new name (3).
const BINDS_PER_MESSAGE: usize = 12 + 2 + 8 + 8;

// SQLite binds at most 32,766 values to a script's statements: a full batch must fit, with
// the five of each tenant's counts and bucket (all tenants' writes go out as one script).
const _: () = assert!(super::MAX_BATCH * (BINDS_PER_MESSAGE + 5) <= 32_766);

/// The batch's writes: its new contacts and threads, names, messages, Attention and stale
/// drafts.
pub(super) fn writes(w: &Writes<'_>) -> Script {
    let mut script = Script::default();
    if !w.opened.is_empty() {
        let sql = format!(
            "INSERT INTO contacts (id, tenant_id, is_customer, name, phone, email, search_text, \
             created_at) VALUES {}",
            placeholders::rows(1, w.opened.len(), 8)
        );
        let mut params = Params::default();
        for o in &w.opened {
            params.push(Param::Text(o.contact_id.to_string()));
            params.push(Param::Text(w.tenant_id.to_string()));
            params.push(Param::Int(i64::from(o.name.is_some())));
            params.push(Param::MaybeText(o.name.map(str::to_string)));
            params.push(Param::MaybeText(o.phone.map(str::to_string)));
            params.push(Param::MaybeText(o.email.map(str::to_string)));
            params.push(Param::Text(o.search_text()));
            params.push(Param::Int(o.first_at));
        }
        script.add(sql, params);

        let sql = format!(
            "INSERT INTO threads (id, tenant_id, contact_id, needs_attention, waiting_since, \
             last_message_id, last_activity_at, created_at) VALUES {}",
            placeholders::rows(1, w.opened.len(), 8)
        );
        let mut params = Params::default();
        for o in &w.opened {
            params.push(Param::Text(o.thread_id.to_string()));
            params.push(Param::Text(w.tenant_id.to_string()));
            params.push(Param::Text(o.contact_id.to_string()));
            params.push(Param::Int(i64::from(o.attention.is_some())));
            params.push(Param::MaybeInt(o.attention.map(|t| t.first_at)));
            params.push(Param::MaybeText(
                o.attention.map(|t| t.latest_id.to_string()),
            ));
            params.push(Param::Int(o.last_activity_at()));
            params.push(Param::Int(w.now));
        }
        script.add(sql, params);

        let sql = "UPDATE tenants SET thread_count = thread_count + $1 WHERE id = $2".to_string();
        let mut params = Params::default();
        params.push(Param::Int(w.opened.len() as i64));
        params.push(Param::Text(w.tenant_id.to_string()));
        script.add(sql, params);
    }
    if !w.named.is_empty() {
        let sql = format!(
            "UPDATE contacts SET name = v.name, is_customer = 1, search_text = v.search_text \
             FROM (SELECT column1 AS id, column2 AS name, column3 AS search_text \
                   FROM (VALUES {})) AS v \
             WHERE contacts.id = v.id",
            placeholders::rows(1, w.named.len(), 3)
        );
        let mut params = Params::default();
        for n in &w.named {
            params.push(Param::Text(n.contact_id.to_string()));
            params.push(Param::Text(n.name.to_string()));
            params.push(Param::Text(n.search_text.clone()));
        }
        script.add(sql, params);
    }
    if !w.messages.is_empty() {
        let sql = format!(
            "INSERT INTO messages (id, tenant_id, thread_id, direction, channel, body, sender, \
             source, external_id, delivery_status, sender_blocked, created_at) VALUES {}",
            placeholders::rows(1, w.messages.len(), 12)
        );
        let mut params = Params::default();
        for (message, sender) in &w.messages {
            params.push(Param::Text(message.id.clone()));
            params.push(Param::Text(w.tenant_id.to_string()));
            params.push(Param::Text(message.thread_id.clone()));
            params.push(Param::Text(Direction::Inbound.as_str().to_string()));
            params.push(Param::Text(message.channel.as_str().to_string()));
            params.push(Param::Text(message.body.clone()));
            params.push(Param::Text(sender.to_string()));
            params.push(Param::MaybeText(message.source.clone()));
            params.push(Param::MaybeText(message.external_id.clone()));
            params.push(Param::Text(DeliveryStatus::Received.as_str().to_string()));
            params.push(Param::Int(i64::from(message.sender_blocked)));
            params.push(Param::Int(message.created_at.timestamp_millis()));
        }
        script.add(sql, params);

        // their words for search, under the bucket the batch opens in (`search::bucket`)
        let sql = format!(
            "INSERT INTO messages_fts (rowid, words) \
             SELECT m.seq, replace(v.column2, '{BUCKET_MARK}', \
               (SELECT messages_ingested >> {BUCKET_BITS} FROM tenants WHERE id = $1)) \
             FROM (VALUES {}) AS v JOIN messages m ON m.id = v.column1",
            placeholders::rows(2, w.messages.len(), 2)
        );
        let mut params = Params::default();
        params.push(Param::Text(w.tenant_id.to_string()));
        for (message, _) in &w.messages {
            params.push(Param::Text(message.id.clone()));
            params.push(Param::Text(bucketed_words(w.tenant_id, &message.body)));
        }
        script.add(sql, params);

        let sql = "UPDATE tenants SET messages_ingested = messages_ingested + $1 WHERE id = $2"
            .to_string();
        let mut params = Params::default();
        params.push(Param::Int(w.messages.len() as i64));
        params.push(Param::Text(w.tenant_id.to_string()));
        script.add(sql, params);
    }
    if !w.touches.is_empty() {
        // Starts or keeps the wait clock, moves the last activity forward, reopens a resolved
        // thread and clears its pending-draft count (the drafts go stale below).
        let sql = format!(
            "UPDATE threads SET needs_attention = 1, \
               waiting_since = CASE WHEN waiting_since IS NULL OR v.first_at < waiting_since \
                 THEN v.first_at ELSE waiting_since END, \
               last_message_id = CASE WHEN v.latest_at >= last_activity_at \
                 THEN v.latest_id ELSE last_message_id END, \
               last_activity_at = CASE WHEN v.latest_at > last_activity_at \
                 THEN v.latest_at ELSE last_activity_at END, \
               status = CASE WHEN status = 'resolved' THEN 'new' ELSE status END, \
               pending_drafts = 0 \
             FROM (SELECT column1 AS thread_id, column2 AS first_at, column3 AS latest_at, \
                     column4 AS latest_id FROM (VALUES {})) AS v \
             WHERE threads.id = v.thread_id",
            placeholders::rows(1, w.touches.len(), 4)
        );
        let mut params = Params::default();
        for t in &w.touches {
            params.push(Param::Text(t.thread_id.to_string()));
            params.push(Param::Int(t.first_at));
            params.push(Param::Int(t.latest_at));
            params.push(Param::Text(t.latest_id.to_string()));
        }
        script.add(sql, params);
    }
    let stales: Vec<_> = w.touches.iter().filter(|t| t.stales_drafts).collect();
    if !stales.is_empty() {
        let sql = format!(
            "UPDATE drafts SET status = 'stale', stale_reason = v.reason \
             FROM (SELECT column1 AS thread_id, column2 AS reason FROM (VALUES {})) AS v \
             WHERE drafts.thread_id = v.thread_id AND drafts.status = 'pending'",
            placeholders::rows(1, stales.len(), 2)
        );
        let mut params = Params::default();
        for t in stales {
            params.push(Param::Text(t.thread_id.to_string()));
            params.push(Param::Text(t.stale_reason()));
        }
        script.add(sql, params);
    }
    script
}

/// Statements run together as one script: a single round trip to the thread sqlx runs its
/// connection on. Under load each trip cost ~0.3-0.5 ms of waiting for that thread and then
/// for the writer to be woken, which made the statements, not the work in them, the larger
/// part of a commit.
#[derive(Default)]
pub(super) struct Script {
    /// Each statement numbers its placeholders from `$1`.
    statements: Vec<(String, Params)>,
}

impl Script {
    fn add(&mut self, sql: String, params: Params) {
        self.statements.push((sql, params));
    }

    /// Adds a statement without parameters at the end.
    pub(super) fn push(&mut self, sql: &str) {
        self.add(sql.to_string(), Params::default());
    }

    /// Adds a statement without parameters at the start.
    pub(super) fn prepend(&mut self, sql: &str) {
        self.statements
            .insert(0, (sql.to_string(), Params::default()));
    }

    pub(super) fn append(&mut self, other: Script) {
        self.statements.extend(other.statements);
    }

    pub(super) async fn run(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        self.fetch(conn).await.map(drop)
    }

    /// Runs the statements in order; returns the rows of all of them.
    async fn fetch(self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>, StoreError> {
        let mut rows = Vec::new();
        let mut joined = String::new();
        let mut values = Params::default();
        for (sql, params) in self.statements {
            if let Some(sql) = anonymous(&sql, params.len()) {
                joined.push_str(&sql);
                joined.push_str(";\n");
                values.append(params);
                continue;
            }
            // numbered as written: run on its own, after the statements before it
            let before = std::mem::take(&mut joined);
            rows.extend(run_joined(conn, &before, std::mem::take(&mut values)).await?);
            rows.extend(
                params
                    .bind_all(sqlx::query(&sql).persistent(false))
                    .fetch_all(&mut *conn)
                    .await?,
            );
        }
        rows.extend(run_joined(conn, &joined, values).await?);
        Ok(rows)
    }
}

async fn run_joined(
    conn: &mut AnyConnection,
    sql: &str,
    values: Params,
) -> Result<Vec<AnyRow>, StoreError> {
    if sql.is_empty() {
        return Ok(Vec::new());
    }
    Ok(values
        .bind_all(sqlx::query(sql).persistent(false))
        .fetch_all(&mut *conn)
        .await?)
}

/// `sql` with its placeholders `$1 ... $n` written `?`, if they appear once each and in that
/// order. sqlx binds a SQLite script's values to its statements' `?`s in turn, carrying on
/// from one statement to the next; numbered placeholders would each restart at the first value
/// (and sqlx stops binding a statement whose numbers leave gaps).
fn anonymous(sql: &str, n: usize) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut next = 1;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        let number: usize = rest[at + 1..at + 1 + digits].parse().ok()?;
        if number != next {
            return None;
        }
        next += 1;
        out.push('?');
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    (next == n + 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::anonymous;

    #[test]
    fn placeholders_in_order_become_anonymous() {
        assert_eq!(
            anonymous("UPDATE t SET a = $1 WHERE id = $2", 2).as_deref(),
            Some("UPDATE t SET a = ? WHERE id = ?")
        );
        assert_eq!(
            anonymous("VALUES ($1, $2), ($3, $4)", 4).as_deref(),
            Some("VALUES (?, ?), (?, ?)")
        );
        assert_eq!(anonymous("SELECT 1", 0).as_deref(), Some("SELECT 1"));
    }

    #[test]
    fn anything_else_stays_numbered() {
        // out of order, repeated, a count that does not match, a bare `$`
        assert_eq!(anonymous("a = $2 AND b = $1", 2), None);
        assert_eq!(anonymous("a = $1 AND b = $1", 1), None);
        assert_eq!(anonymous("a = $1", 2), None);
        assert_eq!(anonymous("a = '$'", 0), None);
    }
}
