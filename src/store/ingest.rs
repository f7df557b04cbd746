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

use super::placeholders::{self, Param, Params};
use super::search::contact_search_text;
use super::{new_id, now_ms, rows, Engine, Store, StoreError};
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
    let started = std::time::Instant::now();
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
    // How well group commit groups: messages per commit, and how long each held the writer.
    metrics::histogram!("parley_ingest_batch_messages").record(jobs.len() as f64);
    metrics::histogram!("parley_ingest_commit_seconds").record(started.elapsed().as_secs_f64());
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

    for sender in senders.values().filter(|s| s.write == SenderWrite::Name) {
        if let Some(name) = &sender.name {
            name_contact(conn, &sender.contact_id, name).await?;
        }
    }
    let mut script = Script::new(engine);
    open_threads(&mut script, tenant_id, &opened, &senders);
    insert_messages(&mut script, tenant_id, &fresh, &messages);
    let touches = touches(&messages, &senders);
    raise_attention(&mut script, &touches);
    for touch in touches.iter().filter(|t| t.stales_drafts) {
        let mut params = Params::default();
        let sql = "UPDATE drafts SET status = 'stale', stale_reason = $1 \
                   WHERE thread_id = $2 AND status = 'pending'"
            .to_string();
        params.push(Param::Text(format!(
            "a new message from the customer arrived after this draft ({})",
            touch.first_id
        )));
        params.push(Param::Text(touch.thread_id.to_string()));
        script.add(sql, params);
    }
    script.run(conn).await?;

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
fn open_threads(
    script: &mut Script,
    tenant_id: &str,
    opened: &[&Handle],
    senders: &HashMap<Handle, Sender>,
) {
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
        return;
    }
    let created_at = now_ms();
    let sql = format!(
        "INSERT INTO contacts (id, tenant_id, is_customer, name, phone, email, search_text, \
         created_at) VALUES {}",
        placeholders::rows(1, new.len(), 8)
    );
    let mut params = Params::default();
    for (handle, sender, first_at) in &new {
        let (phone, email) = match handle {
            Handle::Phone(p) => (Some(p.as_str()), None),
            Handle::Email(e) => (None, Some(e.as_str())),
        };
        let name = sender.name.as_deref();
        params.push(Param::Text(sender.contact_id.clone()));
        params.push(Param::Text(tenant_id.to_string()));
        params.push(Param::Int(i64::from(name.is_some())));
        params.push(Param::MaybeText(name.map(str::to_string)));
        params.push(Param::MaybeText(phone.map(str::to_string)));
        params.push(Param::MaybeText(email.map(str::to_string)));
        params.push(Param::Text(contact_search_text(name, phone, email)));
        params.push(Param::Int(*first_at));
    }
    script.add(sql, params);

    let sql = format!(
        "INSERT INTO threads (id, tenant_id, contact_id, last_activity_at, created_at) VALUES {}",
        placeholders::rows(1, new.len(), 5)
    );
    let mut params = Params::default();
    for (_, sender, first_at) in &new {
        params.push(Param::Text(sender.thread_id.clone()));
        params.push(Param::Text(tenant_id.to_string()));
        params.push(Param::Text(sender.contact_id.clone()));
        params.push(Param::Int(*first_at));
        params.push(Param::Int(created_at));
    }
    script.add(sql, params);

    let sql = "UPDATE tenants SET thread_count = thread_count + $1 WHERE id = $2".to_string();
    let mut params = Params::default();
    params.push(Param::Int(new.len() as i64));
    params.push(Param::Text(tenant_id.to_string()));
    script.add(sql, params);
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

/// Values a batch's script binds per message at most: its contact (8), its thread (5), its row
/// (12), its thread's Attention update (4) and its stale drafts (2).
const BINDS_PER_MESSAGE: usize = 8 + 5 + 12 + 4 + 2;

// SQLite binds at most 32,766 values to a script's statements: a full batch must fit, with
// the two of the thread count.
const _: () = assert!(MAX_BATCH * BINDS_PER_MESSAGE + 2 <= 32_766);

fn insert_messages(
    script: &mut Script,
    tenant_id: &str,
    fresh: &[&InboundMessage],
    messages: &[Message],
) {
    if messages.is_empty() {
        return;
    }
    let sql = format!(
        "INSERT INTO messages (id, tenant_id, thread_id, direction, channel, body, sender, source, \
         external_id, delivery_status, sender_blocked, created_at) VALUES {}",
        placeholders::rows(1, messages.len(), 12)
    );
    let mut params = Params::default();
    for (msg, message) in fresh.iter().zip(messages) {
        params.push(Param::Text(message.id.clone()));
        params.push(Param::Text(tenant_id.to_string()));
        params.push(Param::Text(message.thread_id.clone()));
        params.push(Param::Text(Direction::Inbound.as_str().to_string()));
        params.push(Param::Text(msg.channel.as_str().to_string()));
        params.push(Param::Text(msg.body.clone()));
        params.push(Param::Text(msg.from.as_str().to_string()));
        params.push(Param::MaybeText(msg.source.clone()));
        params.push(Param::MaybeText(msg.external_id.clone()));
        params.push(Param::Text(DeliveryStatus::Received.as_str().to_string()));
        params.push(Param::Int(i64::from(message.sender_blocked)));
        params.push(Param::Int(message.created_at.timestamp_millis()));
    }
    script.add(sql, params);
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
fn raise_attention(script: &mut Script, touches: &[Touch<'_>]) {
    if touches.is_empty() {
        return;
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
    let mut params = Params::default();
    for touch in touches {
        params.push(Param::Text(touch.thread_id.to_string()));
        params.push(Param::Int(touch.first_at));
        params.push(Param::Int(touch.latest_at));
        params.push(Param::Text(touch.latest_id.to_string()));
    }
    script.add(sql, params);
}

/// The writes of one batch, run together. SQLite takes them as one script, a single round trip
/// to the thread sqlx runs its connection on: under load each trip cost ~0.5 ms of waiting for
/// that thread and then for the writer to be woken, which made the statements, not the work in
/// them, the larger part of a commit. PostgreSQL's extended protocol takes one statement per
/// query, so there they run one by one.
struct Script {
    engine: Engine,
    /// Each statement numbers its placeholders from `$1`.
    statements: Vec<(String, Params)>,
}

impl Script {
    fn new(engine: Engine) -> Self {
        Script {
            engine,
            statements: Vec::new(),
        }
    }

    fn add(&mut self, sql: String, params: Params) {
        self.statements.push((sql, params));
    }

    async fn run(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let mut joined = String::new();
        let mut values = Params::default();
        for (sql, params) in self.statements {
            match (self.engine, anonymous(&sql, params.len())) {
                (Engine::Sqlite, Some(sql)) => {
                    joined.push_str(&sql);
                    joined.push_str(";\n");
                    values.append(params);
                }
                _ => {
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
