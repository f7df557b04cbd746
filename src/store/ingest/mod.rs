//! Inbound messages: find or open the sender's thread, store the message, raise Attention.
//!
//! Ingests go through one writer that commits whatever has queued up as a single
//! transaction (group commit): each caller is acknowledged only after that commit, so a 2xx is
//! durable, and the per-commit fsync is shared by the whole batch. A batch is worked out in
//! memory, repeats inside it resolved the way one-by-one writes would resolve them, and then
//! looked up and written set-wise by its engine's module: a few round trips a batch, whatever
//! its size.

mod postgres;
mod sqlite;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::AnyRow;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use super::search::contact_search_text;
use super::{new_id, now_ms, rows, Durable, Engine, KeptConnection, Store, StoreError, WriteTx};
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
    load: Arc<IngestLoad>,
}

/// How long the writer counts as behind after a batch that ended with ingests waiting.
const BEHIND_FOR: Duration = Duration::from_millis(50);

/// Whether the ingest writer is falling behind, for background work that should give way to
/// it ([`crate::pipeline::triage`]): it is behind while its batches end with more ingests
/// already waiting, each of them a caller not yet acknowledged.
#[derive(Debug)]
pub struct IngestLoad {
    epoch: Instant,
    /// Until when, in microseconds since `epoch`, the writer counts as behind.
    behind_until: AtomicU64,
}

impl IngestLoad {
    fn new() -> Self {
        IngestLoad {
            epoch: Instant::now(),
            behind_until: AtomicU64::new(0),
        }
    }

