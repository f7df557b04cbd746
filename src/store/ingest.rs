//! Inbound messages: find or open the sender's thread, store the message, raise Attention.
//!
//! Ingests go through one writer task that commits whatever has queued up as a single
//! transaction (group commit): each caller is acknowledged only after that commit, so a 2xx is
//! durable, and the per-commit fsync is shared by the whole batch. The batch is written
//! set-wise, a few multi-row statements for all its messages, with repeats inside it resolved
//! in memory the way one-by-one writes would resolve them.

use std::collections::{HashMap, HashSet};

use sqlx::{AnyConnection, Row};
use tokio::sync::{mpsc, oneshot};

use super::search::contact_search_text;
use super::{new_id, now_ms, placeholders, rows, Engine, Store, StoreError};
use crate::contact::Handle;
use crate::domain::{Channel, DeliveryStatus, Direction, Message};

/// A validated inbound message.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub channel: Channel,
    pub from: Handle,
    pub body: String,
    pub external_id: Option<String>,
    /// Unix milliseconds; defaults to the time of ingest.
    pub received_at: Option<i64>,
    pub name: Option<String>,
    pub source: Option<String>,
}

/// Result of an ingest; `created` is false when `external_id` was seen before.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub message: Message,
    pub thread_id: String,
    pub created: bool,
}

struct Job {
    tenant_id: String,
    message: InboundMessage,
    reply: oneshot::Sender<Result<Ingested, StoreError>>,
}

/// Largest batch one commit carries; bounds how long the write lock is held.
const MAX_BATCH: usize = 512;

/// Handle to the group-commit writer. Cheap to clone.
#[derive(Clone)]
pub struct IngestQueue {
    jobs: mpsc::Sender<Job>,
}

impl IngestQueue {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (jobs, rx) = mpsc::channel(MAX_BATCH * 8);
        tokio::spawn(run_writer(store, rx));
        IngestQueue { jobs }
    }

    /// Stores one message; returns once it is committed.
    pub async fn ingest(
        &self,
        tenant_id: &str,
        message: InboundMessage,
    ) -> Result<Ingested, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            tenant_id: tenant_id.to_string(),
            message,
            reply,
        };
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run_writer(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        match commit_batch(&store, &jobs).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    // The caller may have gone away; its message is stored all the same.
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(err) => {
                // One bad message must not fail its neighbours: retry each on its own.
                tracing::warn!(error = %err, size = jobs.len(), "ingest batch failed, retrying singly");
                for job in jobs {
                    let result = commit_batch(&store, std::slice::from_ref(&job))
                        .await
                        .map(|mut r| r.remove(0));
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

async fn commit_batch(store: &Store, jobs: &[Job]) -> Result<Vec<Ingested>, StoreError> {
    let mut tx = store.begin_write().await?;
    let mut results: Vec<Option<Ingested>> = vec![None; jobs.len()];
    for (tenant_id, positions) in by_tenant(jobs) {
        let messages: Vec<&InboundMessage> = positions.iter().map(|&i| &jobs[i].message).collect();
        let stored = ingest_batch(&mut tx, store.engine(), tenant_id, &messages).await?;
        for (i, ingested) in positions.into_iter().zip(stored) {
            results[i] = Some(ingested);
        }
    }
    tx.commit().await?;
    metrics::counter!("parley_messages_ingested_total").increment(jobs.len() as u64);
    Ok(results.into_iter().flatten().collect())
}

/// The jobs' positions grouped by tenant, tenants in order of first appearance.
fn by_tenant(jobs: &[Job]) -> Vec<(&str, Vec<usize>)> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        match groups.iter_mut().find(|(t, _)| *t == job.tenant_id) {
            Some((_, positions)) => positions.push(i),
            None => groups.push((&job.tenant_id, vec![i])),
        }
    }
    groups
}

/// What one message of a batch turned out to be.
enum Slot {
    /// An earlier batch stored it under the same `external_id`.
    Stored(Box<Message>),
    /// An earlier message of this batch carries the same `external_id`.
    Repeat(usize),
    /// New: the next of the batch's new messages.
    New,
}

/// A sender's contact and thread as this batch will leave them.
struct Sender {
    contact_id: String,
    thread_id: String,
    name: Option<String>,
    blocked: bool,
    pending_drafts: i64,
    write: SenderWrite,
}

/// What the batch must write for a sender besides its messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SenderWrite {
    Nothing,
    /// Known, and named for the first time by this batch.
    Name,
    /// First seen in this batch: a new contact and a thread whose activity starts `at` its
    /// first message.
    Open {
        at: i64,
    },
}

