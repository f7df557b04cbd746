//! An ingest batch on SQLite: the lookups by `IN` lists, and the writes as one script, sent to
//! the connection's thread in one trip.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::Writes;
use crate::domain::{DeliveryStatus, Direction};
use crate::store::placeholders::{self, Param, Params};
use crate::store::search::{bucketed_words, BUCKET_BITS, BUCKET_MARK};
use crate::store::{rows, StoreError};

/// The messages of tenant `tenant_id` stored under any of `ids`.
pub(super) async fn stored_messages(
    conn: &mut AnyConnection,
    tenant_id: &str,
    ids: &[&str],
) -> Result<Vec<AnyRow>, StoreError> {
    let sql = format!(
        "SELECT {} FROM messages WHERE tenant_id = $1 AND external_id IN ({})",
        rows::MESSAGE_COLUMNS,
        placeholders::list(2, ids.len())
    );
    let mut query = sqlx::query(&sql).persistent(false).bind(tenant_id);
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(&mut *conn).await?)
}

/// The stored contacts among `phones` and `emails`, with their threads; the columns
/// `super::sender` reads.
pub(super) async fn senders(
    conn: &mut AnyConnection,
    tenant_id: &str,
    phones: &[&str],
    emails: &[&str],
) -> Result<Vec<AnyRow>, StoreError> {
    let mut branches = Vec::new();
    let mut params = Params::default();
    for (column, handles) in [("phone", phones), ("email", emails)] {
        if handles.is_empty() {
            continue;
        }
        let tenant = params.push(Param::Text(tenant_id.to_string()));
        let first = params.len() + 1;
        for handle in handles {
            params.push(Param::Text(handle.to_string()));
        }
        branches.push(format!(
            "SELECT c.id AS contact_id, c.name, c.phone, c.email, '{column}' AS found_by, \
               t.id AS thread_id, t.blocked, t.pending_drafts \
             FROM contacts c JOIN threads t ON t.contact_id = c.id \
             WHERE c.tenant_id = {tenant} AND c.{column} IN ({})",
            placeholders::list(first, handles.len())
        ));
    }
    let sql = branches.join(" UNION ALL ");
    Ok(params
        .bind_all(sqlx::query(&sql).persistent(false))
        .fetch_all(&mut *conn)
        .await?)
}

/// Values a batch's script binds per message at most: its row (12) and its words (2), and
/// either its new contact (8) and thread (8), or its thread's Attention update (4), stale
/// drafts (2) and its contact's new name (3).
const BINDS_PER_MESSAGE: usize = 12 + 2 + 8 + 8;

// SQLite binds at most 32,766 values to a script's statements: a full batch must fit, with
// the five of the tenant's counts and bucket.
const _: () = assert!(super::MAX_BATCH * BINDS_PER_MESSAGE + 5 <= 32_766);

/// Writes the batch: its new contacts and threads, names, messages, Attention and stale drafts.
pub(super) async fn write(conn: &mut AnyConnection, w: &Writes<'_>) -> Result<(), StoreError> {
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
    script.run(conn).await
}

/// The writes of one batch, run together as one script: a single round trip to the thread
/// sqlx runs its connection on. Under load each trip cost ~0.5 ms of waiting for that thread
/// and then for the writer to be woken, which made the statements, not the work in them, the
/// larger part of a commit.
#[derive(Default)]
struct Script {
    /// Each statement numbers its placeholders from `$1`.
    statements: Vec<(String, Params)>,
}

impl Script {
    fn add(&mut self, sql: String, params: Params) {
        self.statements.push((sql, params));
    }

    async fn run(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let mut joined = String::new();
        let mut values = Params::default();
        for (sql, params) in self.statements {
            match anonymous(&sql, params.len()) {
                Some(sql) => {
                    joined.push_str(&sql);
                    joined.push_str(";\n");
                    values.append(params);
                }
                None => {
                    params
                        .bind_all(sqlx::query(&sql).persistent(false))
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        if !joined.is_empty() {
            values
                .bind_all(sqlx::query(&joined).persistent(false))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
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
