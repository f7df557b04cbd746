//! Reading a thread's messages, recording replies and their delivery, and storing triage
//! results.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::search::{bucketed_words, BUCKET_BITS, BUCKET_MARK};
use super::{cursor, new_id, now_ms, placeholders, rows, Engine, Store, StoreError};
use crate::domain::{
    Channel, DeliveryStatus, Direction, LanguageGuess, Message, TagScore, Urgency,
};
use crate::triage::{ThreadLanguage, Triage};

/// A page of messages, oldest first, and the cursor for the page before it.
#[derive(Debug, Clone)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next_cursor: Option<String>,
}

/// A reply written by the business.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub body: String,
    pub channel: Channel,
    pub author: String,
}

/// What triage concluded about one inbound message.
#[derive(Debug, Clone)]
pub struct Classified {
    pub tags: Vec<TagScore>,
    pub urgency: Urgency,
    pub language: Option<String>,
    /// The detector's confidence in `language`.
    pub language_confidence: Option<f32>,
}

const MESSAGES_CURSOR: &str = "messages";

impl Store {
    /// Fails with `NotFound` unless the thread belongs to the tenant.
    pub(crate) async fn check_thread(
        conn: &mut AnyConnection,
        tenant_id: &str,
        thread_id: &str,
    ) -> Result<(), StoreError> {
        find_thread(conn, tenant_id, thread_id, "").await
    }

    /// `check_thread` for a write that adds rows pointing at the thread (a reply, a draft, a
    /// follow-up). On PostgreSQL the thread also stays locked until the write commits, so a
    /// merge folding it (`add_customer`) waits and then moves the new rows with the rest.
    /// Without the lock, a merge that committed in between left the write a foreign key to a
    /// deleted thread, and the client a 500; a thread already folded is not found. The lock is
    /// the one the write's own update of the thread takes anyway: a weaker one, upgraded later,
    /// would queue behind a merge waiting for it.
    pub(crate) async fn hold_thread(
        &self,
        conn: &mut AnyConnection,
        tenant_id: &str,
        thread_id: &str,
    ) -> Result<(), StoreError> {
        let lock = match self.engine {
            // its writers take turns on the whole database
            Engine::Sqlite => "",
            Engine::Postgres => " FOR NO KEY UPDATE",
        };
        find_thread(conn, tenant_id, thread_id, lock).await
    }

    /// The newest `limit` messages older than the cursor, returned oldest first.
    pub async fn list_messages(
        &self,
        tenant_id: &str,
        thread_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<MessagePage, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::check_thread(&mut conn, tenant_id, thread_id).await?;
        let (before_at, before_seq) = match before {
            Some(c) => cursor::decode::<(i64, i64)>(MESSAGES_CURSOR, c)?,
            None => (i64::MAX, i64::MAX),
        };
        let sql = format!(
            "SELECT seq, {} FROM messages WHERE thread_id = $1 AND tenant_id = $2 \
             AND (created_at < $3 OR (created_at = $3 AND seq < $4)) \
             ORDER BY created_at DESC, seq DESC LIMIT $5",
            rows::MESSAGE_COLUMNS
        );
        let found = sqlx::query(&sql)
            .bind(thread_id)
            .bind(tenant_id)
            .bind(before_at)
            .bind(before_seq)
            .bind(limit + 1)
            .fetch_all(&mut *conn)
            .await?;
        let more = found.len() as i64 > limit;
        let mut messages = Vec::with_capacity(found.len());
        let mut oldest = None;
        for row in found.iter().take(limit as usize) {
            oldest = Some((
                row.try_get::<i64, _>("created_at")?,
                row.try_get::<i64, _>("seq")?,
            ));
            messages.push(rows::message(row)?);
        }
        messages.reverse();
        let next_cursor = match (more, oldest) {
            (true, Some(pos)) => Some(cursor::encode(MESSAGES_CURSOR, &pos)),
            _ => None,
        };
        Ok(MessagePage {
            messages,
            next_cursor,
        })
    }