/// A thread's Attention update from the batch's unblocked messages to it.
struct Touch<'a> {
    thread_id: &'a str,
    first_at: i64,
    latest_at: i64,
    /// The last message in batch order at `latest_at`, as one-by-one updates would leave it.
    latest_id: &'a str,
    /// The first of them, named in the stale reason of the thread's pending drafts.
    first_id: &'a str,
    stales_drafts: bool,
}

/// Stores one tenant's share of a batch with a handful of multi-row statements. On PostgreSQL
/// every statement is a round trip from the single writer task: four per message held the
/// writer under ~2,000 messages a second (BENCHMARKS.md, session 16).
async fn ingest_batch(
    conn: &mut AnyConnection,
    engine: Engine,
    tenant_id: &str,
    batch: &[&InboundMessage],
) -> Result<Vec<Ingested>, StoreError> {
    let stored = stored_by_external_id(conn, engine, tenant_id, batch).await?;
    let mut first_with: HashMap<&str, usize> = HashMap::new();
    let mut slots = Vec::with_capacity(batch.len());
    let mut fresh: Vec<&InboundMessage> = Vec::new();
    for (i, msg) in batch.iter().enumerate() {
        let ext = msg.external_id.as_deref();
        let slot = if let Some(message) = ext.and_then(|e| stored.get(e)) {
            Slot::Stored(Box::new(message.clone()))
        } else if let Some(&first) = ext.and_then(|e| first_with.get(e)) {
            Slot::Repeat(first)
        } else {
            if let Some(ext) = ext {
                first_with.insert(ext, i);
            }
            fresh.push(msg);
            Slot::New
        };
        slots.push(slot);
    }

    let mut senders = known_senders(conn, engine, tenant_id, &fresh).await?;
    let mut opened: Vec<&Handle> = Vec::new();
    let mut messages = Vec::with_capacity(fresh.len());
    for msg in &fresh {
        let at = msg.received_at.unwrap_or_else(now_ms);
        let name = msg.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let sender = senders.entry(msg.from.clone()).or_insert_with(|| {
            opened.push(&msg.from);
            Sender {
                contact_id: new_id(),
                thread_id: new_id(),
                name: None,
                blocked: false,
                pending_drafts: 0,
                write: SenderWrite::Open { at },
            }
        });
        if let (Some(name), None) = (name, &sender.name) {
            sender.name = Some(name.to_string());
            if sender.write == SenderWrite::Nothing {
                sender.write = SenderWrite::Name;
            }
        }
        messages.push(Message {
            id: new_id(),
            thread_id: sender.thread_id.clone(),
            direction: Direction::Inbound,
            channel: msg.channel,
            body: msg.body.clone(),
            author: None,
            delivery_status: DeliveryStatus::Received,
            delivery_error: None,
            created_at: super::to_time(at),
            source: msg.source.clone(),
            external_id: msg.external_id.clone(),
            sender_blocked: sender.blocked,
            tags: Vec::new(),
            urgency: None,
            language: None,
        });
    }

    open_threads(conn, tenant_id, &opened, &senders).await?;
    for sender in senders.values().filter(|s| s.write == SenderWrite::Name) {
        if let Some(name) = &sender.name {
            name_contact(conn, &sender.contact_id, name).await?;
        }
    }
    insert_messages(conn, tenant_id, &fresh, &messages).await?;
    let touches = touches(&messages, &senders);
    raise_attention(conn, &touches).await?;
    for touch in touches.iter().filter(|t| t.stales_drafts) {
        sqlx::query(
            "UPDATE drafts SET status = 'stale', stale_reason = $1 \
             WHERE thread_id = $2 AND status = 'pending'",
        )
        .bind(format!(
            "a new message from the customer arrived after this draft ({})",
            touch.first_id
        ))
        .bind(touch.thread_id)
        .execute(&mut *conn)
        .await?;
    }

    let mut results: Vec<Ingested> = Vec::with_capacity(slots.len());
    let mut messages = messages.into_iter();
    for slot in slots {
        let ingested = match slot {
            Slot::Stored(message) => Ingested {
                thread_id: message.thread_id.clone(),
                message: *message,
                created: false,
            },
            Slot::Repeat(first) => Ingested {
                created: false,
                ..results[first].clone()
            },
            Slot::New => {
                let message = messages.next().ok_or_else(|| {
                    StoreError::Corrupt("ingest batch lost a message".to_string())
                })?;
                Ingested {
                    thread_id: message.thread_id.clone(),
                    message,
                    created: true,
                }
            }
        };
        results.push(ingested);
    }
    Ok(results)
}