    fn fell_behind(&self) {
        let until = (self.epoch.elapsed() + BEHIND_FOR).as_micros();
        self.behind_until
            .store(u64::try_from(until).unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Whether a batch ended with ingests waiting within the last [`BEHIND_FOR`].
    pub fn is_behind(&self) -> bool {
        let now = self.epoch.elapsed().as_micros();
        now < u128::from(self.behind_until.load(Ordering::Acquire))
    }
}

impl IngestQueue {
    /// Starts the writer task on the current runtime. Jobs queued before it first runs go
    /// into one batch (what the batch tests rely on).
    pub fn start(store: Store) -> Self {
        let (jobs, rx) = mpsc::channel(MAX_BATCH * 8);
        let load = Arc::new(IngestLoad::new());
        tokio::spawn(run_writer(store, rx, Arc::clone(&load)));
        IngestQueue { jobs, load }
    }

    /// Starts the writer as the server runs it: on SQLite on a thread of its own, on
    /// PostgreSQL as a task on the current runtime ([`IngestQueue::start`]).
    ///
    /// SQLite's writer holds the database's write lock from a batch's lookups to its commit,
    /// and in between it waits twice to be run again: once its lookups are back from the
    /// connection's thread, and once its writes are. As a task, it waited each time behind
    /// the request handlers queued on the runtime's two workers, the lock held all along. On
    /// a thread of its own it is run the moment the connection's thread answers: 32
    /// concurrent ingests went from 5.1-5.4k to 5.7k msg/s (BENCHMARKS.md, session 28).
    /// PostgreSQL's writer waits on its sockets, which the main runtime drives; moved, it
    /// measured no faster.
    pub fn start_for_server(store: Store) -> Self {
        if store.engine() == Engine::Postgres {
            return Self::start(store);
        }
        let (jobs, rx) = mpsc::channel(MAX_BATCH * 8);
        let load = Arc::new(IngestLoad::new());
        let writer_load = Arc::clone(&load);
        let spawned = std::thread::Builder::new()
            .name("parley-ingest".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(run_writer(store, rx, writer_load)),
                    Err(e) => tracing::error!(error = %e, "no runtime for the ingest writer"),
                }
            });
        // without its writer, every ingest answers that the queue has shut down
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread for the ingest writer");
        }
        IngestQueue { jobs, load }
    }

    /// How busy the writer is.
    pub fn load(&self) -> Arc<IngestLoad> {
        Arc::clone(&self.load)
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

/// How long the writer keeps its connection ([`KeptConnection`]) while no ingest comes. Given
/// back, it is the pool's again, which closes connections idle for long or open for too long
/// and checks one before it is next used: a connection a proxy or the server dropped while
/// ingest was quiet is found by that check, not by failing the next batch.
const KEEP_WHILE_IDLE: Duration = Duration::from_secs(1);

async fn run_writer(store: Store, mut rx: mpsc::Receiver<Job>, load: Arc<IngestLoad>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut kept = KeptConnection::default();
    loop {
        // waiting ingests are taken without a timer
        let received = if kept.is_held() && rx.is_empty() {
            match tokio::time::timeout(KEEP_WHILE_IDLE, rx.recv_many(&mut batch, MAX_BATCH)).await {
                Ok(received) => received,
                Err(_idle) => {
                    kept.give_back();
                    rx.recv_many(&mut batch, MAX_BATCH).await
                }
            }
        } else {
            rx.recv_many(&mut batch, MAX_BATCH).await
        };
        if received == 0 {
            break;
        }
        let jobs = std::mem::take(&mut batch);
        let committed = commit_batch(&store, &jobs, &mut kept).await;
        if !rx.is_empty() {
            load.fell_behind();
        }
        match committed {
            // The next batch begins while this one's commit is synced to disk.
            Ok((results, durable)) => {
                tokio::spawn(async move {
                    let synced = durable.wait().await;
                    for (job, result) in jobs.into_iter().zip(results) {
                        // The caller may have gone away; its message is stored all the same.
                        let _ = job
                            .reply
                            .send(synced.clone().map(|()| result).map_err(Into::into));
                    }
                });
            }
            Err(err) => {
                // One bad message must not fail its neighbours: retry each on its own.
                tracing::warn!(error = %err, size = jobs.len(), "ingest batch failed, retrying singly");
                for job in jobs {
                    let result = commit_alone(&store, &job, &mut kept).await;
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

/// Tries a message retried on its own gets. A merge (`Store::add_customer`) can fail a batch
/// without anything wrong with its messages: by deleting the thread a message was resolved to
/// (a foreign-key violation), or by meeting it in a lock cycle that PostgreSQL breaks. Each try
/// looks the sender up again, and finds the merged thread.
const ALONE_ATTEMPTS: usize = 4;

async fn commit_alone(
    store: &Store,
    job: &Job,
    kept: &mut KeptConnection,
) -> Result<Ingested, StoreError> {
    let mut attempt = 1;
    loop {
        match commit_batch(store, std::slice::from_ref(job), kept).await {
            Err(e) if e.is_merge_race() && attempt < ALONE_ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
            Ok((mut results, durable)) => {
                durable.wait().await?;
                return Ok(results.remove(0));
            }
        }
    }
}

/// Writes and commits the jobs' messages; their results, once the commit is on disk.
async fn commit_batch(
    store: &Store,
    jobs: &[Job],
    kept: &mut KeptConnection,
) -> Result<(Vec<Ingested>, Durable), StoreError> {
    let started = std::time::Instant::now();
    let tenants = by_tenant(jobs);
    // One tenant's writes are one statement on PostgreSQL, atomic without a transaction;
    // several tenants' writes are several, which must commit together.
    let autocommit = match tenants.len() {
        1 => store.autocommit_writes(kept).await?,
        _ => None,
    };
    let mut tx = match autocommit {
        Some(tx) => tx,
        None => store.begin_write_unsent().await?,
    };
    let mut results: Vec<Option<Ingested>> = vec![None; jobs.len()];
    // SQLite's writes wait here to go out with the COMMIT (`sqlite::Script`)
    let mut writes = sqlite::Script::default();
    for (tenant_id, positions) in tenants {
        let messages: Vec<&InboundMessage> = positions.iter().map(|&i| &jobs[i].message).collect();
        let stored =
            ingest_batch(&mut tx, store.engine(), tenant_id, &messages, &mut writes).await?;
        for (i, ingested) in positions.into_iter().zip(stored) {
            results[i] = Some(ingested);
        }
    }
    let durable = match tx.commit_statement() {
        Some(commit) => {
            if let Some(begin) = tx.take_begin() {
                writes.prepend(begin);
            }
            writes.push(commit);
            writes.run(&mut tx).await?;
            tx.committed()
        }
        None => {
            tx.commit_keeping(kept).await?;
            Durable::done()
        }
    };
    metrics::counter!("parley_messages_ingested_total").increment(jobs.len() as u64);
    // How well group commit groups: messages per commit, and how long each held the writer.
    metrics::histogram!("parley_ingest_batch_messages").record(jobs.len() as f64);
    metrics::histogram!("parley_ingest_commit_seconds").record(started.elapsed().as_secs_f64());
    Ok((results.into_iter().flatten().collect(), durable))
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
    /// The stored contact's handles (a customer may have both), for its search text.
    phone: Option<String>,
    email: Option<String>,
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
#[derive(Clone, Copy)]
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

impl Touch<'_> {
    fn stale_reason(&self) -> String {
        format!(
            "a new message from the customer arrived after this draft ({})",
            self.first_id
        )
    }
}

/// A first-time sender's contact and thread, the thread already in the state the batch leaves
/// it: PostgreSQL runs a batch's writes as one statement, whose parts cannot see each other's
/// rows, so a thread cannot be inserted and then updated.
struct Opened<'a> {
    contact_id: &'a str,
    thread_id: &'a str,
    name: Option<&'a str>,
    phone: Option<&'a str>,
    email: Option<&'a str>,
    /// The sender's first message in batch order.
    first_at: i64,
    /// The update its unblocked messages make. A first-time sender is never blocked, so this
    /// is always there; without it the thread is stored quiet rather than given a wait clock.
    attention: Option<Touch<'a>>,
}

impl Opened<'_> {
    fn search_text(&self) -> String {
        contact_search_text(self.name, self.phone, self.email)
    }

    fn last_activity_at(&self) -> i64 {
        self.attention
            .map_or(self.first_at, |t| t.latest_at.max(self.first_at))
    }
}

/// A known contact that this batch names.
struct Named<'a> {
    contact_id: &'a str,
    name: &'a str,
    search_text: String,
}

/// Everything one tenant's share of a batch writes.
struct Writes<'a> {
    tenant_id: &'a str,
    /// When the opened threads were created.
    now: i64,
    opened: Vec<Opened<'a>>,
    named: Vec<Named<'a>>,
    /// The new messages, each with the handle it came from.
    messages: Vec<(&'a Message, &'a str)>,
    /// Attention updates of the threads that were stored before the batch.
    touches: Vec<Touch<'a>>,
}

/// Stores one tenant's share of a batch: its lookups and its writes, each carrying the whole
/// batch. On PostgreSQL every statement is a round trip from the single writer task, and four
/// per message held the writer under ~2,000 messages a second (BENCHMARKS.md, session 16):
/// here it is two lookups and one write. On SQLite the lookups are one script, sent with the
/// transaction's `BEGIN` if that has not gone out yet, and the writes are added to `writes`,
/// to go out with the `COMMIT`: a batch is two round trips to SQLite's connection thread,
/// where five were (each cost 0.2-0.4 ms of waking threads under load).
async fn ingest_batch(
    tx: &mut WriteTx,
    engine: Engine,
    tenant_id: &str,
    batch: &[&InboundMessage],
    writes: &mut sqlite::Script,
) -> Result<Vec<Ingested>, StoreError> {
    let Known {
        stored,
        mut senders,
    } = look_up(tx, engine, tenant_id, batch).await?;
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
                phone: None,
                email: None,
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

    let planned = plan_writes(tenant_id, &fresh, &messages, &senders, &opened);
    match engine {
        Engine::Sqlite => writes.append(sqlite::writes(&planned)),
        Engine::Postgres => postgres::write(tx, &planned).await?,
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

/// The rows a batch writes, from its new messages and where their senders ended up.
fn plan_writes<'a>(
    tenant_id: &'a str,
    fresh: &'a [&'a InboundMessage],
    messages: &'a [Message],
    senders: &'a HashMap<Handle, Sender>,
    opened: &[&'a Handle],
) -> Writes<'a> {
    let new_threads: HashSet<&str> = senders
        .values()
        .filter(|s| matches!(s.write, SenderWrite::Open { .. }))
        .map(|s| s.thread_id.as_str())
        .collect();
    let (new, known): (Vec<Touch<'a>>, Vec<Touch<'a>>) = touches(messages, senders)
        .into_iter()
        .partition(|t| new_threads.contains(t.thread_id));
    let mut new: HashMap<&str, Touch<'a>> = new.into_iter().map(|t| (t.thread_id, t)).collect();
    let mut writes = Writes {
        tenant_id,
        now: now_ms(),
        opened: Vec::new(),
        named: Vec::new(),
        messages: fresh
            .iter()
            .zip(messages)
            .map(|(msg, message)| (message, msg.from.as_str()))
            .collect(),
        touches: known,
    };
    // in the order the senders first wrote
    for handle in opened {
        let Some(sender) = senders.get(*handle) else {
            continue;
        };
        let SenderWrite::Open { at } = sender.write else {
            continue;
        };
        let (phone, email) = match handle {
            Handle::Phone(p) => (Some(p.as_str()), None),
            Handle::Email(e) => (None, Some(e.as_str())),
        };
        writes.opened.push(Opened {
            contact_id: &sender.contact_id,
            thread_id: &sender.thread_id,
            name: sender.name.as_deref(),
            phone,
            email,
            first_at: at,
            attention: new.remove(sender.thread_id.as_str()),
        });
    }
    for sender in senders.values().filter(|s| s.write == SenderWrite::Name) {
        if let Some(name) = &sender.name {
            writes.named.push(Named {
                contact_id: &sender.contact_id,
                name,
                search_text: contact_search_text(
                    Some(name),
                    sender.phone.as_deref(),
                    sender.email.as_deref(),
                ),
            });
        }
    }
    writes
}

/// What the store already holds of a batch: its messages stored before under their
/// `external_id`, by that id, and its senders' contacts and threads.
struct Known {
    stored: HashMap<String, Message>,
    senders: HashMap<Handle, Sender>,
}

/// Looks up what the store already holds of `batch` (see [`Known`]): on SQLite in one round
/// trip, on PostgreSQL in two.
async fn look_up(
    tx: &mut WriteTx,
    engine: Engine,
    tenant_id: &str,
    batch: &[&InboundMessage],
) -> Result<Known, StoreError> {
    let ids: Vec<&str> = batch
        .iter()
        .filter_map(|m| m.external_id.as_deref())
        .collect();
    let mut phones = Vec::new();
    let mut emails = Vec::new();
    for msg in batch {
        match &msg.from {
            Handle::Phone(p) => phones.push(p.as_str()),
            Handle::Email(e) => emails.push(e.as_str()),
        }
    }
    for handles in [&mut phones, &mut emails] {
        handles.sort_unstable();
        handles.dedup();
    }
    let (messages, contacts) = match engine {
        Engine::Sqlite => sqlite::look_up(tx, tenant_id, &ids, &phones, &emails).await?,
        Engine::Postgres => {
            let messages = if ids.is_empty() {
                Vec::new()
            } else {
                postgres::stored_messages(tx, tenant_id, &ids).await?
            };
            let contacts = if phones.is_empty() && emails.is_empty() {
                Vec::new()
            } else {
                postgres::senders(tx, tenant_id, &phones, &emails).await?
            };
            (messages, contacts)
        }
    };
    let mut known = Known {
        stored: HashMap::new(),
        senders: HashMap::new(),
    };
    for row in messages {
        let message = rows::message(&row)?;
        if let Some(ext) = message.external_id.clone() {
            known.stored.insert(ext, message);
        }
    }
    for row in contacts {
        let (handle, sender) = sender(&row)?;
        known.senders.insert(handle, sender);
    }
    Ok(known)
}

/// A row of an engine's sender lookup: the contact's `contact_id`, `name`, `phone` and
/// `email`, which of the two it was found by (`found_by`), and its thread's `thread_id`,
/// `blocked` and `pending_drafts`.
fn sender(row: &AnyRow) -> Result<(Handle, Sender), StoreError> {
    let phone: Option<String> = row.try_get("phone")?;
    let email: Option<String> = row.try_get("email")?;
    let found_by: String = row.try_get("found_by")?;
    let handle = match (found_by.as_str(), &phone, &email) {
        ("phone", Some(p), _) => Handle::Phone(p.clone()),
        ("email", _, Some(e)) => Handle::Email(e.clone()),
        _ => {
            return Err(StoreError::Corrupt(format!(
                "a contact found by its {found_by} has none"
            )))
        }
    };
    let sender = Sender {
        contact_id: row.try_get("contact_id")?,
        thread_id: row.try_get("thread_id")?,
        name: row.try_get("name")?,
        phone,
        email,
        blocked: row.try_get::<i64, _>("blocked")? != 0,
        pending_drafts: row.try_get("pending_drafts")?,
        write: SenderWrite::Nothing,
    };
    Ok((handle, sender))
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
