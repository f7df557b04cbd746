//! Inbound messages: find or open the sender's thread, store the message, raise Attention.
//!
//! Ingests go through one writer task that commits whatever has queued up as a single
//! transaction (group commit): each caller is acknowledged only after that commit, so a 2xx is
//! durable, and the per-commit fsync is shared by the whole batch.

use sqlx::{AnyConnection, Row};
use tokio::sync::{mpsc, oneshot};

use super::search::contact_search_text;
use super::{new_id, now_ms, rows, Store, StoreError};
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
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(ingest_one(&mut tx, &job.tenant_id, &job.message).await?);
    }
    tx.commit().await?;
    metrics::counter!("parley_messages_ingested_total").increment(jobs.len() as u64);
    Ok(results)
}

/// The sender's contact and thread, when known.
struct Known {
    contact_id: String,
    thread_id: String,
    has_name: bool,
    blocked: bool,
    pending_drafts: i64,
}

async fn find_sender(
    conn: &mut AnyConnection,
    tenant_id: &str,
    from: &Handle,
) -> Result<Option<Known>, StoreError> {
    let column = match from {
        Handle::Phone(_) => "phone",
        Handle::Email(_) => "email",
    };
    let sql = format!(
        "SELECT c.id AS contact_id, c.name, t.id AS thread_id, t.blocked, t.pending_drafts \
         FROM contacts c JOIN threads t ON t.contact_id = c.id \
         WHERE c.tenant_id = $1 AND c.{column} = $2"
    );
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(from.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| {
        Ok(Known {
            contact_id: row.try_get("contact_id")?,
            thread_id: row.try_get("thread_id")?,
            has_name: row.try_get::<Option<String>, _>("name")?.is_some(),
            blocked: row.try_get::<i64, _>("blocked")? != 0,
            pending_drafts: row.try_get("pending_drafts")?,
        })
    })
    .transpose()
}

/// Opens a contact and its thread for a first-time sender.
async fn open_thread(
    conn: &mut AnyConnection,
    tenant_id: &str,
    from: &Handle,
    name: Option<&str>,
    at: i64,
) -> Result<Known, StoreError> {
    let (phone, email) = match from {
        Handle::Phone(p) => (Some(p.as_str()), None),
        Handle::Email(e) => (None, Some(e.as_str())),
    };
    let contact_id = new_id();
    let thread_id = new_id();
    sqlx::query(
        "INSERT INTO contacts (id, tenant_id, is_customer, name, phone, email, search_text, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&contact_id)
    .bind(tenant_id)
    .bind(i64::from(name.is_some()))
    .bind(name)
    .bind(phone)
    .bind(email)
    .bind(contact_search_text(name, phone, email))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO threads (id, tenant_id, contact_id, last_activity_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&thread_id)
    .bind(tenant_id)
    .bind(&contact_id)
    .bind(at)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE tenants SET thread_count = thread_count + 1 WHERE id = $1")
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    Ok(Known {
        contact_id,
        thread_id,
        has_name: name.is_some(),
        blocked: false,
        pending_drafts: 0,
    })
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

pub(crate) async fn ingest_one(
    conn: &mut AnyConnection,
    tenant_id: &str,
    msg: &InboundMessage,
) -> Result<Ingested, StoreError> {
    if let Some(external_id) = &msg.external_id {
        let sql = format!(
            "SELECT {} FROM messages WHERE tenant_id = $1 AND external_id = $2",
            rows::MESSAGE_COLUMNS
        );
        let existing = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(external_id)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = existing {
            let message = rows::message(&row)?;
            return Ok(Ingested {
                thread_id: message.thread_id.clone(),
                message,
                created: false,
            });
        }
    }

    let at = msg.received_at.unwrap_or_else(now_ms);
    let name = msg.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let sender = match find_sender(conn, tenant_id, &msg.from).await? {
        Some(known) => {
            if let (Some(name), false) = (name, known.has_name) {
                name_contact(conn, &known.contact_id, name).await?;
            }
            known
        }
        None => open_thread(conn, tenant_id, &msg.from, name, at).await?,
    };

    let message = Message {
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
    };
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, thread_id, direction, channel, body, sender, source, \
         external_id, delivery_status, sender_blocked, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
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
    .bind(i64::from(sender.blocked))
    .bind(at)
    .execute(&mut *conn)
    .await?;

    if !sender.blocked {
        // A new inbound message puts the thread back on Attention, starts (or keeps) the wait
        // clock, reopens a resolved thread and makes every pending draft stale.
        sqlx::query(
            "UPDATE threads SET needs_attention = 1, \
               waiting_since = CASE WHEN waiting_since IS NULL OR $1 < waiting_since THEN $1 ELSE waiting_since END, \
               last_message_id = CASE WHEN $1 >= last_activity_at THEN $2 ELSE last_message_id END, \
               last_activity_at = CASE WHEN $1 > last_activity_at THEN $1 ELSE last_activity_at END, \
               status = CASE WHEN status = 'resolved' THEN 'new' ELSE status END, \
               pending_drafts = 0 \
             WHERE id = $3",
        )
        .bind(at)
        .bind(&message.id)
        .bind(&message.thread_id)
        .execute(&mut *conn)
        .await?;
        if sender.pending_drafts > 0 {
            sqlx::query(
                "UPDATE drafts SET status = 'stale', stale_reason = $1 \
                 WHERE thread_id = $2 AND status = 'pending'",
            )
            .bind(format!(
                "a new message from the customer arrived after this draft ({})",
                message.id
            ))
            .bind(&message.thread_id)
            .execute(&mut *conn)
            .await?;
        }
    }

    Ok(Ingested {
        thread_id: message.thread_id.clone(),
        message,
        created: true,
    })
}
