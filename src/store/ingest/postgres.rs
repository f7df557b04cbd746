//! An ingest batch on PostgreSQL: each lookup and the whole write is one statement of a fixed
//! text, the batch's rows passed as JSON.
//!
//! PostgreSQL's extended protocol takes one statement per round trip, and a statement whose
//! text follows the batch's size (a `VALUES` row per message) is parsed and planned anew every
//! time. The writer ran six of them a commit, ~1 ms each under load (BENCHMARKS.md, session
//! 20). Fixed texts are prepared once per connection, and one statement carries every write.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::Writes;
use crate::domain::{DeliveryStatus, Direction};
use crate::store::{rows, StoreError};

/// The messages of tenant `tenant_id` stored under any of `ids`.
pub(super) async fn stored_messages(
    conn: &mut AnyConnection,
    tenant_id: &str,
    ids: &[&str],
) -> Result<Vec<AnyRow>, StoreError> {
    // `LIMIT 1` keeps each probe a lookup in the (tenant_id, external_id) index: flattened
    // into a join, a planner without statistics (a new database, or autovacuum off) read the
    // tenant's every message to filter them.
    let sql = format!(
        "SELECT {} FROM jsonb_array_elements_text($2::jsonb) AS wanted(ext) \
         CROSS JOIN LATERAL (SELECT * FROM messages \
           WHERE tenant_id = $1 AND external_id = wanted.ext LIMIT 1) AS m",
        rows::MESSAGE_COLUMNS
    );
    Ok(sqlx::query(&sql)
        .bind(tenant_id)
        .bind(serde_json::to_string(ids)?)
        .fetch_all(&mut *conn)
        .await?)
}

/// The stored contacts among `phones` and `emails`, with their threads; the columns
/// `super::sender` reads.
pub(super) async fn senders(
    conn: &mut AnyConnection,
    tenant_id: &str,
    phones: &[&str],
    emails: &[&str],
) -> Result<Vec<AnyRow>, StoreError> {
    const SQL: &str = "\
        SELECT c.id AS contact_id, c.name, c.phone, c.email, 'phone' AS found_by, \
          t.id AS thread_id, t.blocked, t.pending_drafts \
        FROM jsonb_array_elements_text($2::jsonb) AS wanted(handle) \
        CROSS JOIN LATERAL (SELECT * FROM contacts \
          WHERE tenant_id = $1 AND phone = wanted.handle LIMIT 1) AS c \
        JOIN threads t ON t.contact_id = c.id \
        UNION ALL \
        SELECT c.id, c.name, c.phone, c.email, 'email', t.id, t.blocked, t.pending_drafts \
        FROM jsonb_array_elements_text($3::jsonb) AS wanted(handle) \
        CROSS JOIN LATERAL (SELECT * FROM contacts \
          WHERE tenant_id = $1 AND email = wanted.handle LIMIT 1) AS c \
        JOIN threads t ON t.contact_id = c.id";
    Ok(sqlx::query(SQL)
        .bind(tenant_id)
        .bind(serde_json::to_string(phones)?)
        .bind(serde_json::to_string(emails)?)
        .fetch_all(&mut *conn)
        .await?)
}