/// `FROM` and `WHERE` for the rows of `table` (as `alias`) of tenant `$1` whose `column` is one
/// of `n` values bound from `$2` on, where `(tenant_id, column)` is unique.
///
/// PostgreSQL probes the index once per value. Without statistics (a new database, or
/// autovacuum off as on these machines) its planner takes `tenant_id = $1` for a selective
/// condition and reads the tenant's every row to filter them by the `IN` list: 25–50 ms a batch
/// at 50k messages, growing with the inbox. `LIMIT 1` keeps the lateral probe from being
/// flattened back into that join. SQLite walks the `IN` list through the index by itself.
fn probe(engine: Engine, table: &str, alias: &str, column: &str, n: usize) -> (String, String) {
    match engine {
        Engine::Postgres => (
            format!(
                "(VALUES {}) AS wanted CROSS JOIN LATERAL (SELECT * FROM {table} \
                 WHERE tenant_id = $1 AND {column} = wanted.column1 LIMIT 1) AS {alias}",
                placeholders::rows(2, n, 1)
            ),
            "TRUE".to_string(),
        ),
        Engine::Sqlite => (
            format!("{table} AS {alias}"),
            format!(
                "{alias}.tenant_id = $1 AND {alias}.{column} IN ({})",
                placeholders::list(2, n)
            ),
        ),
    }
}

/// Messages of the batch already stored under their `external_id`, by that id.
async fn stored_by_external_id(
    conn: &mut AnyConnection,
    engine: Engine,
    tenant_id: &str,
    batch: &[&InboundMessage],
) -> Result<HashMap<String, Message>, StoreError> {
    let ids: Vec<&str> = batch
        .iter()
        .filter_map(|m| m.external_id.as_deref())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let (from, wanted) = probe(engine, "messages", "m", "external_id", ids.len());
    let sql = format!(
        "SELECT {} FROM {from} WHERE {wanted}",
        rows::MESSAGE_COLUMNS
    );
    let mut query = sqlx::query(&sql).persistent(false).bind(tenant_id);
    for id in &ids {
        query = query.bind(*id);
    }
    let mut stored = HashMap::new();
    for row in query.fetch_all(&mut *conn).await? {
        let message = rows::message(&row)?;
        if let Some(ext) = message.external_id.clone() {
            stored.insert(ext, message);
        }
    }
    Ok(stored)
}

