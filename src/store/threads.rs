//! The inbox list and everything an agent does to a thread: read, pin, block, status, and
//! naming an Unknown Contact (which merges threads when the customer already has one).

use std::str::FromStr;

use sqlx::{AnyConnection, Row};

use super::page_cache::PageKey;
use super::placeholders::{Param, Params};
use super::search::{
    bucket as search_bucket, bucketed_match, contact_search_text, match_expression,
    postgres_candidate_threads, sqlite_candidate_threads,
};
use super::{cursor, now_ms, rows, Engine, Store, StoreError, ThreadCounts};
use crate::domain::{Thread, ThreadStatus, UnknownVariant};

/// The four inbox views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadFilter {
    /// Everything, pinned first, newest activity first.
    All,
    /// Not resolved, with activity in the last 30 days.
    Active,
    /// An inbound message not yet answered or read; most urgent, then longest waiting, first.
    Attention,
    /// A pending AI draft exists.
    Drafts,
}

impl FromStr for ThreadFilter {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(ThreadFilter::All),
            "active" => Ok(ThreadFilter::Active),
            "attention" => Ok(ThreadFilter::Attention),
            "drafts" => Ok(ThreadFilter::Drafts),
            other => Err(UnknownVariant {
                kind: "filter",
                value: other.to_string(),
                expected: "all active attention drafts",
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ThreadQuery {
    pub filter: ThreadFilter,
    pub q: Option<String>,
    pub limit: i64,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ThreadPage {
    pub threads: Vec<Thread>,
    pub counts: ThreadCounts,
    pub next_cursor: Option<String>,
}

/// Details that turn an Unknown Contact into a customer.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub name: String,
    /// E.164.
    pub phone: Option<String>,
    /// Lower-cased.
    pub email: Option<String>,
    pub address: Option<String>,
}

const ACTIVE_WINDOW_MS: i64 = 30 * 24 * 3600 * 1000;

/// Tries a merge gets when PostgreSQL fails it to break a lock cycle (see `add_customer`).
const MERGE_ATTEMPTS: usize = 4;

/// Keyset position for the activity-ordered views: (pinned, last_activity_at, id).
type RecentKey = (i64, i64, String);
/// Keyset position for Attention: (urgency_rank, waiting_since, id).
type AttentionKey = (i64, i64, String);

impl Store {
    /// One page of an inbox view. Pages without a search are served from the `page_cache` while
    /// no write has finished since they were read.
    pub async fn list_threads(
        &self,
        tenant_id: &str,
        query: &ThreadQuery,
    ) -> Result<ThreadPage, StoreError> {
        if query.q.is_some() {
            return self.read_threads(tenant_id, query).await;
        }
        let key = PageKey {
            tenant_id: tenant_id.to_string(),
            filter: query.filter,
            limit: query.limit,
            cursor: query.cursor.clone(),
        };
        if let Some(page) = self.pages.get(&key) {
            return Ok(page);
        }
        let _flight = self.pages.flight(&key).lock().await;
        if let Some(page) = self.pages.get(&key) {
            return Ok(page);
        }
        let generation = self.pages.generation();
        let page = self.read_threads(tenant_id, query).await?;
        self.pages.put(key, generation, page.clone());
        Ok(page)
    }

    async fn read_threads(
        &self,
        tenant_id: &str,
        query: &ThreadQuery,
    ) -> Result<ThreadPage, StoreError> {
        let kind = match query.filter {
            ThreadFilter::All => "all",
            ThreadFilter::Active => "active",
            ThreadFilter::Attention => "attention",
            ThreadFilter::Drafts => "drafts",
        };
        let search = query
            .q
            .as_deref()
            .and_then(|q| match_expression(self.engine, q));
        let mut params = Params::default();
        let tenant = params.push(Param::Text(tenant_id.to_string()));
        let mut conditions = Vec::new();
        match query.filter {
            ThreadFilter::All => {}
            ThreadFilter::Active => {
                let since = params.push(Param::Int(now_ms() - ACTIVE_WINDOW_MS));
                conditions.push(format!(
                    "t.status <> 'resolved' AND t.last_activity_at >= {since}"
                ));
            }
            ThreadFilter::Attention => conditions.push("t.needs_attention = 1".into()),
            ThreadFilter::Drafts => conditions.push("t.pending_drafts > 0".into()),
        }
        let attention = query.filter == ThreadFilter::Attention;
        if let Some(c) = &query.cursor {
            let (a, b, id) = if attention {
                cursor::decode::<AttentionKey>(kind, c)?
            } else {
                cursor::decode::<RecentKey>(kind, c)?
            };
            let (a, b, id) = (
                params.push(Param::Int(a)),
                params.push(Param::Int(b)),
                params.push(Param::Text(id)),
            );
            conditions.push(if attention {
                format!(
                    "(t.urgency_rank < {a} OR (t.urgency_rank = {a} AND \
                     (t.waiting_since > {b} OR (t.waiting_since = {b} AND t.id > {id}))))"
                )
            } else {
                format!(
                    "(t.pinned < {a} OR (t.pinned = {a} AND \
                     (t.last_activity_at < {b} OR (t.last_activity_at = {b} AND t.id < {id}))))"
                )
            });
        }
        let order = if attention {
            "t.urgency_rank DESC, t.waiting_since ASC, t.id ASC"
        } else {
            "t.pinned DESC, t.last_activity_at DESC, t.id DESC"
        };
        // SQLite matches messages by bucket, the newest first (`search.rs`): their own
        // expression, and the tenant's newest bucket
        let words = match self.engine {
            Engine::Sqlite => query
                .q
                .as_deref()
                .and_then(|q| bucketed_match(tenant_id, q)),
            Engine::Postgres => None,
        };
        // read first, for the tenant's newest bucket; the page's header counts come with it
        let totals = self.tenant_totals(tenant_id).await?;
        let words = words.map(|m| (m, search_bucket(totals.messages_ingested)));
        let search = search.map(|s| params.push(Param::Text(s)));
        let words = words.map(|(m, newest)| (params.push(Param::Text(m)), newest));
        let limit = params.push(Param::Int(query.limit + 1));
        let and_conditions: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
        let sql = match (&search, &words, self.engine) {
            // A search's few hundred candidates are looked up by id and sorted; SQLite would
            // otherwise walk the tenant's whole inbox in list order and probe each thread
            // against them (15 ms at 100k threads for a word nobody wrote). The unary `+`
            // keeps it off the tenant index.
            // The page is sorted out of the candidates before each of its rows is joined to
            // its contact and last message: joined first, all 500 were (0.3-0.45 ms more at
            // 1M messages for a frequent word).
            (Some(c), Some((m, newest)), Engine::Sqlite) => format!(
                "SELECT {} FROM (SELECT * FROM threads t \
                   WHERE +t.tenant_id = {tenant}{and_conditions} AND t.id IN ({}) \
                   ORDER BY {order} LIMIT {limit}) t \
                 JOIN contacts c ON c.id = t.contact_id \
                 LEFT JOIN messages lm ON lm.id = t.last_message_id \
                 ORDER BY {order}",
                rows::THREAD_COLUMNS,
                sqlite_candidate_threads(c, m, &tenant, *newest)
            ),
            // PostgreSQL is told the plan: each candidate's thread is fetched by id, the page
            // is sorted out of them, and only its rows are joined to their contact and last
            // message. Left to itself, the planner walked the view's index in order testing
            // every thread against the candidates (300 ms for a word in a third of the bench
            // inbox's messages), or read all threads and all contacts into hash joins. A
            // LATERAL sub-select with a LIMIT is not flattened into the outer query, so each
            // stays a lookup by id.
            (Some(m), _, Engine::Postgres) => format!(
                "SELECT {} FROM (SELECT t.* FROM ({}) hit(thread_id) \
                   CROSS JOIN LATERAL (SELECT * FROM threads t \
                     WHERE t.id = hit.thread_id AND t.tenant_id = {tenant} LIMIT 1) t \
                   WHERE true{and_conditions} ORDER BY {order} LIMIT {limit}) t \
                 CROSS JOIN LATERAL (SELECT * FROM contacts c WHERE c.id = t.contact_id LIMIT 1) c \
                 LEFT JOIN LATERAL (SELECT * FROM messages lm \
                   WHERE lm.id = t.last_message_id LIMIT 1) lm ON true \
                 ORDER BY {order}",
                rows::THREAD_COLUMNS,
                postgres_candidate_threads(m, &tenant)
            ),
            // no searchable term in the query: the list, unfiltered
            _ => format!(
                "{} WHERE t.tenant_id = {tenant}{and_conditions} ORDER BY {order} LIMIT {limit}",
                rows::THREAD_SELECT
            ),
        };
        // PostgreSQL's searches have connections of their own (`Store::searches`)
        let pool = match (&search, &self.searches) {
            (Some(_), Some(searches)) => searches,
            _ => &self.pool,
        };
        let found = params.bind_all(sqlx::query(&sql)).fetch_all(pool).await?;
        let more = found.len() as i64 > query.limit;
        let threads = found
            .iter()
            .take(query.limit as usize)
            .map(rows::thread)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = match (more, threads.last()) {
            (true, Some(last)) if attention => Some(cursor::encode(
                kind,
                &(
                    last.urgency.map_or(0, |u| u.rank()),
                    last.waiting_since.map_or(0, |w| w.timestamp_millis()),
                    last.id.clone(),
                ),
            )),
            (true, Some(last)) => Some(cursor::encode(
                kind,
                &(
                    i64::from(last.pinned),
                    last.last_activity_at.timestamp_millis(),
                    last.id.clone(),
                ),
            )),
            _ => None,
        };
        Ok(ThreadPage {
            threads,
            counts: totals.counts,
            next_cursor,
        })
    }

    pub async fn get_thread(&self, tenant_id: &str, id: &str) -> Result<Thread, StoreError> {
        let mut conn = self.pool.acquire().await?;
        fetch_thread(&mut conn, tenant_id, id).await
    }

    /// Marks the thread read: it leaves Attention until the next inbound message.
    pub async fn mark_read(&self, tenant_id: &str, id: &str) -> Result<Thread, StoreError> {
        self.update_thread(tenant_id, id, "needs_attention = 0")
            .await
    }

    pub async fn set_pinned(
        &self,
        tenant_id: &str,
        id: &str,
        pinned: bool,
    ) -> Result<Thread, StoreError> {
        let set = if pinned { "pinned = 1" } else { "pinned = 0" };
        self.update_thread(tenant_id, id, set).await
    }

    /// A blocked sender's messages are still stored but never raise Attention.
    pub async fn set_blocked(
        &self,
        tenant_id: &str,
        id: &str,
        blocked: bool,
    ) -> Result<Thread, StoreError> {
        let set = if blocked {
            "blocked = 1, needs_attention = 0"
        } else {
            "blocked = 0"
        };
        self.update_thread(tenant_id, id, set).await
    }

    pub async fn set_status(
        &self,
        tenant_id: &str,
        id: &str,
        status: ThreadStatus,
    ) -> Result<Thread, StoreError> {
        // `status` comes from a closed enum, never from user text.
        self.update_thread(tenant_id, id, &format!("status = '{}'", status.as_str()))
            .await
    }

    async fn update_thread(
        &self,
        tenant_id: &str,
        id: &str,
        set: &str,
    ) -> Result<Thread, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&format!(
            "UPDATE threads SET {set} WHERE id = $1 AND tenant_id = $2"
        ))
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("thread"));
        }
        let thread = fetch_thread(&mut tx, tenant_id, id).await?;
        tx.commit().await?;
        Ok(thread)
    }

    /// Names the thread's contact. When the given phone or email already belongs to another
    /// contact, that contact's thread absorbs this one: its messages, drafts and follow-ups move
    /// over, and the surviving thread is returned.
    ///
    /// On PostgreSQL an ingest batch may be writing to these threads meanwhile. The merge
    /// therefore locks the tenant's row (which every ingest batch updates first) and then the
    /// threads it touches, in id order: a batch that got in first has committed, and its
    /// messages move with the rest; one that comes later waits, finds the folded thread gone,
    /// and is retried on its own, when it finds the survivor. Should PostgreSQL still find a
    /// lock cycle with some other writer, it fails one side after a second; the merge then
    /// starts over here.
    pub async fn add_customer(
        &self,
        tenant_id: &str,
        thread_id: &str,
        customer: &NewCustomer,
    ) -> Result<Thread, StoreError> {
        let mut attempt = 1;
        loop {
            match self.add_customer_once(tenant_id, thread_id, customer).await {
                Err(e) if e.is_lock_conflict() && attempt < MERGE_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "merge lost a lock conflict, retrying");
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    async fn add_customer_once(
        &self,
        tenant_id: &str,
        thread_id: &str,
        customer: &NewCustomer,
    ) -> Result<Thread, StoreError> {
        let mut tx = self.begin_write().await?;
        let postgres = self.engine == Engine::Postgres;
        if postgres {
            // Not `FOR UPDATE`: that would also stop every insert of the tenant's (their
            // foreign-key checks take a key-share lock on this row) and deadlock with a reply
            // holding a thread this merge waits for. The advisory lock makes the classifier's
            // writes take turns with merges (`store_classifications`).
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext(id)) FROM tenants WHERE id = $1 \
                 FOR NO KEY UPDATE",
            )
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
        }
        let row = sqlx::query(
            "SELECT t.contact_id, c.phone, c.email FROM threads t \
             JOIN contacts c ON c.id = t.contact_id WHERE t.id = $1 AND t.tenant_id = $2",
        )
        .bind(thread_id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("thread"))?;
        let this_contact: String = row.try_get("contact_id")?;
        let mut phone: Option<String> = row.try_get("phone")?;
        let mut email: Option<String> = row.try_get("email")?;

        // Another contact already reachable at the new phone or email is the same person.
        let others = sqlx::query(
            "SELECT c.id AS contact_id, c.phone, c.email, c.is_customer, t.id AS thread_id \
             FROM contacts c JOIN threads t ON t.contact_id = c.id \
             WHERE c.tenant_id = $1 AND c.id <> $2 AND (c.phone = $3 OR c.email = $4) \
             ORDER BY c.is_customer DESC, c.seq",
        )
        .bind(tenant_id)
        .bind(&this_contact)
        .bind(&customer.phone)
        .bind(&customer.email)
        .fetch_all(&mut *tx)
        .await?;

        let mut survivor_thread = thread_id.to_string();
        let mut survivor_contact = this_contact.clone();
        if let Some(first) = others.first() {
            survivor_thread = first.try_get("thread_id")?;
            survivor_contact = first.try_get("contact_id")?;
        }
        for row in &others {
            phone = phone.or(row.try_get("phone")?);
            email = email.or(row.try_get("email")?);
        }
        phone = customer.phone.clone().or(phone);
        email = customer.email.clone().or(email);

        // Fold every other thread into the survivor, then free their handles.
        let mut absorbed: Vec<(String, String)> = vec![(thread_id.to_string(), this_contact)];
        for row in &others {
            absorbed.push((row.try_get("thread_id")?, row.try_get("contact_id")?));
        }
        if postgres {
            // in id order, one order for every writer that locks several
            let mut threads: Vec<&str> = absorbed.iter().map(|(t, _)| t.as_str()).collect();
            threads.push(&survivor_thread);
            threads.sort_unstable();
            threads.dedup();
            for thread in threads {
                sqlx::query("SELECT id FROM threads WHERE id = $1 FOR UPDATE")
                    .bind(thread)
                    .fetch_optional(&mut *tx)
                    .await?;
            }
        }
        for (thread, contact) in absorbed.iter().filter(|(t, _)| *t != survivor_thread) {
            merge_thread(&mut tx, tenant_id, thread, contact, &survivor_thread).await?;
        }

        sqlx::query(
            "UPDATE contacts SET is_customer = 1, name = $1, phone = $2, email = $3, \
             address = COALESCE($4, address), search_text = $5 WHERE id = $6",
        )
        .bind(&customer.name)
        .bind(&phone)
        .bind(&email)
        .bind(&customer.address)
        .bind(contact_search_text(
            Some(&customer.name),
            phone.as_deref(),
            email.as_deref(),
        ))
        .bind(&survivor_contact)
        .execute(&mut *tx)
        .await?;
        let thread = fetch_thread(&mut tx, tenant_id, &survivor_thread).await?;
        tx.commit().await?;
        Ok(thread)
    }
}