/// The batch's writes as one statement. Its parts run against one snapshot and cannot see
/// each other's rows, which is why a new thread is inserted in its final state (`Opened`)
/// and the Attention update only meets threads stored before. Foreign keys are checked at the
/// end of the statement, when the new contacts and threads are there.
///
/// The planner takes a JSON list for 100 rows, and would rather hash 100 rows and read a
/// table end to end than probe its index 100 times: the Attention update read all 5,000
/// threads of a tenant, 3.5 ms a batch. `= ANY (ARRAY(...))` on the key makes each update a
/// lookup by index whatever the estimate.
///
/// The tenant's row counts the batch's new threads and messages, and the count before the
/// batch numbers its messages into the search index's buckets (`RETURNING` is how one part of
/// the statement hands a value to another).
///
/// The parts that update existing rows (contacts, threads, drafts) read that count too, which
/// makes them run after the tenant's row is locked: a merge (`add_customer`) locks the tenant's
/// row before the rows it moves, and in the other order the two could deadlock.
///
/// Every new message joins the triage queue (`queued`), and the new threads waiting for an
/// answer are added to the header counts (`opened_counted`, in one row), by the statement that
/// inserts them rather than by triggers calling a function per row
/// (migrations/postgres/…_ingest_without_row_triggers.sql).
const WRITE: &str = "\
    WITH opened AS ( \
      SELECT * FROM jsonb_to_recordset($2::jsonb) AS v(contact_id text, thread_id text, \
        name text, phone text, email text, search_text text, first_at bigint, \
        needs_attention bigint, waiting_since bigint, last_message_id text, \
        last_activity_at bigint) \
    ), new_contacts AS ( \
      INSERT INTO contacts (id, tenant_id, is_customer, name, phone, email, search_text, \
        created_at) \
      SELECT contact_id, $1, (name IS NOT NULL)::int, name, phone, email, search_text, first_at \
      FROM opened \
    ), new_threads AS ( \
      INSERT INTO threads (id, tenant_id, contact_id, needs_attention, waiting_since, \
        last_message_id, last_activity_at, created_at) \
      SELECT thread_id, $1, contact_id, needs_attention, waiting_since, last_message_id, \
        last_activity_at, $7 \
      FROM opened \
    ), opened_counted AS ( \
      INSERT INTO thread_count_changes (tenant_id, attention, drafts) \
      SELECT $1, count(*), 0 FROM opened WHERE needs_attention = 1 HAVING count(*) > 0 \
    ), counted AS ( \
      UPDATE tenants SET thread_count = thread_count + (SELECT count(*) FROM opened), \
        messages_ingested = messages_ingested + $10 \
      WHERE id = $1 \
      RETURNING messages_ingested - $10 AS before \
    ), names AS ( \
      SELECT * FROM jsonb_to_recordset($3::jsonb) AS v(contact_id text, name text, \
        search_text text) \
    ), named AS ( \
      UPDATE contacts SET name = v.name, is_customer = 1, search_text = v.search_text \
      FROM names AS v \
      WHERE contacts.id = v.contact_id \
        AND contacts.id = ANY (ARRAY(SELECT contact_id FROM names)) \
        AND (SELECT before FROM counted) IS NOT NULL \
    ), new_messages AS ( \
      INSERT INTO messages (id, tenant_id, thread_id, direction, channel, body, sender, source, \
        external_id, delivery_status, sender_blocked, created_at, search_bucket) \
      SELECT id, $1, thread_id, $8, channel, body, sender, source, external_id, $9, \
        sender_blocked, created_at, \
        message_search_bucket((SELECT before FROM counted) + ordinal) \
      FROM jsonb_to_recordset($4::jsonb) AS v(id text, thread_id text, channel text, \
        body text, sender text, source text, external_id text, sender_blocked bigint, \
        created_at bigint, ordinal bigint) \
      RETURNING seq \
    ), queued AS ( \
      INSERT INTO messages_to_classify (seq) SELECT seq FROM new_messages \
    ), touched AS ( \
      SELECT * FROM jsonb_to_recordset($5::jsonb) AS v(thread_id text, first_at bigint, \
        latest_at bigint, latest_id text) \
    ), attention AS ( \
      UPDATE threads SET needs_attention = 1, \
        waiting_since = CASE WHEN waiting_since IS NULL OR v.first_at < waiting_since \
          THEN v.first_at ELSE waiting_since END, \
        last_message_id = CASE WHEN v.latest_at >= last_activity_at \
          THEN v.latest_id ELSE last_message_id END, \
        last_activity_at = CASE WHEN v.latest_at > last_activity_at \
          THEN v.latest_at ELSE last_activity_at END, \
        status = CASE WHEN status = 'resolved' THEN 'new' ELSE status END, \
        pending_drafts = 0 \
      FROM touched AS v \
      WHERE threads.id = v.thread_id \
        AND threads.id = ANY (ARRAY(SELECT thread_id FROM touched)) \
        AND (SELECT before FROM counted) IS NOT NULL \
    ), stales AS ( \
      SELECT * FROM jsonb_to_recordset($6::jsonb) AS v(thread_id text, reason text) \
    ), stale AS ( \
      UPDATE drafts SET status = 'stale', stale_reason = v.reason \
      FROM stales AS v \
      WHERE drafts.thread_id = v.thread_id AND drafts.status = 'pending' \
        AND drafts.thread_id = ANY (ARRAY(SELECT thread_id FROM stales)) \
        AND (SELECT before FROM counted) IS NOT NULL \
    ) \
    SELECT 1";