/// The contacts and threads of the senders of `fresh` that are already stored.
async fn known_senders(
    conn: &mut AnyConnection,
    engine: Engine,
    tenant_id: &str,
    fresh: &[&InboundMessage],
) -> Result<HashMap<Handle, Sender>, StoreError> {
    let mut phones = Vec::new();
    let mut emails = Vec::new();
    for msg in fresh {
        match &msg.from {
            Handle::Phone(p) => phones.push(p.as_str()),
            Handle::Email(e) => emails.push(e.as_str()),
        }
    }
    let mut senders = HashMap::new();
    senders.extend(senders_by(conn, engine, tenant_id, "phone", phones, Handle::Phone).await?);
    senders.extend(senders_by(conn, engine, tenant_id, "email", emails, Handle::Email).await?);
    Ok(senders)
}

/// The stored senders among `handles`, all of one kind, looked up by `column`.
async fn senders_by(
    conn: &mut AnyConnection,
    engine: Engine,
    tenant_id: &str,
    column: &str,
    mut handles: Vec<&str>,
    handle_of: fn(String) -> Handle,
) -> Result<Vec<(Handle, Sender)>, StoreError> {
    handles.sort_unstable();
    handles.dedup();
    if handles.is_empty() {
        return Ok(Vec::new());
    }
    let (from, wanted) = probe(engine, "contacts", "c", column, handles.len());
    let sql = format!(
        "SELECT c.id AS contact_id, c.name, c.{column} AS handle, t.id AS thread_id, \
           t.blocked, t.pending_drafts \
         FROM {from} JOIN threads t ON t.contact_id = c.id WHERE {wanted}"
    );
    let mut query = sqlx::query(&sql).persistent(false).bind(tenant_id);
    for handle in &handles {
        query = query.bind(*handle);
    }
    let mut found = Vec::new();
    for row in query.fetch_all(&mut *conn).await? {
        let sender = Sender {
            contact_id: row.try_get("contact_id")?,
            thread_id: row.try_get("thread_id")?,
            name: row.try_get("name")?,
            blocked: row.try_get::<i64, _>("blocked")? != 0,
            pending_drafts: row.try_get("pending_drafts")?,
            write: SenderWrite::Nothing,
        };
        found.push((handle_of(row.try_get("handle")?), sender));
    }
    Ok(found)
}