    pub async fn get_message(&self, tenant_id: &str, id: &str) -> Result<Message, StoreError> {
        let sql = format!(
            "SELECT {} FROM messages WHERE id = $1 AND tenant_id = $2",
            rows::MESSAGE_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        rows::message(&row)
    }

    /// Records a reply. It answers the customer: Attention clears, the wait is logged for
    /// response-time stats, and a New thread moves to In progress.
    pub async fn record_outbound(
        &self,
        tenant_id: &str,
        thread_id: &str,
        out: &OutboundMessage,
    ) -> Result<Message, StoreError> {
        let mut tx = self.begin_write().await?;
        self.hold_thread(&mut tx, tenant_id, thread_id).await?;
        let message = insert_outbound(&mut tx, self.engine, tenant_id, thread_id, out).await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Updates what the messaging provider reported for an outbound message.
    pub async fn set_delivery(
        &self,
        tenant_id: &str,
        id: &str,
        status: DeliveryStatus,
        error: Option<&str>,
    ) -> Result<Message, StoreError> {
        if matches!(status, DeliveryStatus::Received | DeliveryStatus::Queued) {
            return Err(StoreError::Invalid(
                "delivery status must be sent, delivered or failed".into(),
            ));
        }
        let current = self.get_message(tenant_id, id).await?;
        if current.direction != Direction::Outbound {
            return Err(StoreError::Conflict(
                "delivery status applies to outbound messages only".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE messages SET delivery_status = $1, delivery_error = $2 \
             WHERE id = $3 AND tenant_id = $4",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_message(tenant_id, id).await
    }
}

/// The thread's row, with `lock` (a locking clause, or empty) after the query.
async fn find_thread(
    conn: &mut AnyConnection,
    tenant_id: &str,
    thread_id: &str,
    lock: &str,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "SELECT 1 FROM threads WHERE id = $1 AND tenant_id = $2{lock}"
    ))
    .bind(thread_id)
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|_| ())
    .ok_or(StoreError::NotFound("thread"))
}

/// Stores a reply in a thread the caller holds (`Store::hold_thread`).
pub(crate) async fn insert_outbound(
    conn: &mut AnyConnection,
    engine: Engine,
    tenant_id: &str,
    thread_id: &str,
    out: &OutboundMessage,
) -> Result<Message, StoreError> {
    let now = now_ms();
    let message = Message {
        id: new_id(),
        thread_id: thread_id.to_string(),
        direction: Direction::Outbound,
        channel: out.channel,
        body: out.body.clone(),
        author: Some(out.author.clone()),
        delivery_status: DeliveryStatus::Queued,
        delivery_error: None,
        created_at: super::to_time(now),
        source: None,
        external_id: None,
        sender_blocked: false,
        tags: Vec::new(),
        urgency: None,
        language: None,
    };
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, thread_id, direction, channel, body, author, \
         delivery_status, created_at, classified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&message.id)
    .bind(tenant_id)
    .bind(thread_id)
    .bind(Direction::Outbound.as_str())
    .bind(out.channel.as_str())
    .bind(&out.body)
    .bind(&out.author)
    .bind(DeliveryStatus::Queued.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if engine == Engine::Sqlite {
        // its words for search, in the tenant's current bucket (`search::bucket`)
        sqlx::query(&format!(
            "INSERT INTO messages_fts (rowid, words) \
             SELECT seq, replace($1, '{BUCKET_MARK}', \
               (SELECT messages_ingested >> {BUCKET_BITS} FROM tenants WHERE id = $2)) \
             FROM messages WHERE id = $3"
        ))
        .bind(bucketed_words(tenant_id, &out.body))
        .bind(tenant_id)
        .bind(&message.id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO responses (tenant_id, thread_id, waited_from, responded_at) \
         SELECT tenant_id, id, waiting_since, $1 FROM threads \
         WHERE id = $2 AND waiting_since IS NOT NULL",
    )
    .bind(now)
    .bind(thread_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE threads SET needs_attention = 0, waiting_since = NULL, urgency = NULL, \
           urgency_rank = 0, last_message_id = $1, last_activity_at = $2, \
           status = CASE WHEN status = 'new' THEN 'in_progress' ELSE status END \
         WHERE id = $3",
    )
    .bind(&message.id)
    .bind(now)
    .bind(thread_id)
    .execute(&mut *conn)
    .await?;
    Ok(message)
}

/// Thread urgency is the highest among its unanswered inbound messages (those after the last
/// reply); its tags are those of the newest classified inbound message; its language is sticky
/// (`ThreadLanguage`): set by the first decisive inbound message and flipped only by a run of
/// them or one long confident one, so a one-word "ok" never changes it.
pub(super) async fn refresh_thread_triage(
    conn: &mut AnyConnection,
    thread_id: &str,
) -> Result<(), StoreError> {
    // Take the thread's row lock before reading its messages. On PostgreSQL a read made before
    // waiting for another writer of this thread would miss that writer's labels, and the
    // UPDATE below would then overwrite its thread summary with a stale one. Each statement
    // reads the data committed when it starts, so the read after the lock sees everything. The
    // no-op assignment takes the lock on both engines, and fires no trigger.
    sqlx::query("UPDATE threads SET urgency = urgency WHERE id = $1")
        .bind(thread_id)
        .execute(&mut *conn)
        .await?;
    let found = sqlx::query(&format!(
        "SELECT {TRIAGE_COLUMNS} FROM messages WHERE thread_id = $1 ORDER BY created_at, seq"
    ))
    .bind(thread_id)
    .fetch_all(&mut *conn)
    .await?;
    let summary = ThreadTriage::of(&found)?;
    write_thread_triage(conn, &[(thread_id, summary)]).await
}

/// `refresh_thread_triage` for many threads at once, in two statements, for a transaction
/// that already holds them: SQLite's holds the whole database, and PostgreSQL's classifier
/// locks the threads' rows first (`Store::store_unheld_classifications`).
pub(super) async fn refresh_threads_triage(
    conn: &mut AnyConnection,
    thread_ids: &[String],
) -> Result<(), StoreError> {
    if thread_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT thread_id, {TRIAGE_COLUMNS} FROM messages WHERE thread_id IN ({}) \
         ORDER BY thread_id, created_at, seq",
        placeholders::list(1, thread_ids.len())
    );
    let mut query = sqlx::query(&sql).persistent(false);
    for id in thread_ids {
        query = query.bind(id);
    }
    let found = query.fetch_all(&mut *conn).await?;
    let mut summaries = Vec::with_capacity(thread_ids.len());
    for rows in found.chunk_by(|a, b| {
        a.try_get::<&str, _>("thread_id").ok() == b.try_get::<&str, _>("thread_id").ok()
    }) {
        let thread_id: &str = rows[0].try_get("thread_id")?;
        summaries.push((thread_id, ThreadTriage::of(rows)?));
    }
    write_thread_triage(conn, &summaries).await
}

/// What `ThreadTriage::of` reads of each message.
const TRIAGE_COLUMNS: &str =
    "direction, urgency, tags, language, language_confidence, body, sender_blocked";

/// A thread's urgency, tags and language as its messages make them.
struct ThreadTriage {
    urgency: Option<Urgency>,
    tags: Vec<String>,
    language: Option<String>,
}

impl ThreadTriage {
    /// From the thread's messages (`TRIAGE_COLUMNS`), oldest first.
    fn of(messages: &[AnyRow]) -> Result<Self, StoreError> {
        let mut urgency: Option<Urgency> = None;
        let mut tags: Vec<String> = Vec::new();
        let mut language = ThreadLanguage::new();
        for row in messages {
            if row.try_get::<String, _>("direction")? == Direction::Outbound.as_str() {
                urgency = None;
                continue;
            }
            if row.try_get::<i64, _>("sender_blocked")? != 0 {
                continue;
            }
            if let Some(u) = row.try_get::<Option<String>, _>("urgency")? {
                let u: Urgency = u.parse()?;
                urgency = urgency.max(Some(u));
                let scored: Vec<TagScore> =
                    serde_json::from_str(&row.try_get::<String, _>("tags")?)?;
                tags = scored.into_iter().map(|t| t.id).collect();
            }
            if let Some(code) = row.try_get::<Option<String>, _>("language")? {
                let confidence = row
                    .try_get::<Option<f64>, _>("language_confidence")?
                    .map_or(1.0, |c| c as f32);
                let words = Triage::word_count(&row.try_get::<String, _>("body")?);
                language.observe(words, Some(&LanguageGuess { code, confidence }));
            }
        }
        Ok(ThreadTriage {
            urgency,
            tags,
            language: language.current().map(str::to_string),
        })
    }
}

async fn write_thread_triage(
    conn: &mut AnyConnection,
    summaries: &[(&str, ThreadTriage)],
) -> Result<(), StoreError> {
    if summaries.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE threads SET urgency = v.urgency, urgency_rank = v.urgency_rank, tags = v.tags, \
           language = v.language \
         FROM (SELECT column1 AS id, column2 AS urgency, column3 AS urgency_rank, \
                 column4 AS tags, column5 AS language FROM (VALUES {}) AS r) AS v \
         WHERE threads.id = v.id",
        placeholders::rows(1, summaries.len(), 5)
    );
    // One thread at a time (PostgreSQL's path) is always the same statement: worth preparing.
    let mut query = sqlx::query(&sql).persistent(summaries.len() == 1);
    for (thread_id, summary) in summaries {
        query = query
            .bind(*thread_id)
            .bind(summary.urgency.map(Urgency::as_str))
            .bind(summary.urgency.map_or(0, Urgency::rank))
            .bind(serde_json::to_string(&summary.tags)?)
            .bind(summary.language.as_deref());
    }
    query.execute(&mut *conn).await?;
    Ok(())
}