/// Moves everything of `from` into `into` and deletes `from` and its contact. The survivor's
/// list state is recomputed from the union of both histories.
async fn merge_thread(
    conn: &mut AnyConnection,
    tenant_id: &str,
    from: &str,
    from_contact: &str,
    into: &str,
) -> Result<(), StoreError> {
    for table in ["messages", "drafts", "follow_ups", "responses"] {
        sqlx::query(&format!(
            "UPDATE {table} SET thread_id = $1 WHERE thread_id = $2 AND tenant_id = $3"
        ))
        .bind(into)
        .bind(from)
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    }
    let row = sqlx::query(
        "SELECT needs_attention, waiting_since, pinned, urgency_rank, urgency, pending_drafts \
         FROM threads WHERE id = $1",
    )
    .bind(from)
    .fetch_one(&mut *conn)
    .await?;
    let needs_attention: i64 = row.try_get("needs_attention")?;
    let waiting_since: Option<i64> = row.try_get("waiting_since")?;
    let pinned: i64 = row.try_get("pinned")?;
    let urgency_rank: i64 = row.try_get("urgency_rank")?;
    let urgency: Option<String> = row.try_get("urgency")?;
    let pending: i64 = row.try_get("pending_drafts")?;
    sqlx::query("DELETE FROM threads WHERE id = $1")
        .bind(from)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(from_contact)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE tenants SET thread_count = thread_count - 1 WHERE id = $1")
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    let last = sqlx::query(
        "SELECT id, created_at FROM messages WHERE thread_id = $1 \
         ORDER BY created_at DESC, seq DESC LIMIT 1",
    )
    .bind(into)
    .fetch_optional(&mut *conn)
    .await?;
    let (last_id, last_at): (Option<String>, Option<i64>) = match last {
        Some(row) => (Some(row.try_get("id")?), Some(row.try_get("created_at")?)),
        None => (None, None),
    };
    sqlx::query(
        "UPDATE threads SET \
           needs_attention = CASE WHEN $1 = 1 THEN 1 ELSE needs_attention END, \
           waiting_since = CASE WHEN waiting_since IS NULL OR ($2 IS NOT NULL AND $2 < waiting_since) \
                                THEN COALESCE($2, waiting_since) ELSE waiting_since END, \
           pinned = CASE WHEN $3 = 1 THEN 1 ELSE pinned END, \
           urgency = CASE WHEN $4 > urgency_rank THEN $5 ELSE urgency END, \
           urgency_rank = CASE WHEN $4 > urgency_rank THEN $4 ELSE urgency_rank END, \
           pending_drafts = pending_drafts + $6, \
           last_message_id = COALESCE($7, last_message_id), \
           last_activity_at = COALESCE($8, last_activity_at) \
         WHERE id = $9",
    )
    .bind(needs_attention)
    .bind(waiting_since)
    .bind(pinned)
    .bind(urgency_rank)
    .bind(urgency)
    .bind(pending)
    .bind(last_id)
    .bind(last_at)
    .bind(into)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn fetch_thread(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Thread, StoreError> {
    let sql = format!(
        "{} WHERE t.id = $1 AND t.tenant_id = $2",
        rows::THREAD_SELECT
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("thread"))?;
    rows::thread(&row)
}

impl Store {
    /// The street address the business recorded for the thread's customer, if any.
    pub async fn contact_address(
        &self,
        tenant_id: &str,
        thread_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT c.address FROM threads t JOIN contacts c ON c.id = t.contact_id \
             WHERE t.id = $1 AND t.tenant_id = $2",
        )
        .bind(thread_id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("thread"))?;
        Ok(row.try_get("address")?)
    }
}