#[derive(Serialize)]
struct OpenedRow<'a> {
    contact_id: &'a str,
    thread_id: &'a str,
    name: Option<&'a str>,
    phone: Option<&'a str>,
    email: Option<&'a str>,
    search_text: String,
    first_at: i64,
    needs_attention: i64,
    waiting_since: Option<i64>,
    last_message_id: Option<&'a str>,
    last_activity_at: i64,
}

#[derive(Serialize)]
struct NamedRow<'a> {
    contact_id: &'a str,
    name: &'a str,
    search_text: &'a str,
}

#[derive(Serialize)]
struct MessageRow<'a> {
    /// Its place among the batch's new messages, which numbers it among the tenant's for the
    /// search index (migrations/postgres/…_bucketed_search.sql).
    ordinal: i64,
    id: &'a str,
    thread_id: &'a str,
    channel: &'a str,
    body: &'a str,
    sender: &'a str,
    source: Option<&'a str>,
    external_id: Option<&'a str>,
    sender_blocked: i64,
    created_at: i64,
}

#[derive(Serialize)]
struct TouchRow<'a> {
    thread_id: &'a str,
    first_at: i64,
    latest_at: i64,
    latest_id: &'a str,
}

#[derive(Serialize)]
struct StaleRow<'a> {
    thread_id: &'a str,
    reason: String,
}

/// Writes the batch: its new contacts and threads, names, messages and their places in the
/// triage queue, Attention and stale drafts.
pub(super) async fn write(conn: &mut AnyConnection, w: &Writes<'_>) -> Result<(), StoreError> {
    let opened: Vec<OpenedRow> = w
        .opened
        .iter()
        .map(|o| OpenedRow {
            contact_id: o.contact_id,
            thread_id: o.thread_id,
            name: o.name,
            phone: o.phone,
            email: o.email,
            search_text: o.search_text(),
            first_at: o.first_at,
            needs_attention: i64::from(o.attention.is_some()),
            waiting_since: o.attention.map(|t| t.first_at),
            last_message_id: o.attention.map(|t| t.latest_id),
            last_activity_at: o.last_activity_at(),
        })
        .collect();
    let named: Vec<NamedRow> = w
        .named
        .iter()
        .map(|n| NamedRow {
            contact_id: n.contact_id,
            name: n.name,
            search_text: &n.search_text,
        })
        .collect();
    let messages: Vec<MessageRow> = w
        .messages
        .iter()
        .zip(0..)
        .map(|((m, sender), ordinal)| MessageRow {
            ordinal,
            id: &m.id,
            thread_id: &m.thread_id,
            channel: m.channel.as_str(),
            body: &m.body,
            sender,
            source: m.source.as_deref(),
            external_id: m.external_id.as_deref(),
            sender_blocked: i64::from(m.sender_blocked),
            created_at: m.created_at.timestamp_millis(),
        })
        .collect();
    let touches: Vec<TouchRow> = w
        .touches
        .iter()
        .map(|t| TouchRow {
            thread_id: t.thread_id,
            first_at: t.first_at,
            latest_at: t.latest_at,
            latest_id: t.latest_id,
        })
        .collect();
    let stale: Vec<StaleRow> = w
        .touches
        .iter()
        .filter(|t| t.stales_drafts)
        .map(|t| StaleRow {
            thread_id: t.thread_id,
            reason: t.stale_reason(),
        })
        .collect();
    sqlx::query(WRITE)
        .bind(w.tenant_id)
        .bind(serde_json::to_string(&opened)?)
        .bind(serde_json::to_string(&named)?)
        .bind(serde_json::to_string(&messages)?)
        .bind(serde_json::to_string(&touches)?)
        .bind(serde_json::to_string(&stale)?)
        .bind(w.now)
        .bind(Direction::Inbound.as_str())
        .bind(DeliveryStatus::Received.as_str())
        .bind(messages.len() as i64)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