/// Writes a contact and a thread for each first-time sender, in the order they wrote.
async fn open_threads(
    conn: &mut AnyConnection,
    tenant_id: &str,
    opened: &[&Handle],
    senders: &HashMap<Handle, Sender>,
) -> Result<(), StoreError> {
    let new: Vec<(&Handle, &Sender, i64)> = opened
        .iter()
        .filter_map(|h| {
            let sender = senders.get(*h)?;
            match sender.write {
                SenderWrite::Open { at } => Some((*h, sender, at)),
                _ => None,
            }
        })
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let created_at = now_ms();
    let sql = format!(
        "INSERT INTO contacts (id, tenant_id, is_customer, name, phone, email, search_text, \
         created_at) VALUES {}",
        placeholders::rows(1, new.len(), 8)
    );
    let mut query = sqlx::query(&sql).persistent(false);
    for (handle, sender, first_at) in &new {
        let (phone, email) = match handle {
            Handle::Phone(p) => (Some(p.as_str()), None),
            Handle::Email(e) => (None, Some(e.as_str())),
        };
        let name = sender.name.as_deref();
        query = query
            .bind(&sender.contact_id)
            .bind(tenant_id)
            .bind(i64::from(name.is_some()))
            .bind(name)
            .bind(phone)
            .bind(email)
            .bind(contact_search_text(name, phone, email))
            .bind(first_at);
    }
    query.execute(&mut *conn).await?;

    let sql = format!(
        "INSERT INTO threads (id, tenant_id, contact_id, last_activity_at, created_at) VALUES {}",
        placeholders::rows(1, new.len(), 5)
    );
    let mut query = sqlx::query(&sql).persistent(false);
    for (_, sender, first_at) in &new {
        query = query
            .bind(&sender.thread_id)
            .bind(tenant_id)
            .bind(&sender.contact_id)
            .bind(first_at)
            .bind(created_at);
    }
    query.execute(&mut *conn).await?;

    sqlx::query("UPDATE tenants SET thread_count = thread_count + $1 WHERE id = $2")
        .bind(new.len() as i64)
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A sender who gives a name on a later message becomes a named customer.
async fn name_contact(
    conn: &mut AnyConnection,
    contact_id: &str,
    name: &str,
) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT phone, email FROM contacts WHERE id = $1")
        .bind(contact_id)
        .fetch_one(&mut *conn)
        .await?;
    let phone: Option<String> = row.try_get("phone")?;
    let email: Option<String> = row.try_get("email")?;
    sqlx::query("UPDATE contacts SET name = $1, is_customer = 1, search_text = $2 WHERE id = $3")
        .bind(name)
        .bind(contact_search_text(
            Some(name),
            phone.as_deref(),
            email.as_deref(),
        ))
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Columns bound per message row by `insert_messages`.
const MESSAGE_BINDS: usize = 12;

// SQLite allows 32,766 bound parameters in one statement; a full batch must fit.
const _: () = assert!(MAX_BATCH * MESSAGE_BINDS <= 32_766);

async fn insert_messages(
    conn: &mut AnyConnection,
    tenant_id: &str,
    fresh: &[&InboundMessage],
    messages: &[Message],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO messages (id, tenant_id, thread_id, direction, channel, body, sender, source, \
         external_id, delivery_status, sender_blocked, created_at) VALUES {}",
        placeholders::rows(1, messages.len(), MESSAGE_BINDS)
    );
    let mut query = sqlx::query(&sql).persistent(false);
    for (msg, message) in fresh.iter().zip(messages) {
        query = query
            .bind(&message.id)
            .bind(tenant_id)
            .bind(&message.thread_id)
            .bind(Direction::Inbound.as_str())
            .bind(msg.channel.as_str())
            .bind(&msg.body)
            .bind(msg.from.as_str())
            .bind(&msg.source)
            .bind(&msg.external_id)
            .bind(DeliveryStatus::Received.as_str())
            .bind(i64::from(message.sender_blocked))
            .bind(message.created_at.timestamp_millis());
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// One Attention update per thread that received an unblocked message, threads in the order
/// their first message came.
fn touches<'a>(messages: &'a [Message], senders: &HashMap<Handle, Sender>) -> Vec<Touch<'a>> {
    let stales: HashSet<&str> = senders
        .values()
        .filter(|s| s.pending_drafts > 0)
        .map(|s| s.thread_id.as_str())
        .collect();
    let mut touches: Vec<Touch<'a>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for message in messages.iter().filter(|m| !m.sender_blocked) {
        let at = message.created_at.timestamp_millis();
        match index.get(message.thread_id.as_str()) {
            Some(&i) => {
                let touch = &mut touches[i];
                touch.first_at = touch.first_at.min(at);
                if at >= touch.latest_at {
                    touch.latest_at = at;
                    touch.latest_id = &message.id;
                }
            }
            None => {
                index.insert(&message.thread_id, touches.len());
                touches.push(Touch {
                    thread_id: &message.thread_id,
                    first_at: at,
                    latest_at: at,
                    latest_id: &message.id,
                    first_id: &message.id,
                    stales_drafts: stales.contains(message.thread_id.as_str()),
                });
            }
        }
    }
    touches
}

/// Puts the touched threads (back) on Attention: starts or keeps the wait clock, moves the
/// last activity forward, reopens a resolved thread and clears its pending-draft count (the
/// drafts themselves go stale beside this).
async fn raise_attention(
    conn: &mut AnyConnection,
    touches: &[Touch<'_>],
) -> Result<(), StoreError> {
    if touches.is_empty() {
        return Ok(());
    }
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
                 column4 AS latest_id FROM (VALUES {}) AS r) AS v \
         WHERE threads.id = v.thread_id",
        placeholders::rows(1, touches.len(), 4)
    );
    let mut query = sqlx::query(&sql).persistent(false);
    for touch in touches {
        query = query
            .bind(touch.thread_id)
            .bind(touch.first_at)
            .bind(touch.latest_at)
            .bind(touch.latest_id);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}
