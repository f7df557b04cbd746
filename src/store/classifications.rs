//! Triage results: the queue of messages waiting for the classifier, and storing what it
//! concluded, each thread's urgency, tags and language refreshed with it.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::Row;

use super::messages::{refresh_thread_triage, refresh_threads_triage, Classified};
use super::{now_ms, placeholders, Engine, Store, StoreError, WriteTx};
use crate::domain::Channel;

/// A message's id and what triage concluded about it.
type Outcome = (String, Classified);

impl Store {
    /// Inbound messages still waiting for triage, oldest first: the durable classification
    /// queue. Returns (message id, tenant id, body, channel).
    pub async fn unclassified(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, String, Channel)>, StoreError> {
        // PostgreSQL keeps its queue in a table of its own (migration `triage_queue`), and
        // each message is fetched by its key. Joined plainly, the planner merged the queue
        // with the whole `messages` index from its first row: the queue holds the newest
        // messages, so that read every older one first (19 ms a batch at 50k messages, while
        // the queue's statistics said it was empty).
        let sql = match self.engine {
            Engine::Sqlite => {
                "SELECT id, tenant_id, body, channel FROM messages \
                 WHERE classified_at IS NULL AND direction = 'inbound' ORDER BY seq LIMIT $1"
            }
            Engine::Postgres => {
                "SELECT m.id, m.tenant_id, m.body, m.channel \
                 FROM (SELECT seq FROM messages_to_classify ORDER BY seq LIMIT $1) q \
                 CROSS JOIN LATERAL (SELECT id, tenant_id, body, channel FROM messages \
                   WHERE seq = q.seq LIMIT 1) m \
                 ORDER BY q.seq"
            }
        };
        let found = sqlx::query(sql).bind(limit).fetch_all(&self.pool).await?;
        found
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("id")?,
                    row.try_get("tenant_id")?,
                    row.try_get("body")?,
                    row.try_get::<String, _>("channel")?.parse()?,
                ))
            })
            .collect()
    }

    /// Stores a triage result and recomputes the thread's urgency, tags and language from its
    /// unanswered inbound messages.
    pub async fn store_classification(
        &self,
        message_id: &str,
        result: &Classified,
    ) -> Result<(), StoreError> {
        self.store_classifications(&[(message_id.to_string(), result.clone())])
            .await
    }

    /// Stores triage results, refreshing each thread once; a result for a message no longer
    /// stored is dropped. On SQLite, whose writers take turns anyway, up to
    /// `CLASSIFIED_PER_WRITE` at once.
    ///
    /// On PostgreSQL, in rounds, each a transaction that waits for no row lock
    /// ([`Store::store_unheld_classifications`]); then whatever another transaction held,
    /// one thread at a time, waiting for it ([`Store::store_classifications_by_thread`]).
    ///
    /// A round takes one message of each page of `messages`. A message's classified version
    /// stays on its page (HOT, no new index entries) only where there is room, and the room
    /// taken by the versions it replaces comes back once their transaction has committed.
    /// Neighbours updated in one transaction ran out of it: 64 at a time, half of them went
    /// to other pages with a new entry in every index of `messages`, the search index
    /// included (BENCHMARKS.md, session 29).
    pub async fn store_classifications(
        &self,
        results: &[(String, Classified)],
    ) -> Result<(), StoreError> {
        if self.engine == Engine::Sqlite {
            for chunk in results.chunks(CLASSIFIED_PER_WRITE) {
                self.store_classifications_at_once(chunk).await?;
            }
            return Ok(());
        }
        let mut held = Vec::new();
        for round in self.rounds_by_page(results).await? {
            held.extend(self.store_unheld_classifications(&round).await?);
        }
        self.store_classifications_by_thread(&held).await
    }

    /// PostgreSQL: `results` in rounds that hold at most one message of each page; a message
    /// not found goes in no round.
    async fn rounds_by_page<'a>(
        &self,
        results: &'a [Outcome],
    ) -> Result<Vec<Vec<&'a Outcome>>, StoreError> {
        let ids = ids_json(&results.iter().collect::<Vec<_>>())?;
        let found = sqlx::query(
            "SELECT id, (ctid::text::point)[0]::bigint AS page FROM messages \
             WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut pages: HashMap<String, i64> = HashMap::with_capacity(found.len());
        for row in &found {
            pages.insert(row.try_get("id")?, row.try_get("page")?);
        }
        let mut taken: HashMap<i64, usize> = HashMap::new();
        let mut rounds: Vec<Vec<&Outcome>> = Vec::new();
        for result in results {
            let Some(page) = pages.get(&result.0) else {
                continue;
            };
            let round = taken.entry(*page).or_insert(0);
            if rounds.len() <= *round {
                rounds.push(Vec::new());
            }
            rounds[*round].push(result);
            *round += 1;
        }
        Ok(rounds)
    }

    /// PostgreSQL: stores, in one transaction, the results whose message and thread no other
    /// transaction holds, and returns the others.
    ///
    /// The transaction holds every thread of the round at once, which is safe because it
    /// never waits for a row: it skips whatever another transaction holds (`SKIP LOCKED`),
    /// so it can never close a cycle with an ingest batch or a reply, whatever order they
    /// lock in.
    async fn store_unheld_classifications<'a>(
        &self,
        results: &[&'a Outcome],
    ) -> Result<Vec<&'a Outcome>, StoreError> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids_json(results)?;
        let mut tx = self.begin_write().await?;
        take_turns_with_merges(&mut tx, &ids).await?;
        // The row locks come in a statement before the update, as in the per-thread path:
        // the update's own snapshot then holds every correction committed before them.
        let held = sqlx::query(
            "WITH held_messages AS ( \
               SELECT id, thread_id FROM messages \
               WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) \
               ORDER BY id FOR UPDATE SKIP LOCKED \
             ), held_threads AS ( \
               SELECT id FROM threads \
               WHERE id = ANY (ARRAY(SELECT thread_id FROM held_messages)) \
               ORDER BY id FOR NO KEY UPDATE SKIP LOCKED \
             ) \
             SELECT m.id, m.thread_id FROM held_messages m \
             JOIN held_threads t ON t.id = m.thread_id",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut stored: HashSet<String> = HashSet::with_capacity(held.len());
        let mut threads: Vec<String> = Vec::with_capacity(held.len());
        for row in &held {
            stored.insert(row.try_get("id")?);
            threads.push(row.try_get("thread_id")?);
        }
        threads.sort_unstable();
        threads.dedup();
        let (storing, left): (Vec<&Outcome>, Vec<&Outcome>) = results
            .iter()
            .partition(|result| stored.contains(result.0.as_str()));
        if !storing.is_empty() {
            store_labels(&mut tx, &storing).await?;
            refresh_threads_triage(&mut tx, &threads).await?;
        }
        tx.commit().await?;
        Ok(left)
    }

    /// PostgreSQL: one transaction per thread, each waiting for the rows it needs. It holds
    /// one thread's lock (two only if a merge moved a message meanwhile), so it cannot
    /// deadlock against an ingest batch, which locks its threads in arrival order.
    async fn store_classifications_by_thread(
        &self,
        results: &[&Outcome],
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let ids = ids_json(results)?;
        let found = sqlx::query(
            "SELECT id, thread_id FROM messages \
             WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut thread_of: HashMap<String, String> = HashMap::with_capacity(found.len());
        for row in &found {
            thread_of.insert(row.try_get("id")?, row.try_get("thread_id")?);
        }
        let mut by_thread: Vec<(&str, Vec<&Outcome>)> = Vec::new();
        for &item in results {
            // a message no longer stored has nothing to label
            let Some(thread_id) = thread_of.get(&item.0) else {
                continue;
            };
            match by_thread.iter_mut().find(|(t, _)| t == thread_id) {
                Some((_, items)) => items.push(item),
                None => by_thread.push((thread_id, vec![item])),
            }
        }
        for (_, items) in by_thread {
            let ids = ids_json(&items)?;
            let mut tx = self.begin_write().await?;
            take_turns_with_merges(&mut tx, &ids).await?;
            // The row locks come first, in their own statement: an UPDATE that had to wait for
            // a correction's transaction would otherwise evaluate its correction subqueries in
            // the snapshot from before that commit, and overwrite the correction. Their
            // threads are read after the locks: a merge may have moved a message since.
            let threads: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT thread_id FROM (SELECT thread_id FROM messages \
                   WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) \
                   ORDER BY id FOR UPDATE) AS held",
            )
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
            store_labels(&mut tx, &items).await?;
            for thread_id in &threads {
                refresh_thread_triage(&mut tx, thread_id).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Triage results one SQLite transaction stores; its statements bind five values per result.
const CLASSIFIED_PER_WRITE: usize = 256;

impl Store {
    /// SQLite: the results and their threads' summaries in one transaction of four statements.
    /// A SQLite transaction locks the whole database, so one per thread (as PostgreSQL's row
    /// locks want) made the classifier take the write lock for every message it stored, each
    /// time for six round trips to SQLite's thread, while the ingest writer waited its turn.
    async fn store_classifications_at_once(
        &self,
        results: &[(String, Classified)],
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        // An operator's correction made before the classifier got here still wins.
        let sql = format!(
            "UPDATE messages SET \
               tags = COALESCE((SELECT c.tags FROM label_corrections c \
                                WHERE c.message_id = messages.id), v.tags), \
               urgency = COALESCE((SELECT c.urgency FROM label_corrections c \
                                   WHERE c.message_id = messages.id), v.urgency), \
               language = v.language, language_confidence = v.confidence, classified_at = $1 \
             FROM (SELECT column1 AS id, column2 AS tags, column3 AS urgency, \
                     column4 AS language, column5 AS confidence FROM (VALUES {}) AS r) AS v \
             WHERE messages.id = v.id",
            placeholders::rows(2, results.len(), 5)
        );
        let mut query = sqlx::query(&sql).persistent(false).bind(now_ms());
        for (message_id, result) in results {
            query = query
                .bind(message_id)
                .bind(serde_json::to_string(&result.tags)?)
                .bind(result.urgency.as_str())
                .bind(&result.language)
                .bind(f64::from(result.language_confidence.unwrap_or(0.0)));
        }
        query.execute(&mut *tx).await?;

        let sql = format!(
            "SELECT DISTINCT thread_id FROM messages WHERE id IN ({})",
            placeholders::list(1, results.len())
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for (message_id, _) in results {
            query = query.bind(message_id);
        }
        let threads = query
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>("thread_id"))
            .collect::<Result<Vec<_>, _>>()?;
        refresh_threads_triage(&mut tx, &threads).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Opens a classifier's transaction on PostgreSQL: takes the advisory locks of the tenants of
/// `message_ids` (a JSON list), and commits without waiting for the WAL flush.
///
/// A merge (`add_customer`) locks threads, then their messages; the classifier locks messages
/// before their thread, so the two could deadlock. The tenant's advisory lock, which a merge
/// holds exclusively, makes them take turns without holding up anything else.
///
/// A classification acknowledges nothing to anyone, and is worked out again from its message:
/// a crash that loses the commit leaves the message in the triage queue, classified again on
/// the next start. Asynchronous, the commit is still lost whole or not at all, and it no
/// longer queues for the disk with the ingest writer's, which acknowledge messages.
async fn take_turns_with_merges(tx: &mut WriteTx, message_ids: &str) -> Result<(), StoreError> {
    // The lock is taken in the condition, which is evaluated for every tenant.
    sqlx::query(
        "SELECT set_config('synchronous_commit', 'off', true), \
           (SELECT count(*) FROM (SELECT DISTINCT hashtext(tenant_id) AS h FROM messages \
              WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))) AS tenants \
            WHERE pg_advisory_xact_lock_shared(h) IS NOT NULL)",
    )
    .bind(message_ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The ids of `results`, as the JSON list PostgreSQL's statements here read.
fn ids_json(results: &[&Outcome]) -> Result<String, StoreError> {
    let ids: Vec<&str> = results.iter().map(|(id, _)| id.as_str()).collect();
    Ok(serde_json::to_string(&ids)?)
}

/// PostgreSQL: writes the results onto their messages, which the transaction holds. An
/// operator's correction made before the classifier got here still wins.
async fn store_labels(tx: &mut WriteTx, results: &[&Outcome]) -> Result<(), StoreError> {
    let rows = results
        .iter()
        .map(|(id, c)| ClassifiedRow::new(id, c))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(
        "UPDATE messages SET \
           tags = COALESCE((SELECT c.tags FROM label_corrections c \
                            WHERE c.message_id = messages.id), v.tags), \
           urgency = COALESCE((SELECT c.urgency FROM label_corrections c \
                               WHERE c.message_id = messages.id), v.urgency), \
           language = v.language, language_confidence = v.confidence, classified_at = $2 \
         FROM jsonb_to_recordset($1::jsonb) AS v(id text, tags text, urgency text, \
           language text, confidence float8) \
         WHERE messages.id = v.id \
           AND messages.id = ANY (ARRAY(SELECT id FROM jsonb_to_recordset($1::jsonb) \
             AS w(id text)))",
    )
    .bind(serde_json::to_string(&rows)?)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One result as PostgreSQL's update reads it from JSON.
#[derive(Serialize)]
struct ClassifiedRow<'a> {
    id: &'a str,
    /// The scored tags as stored: JSON text.
    tags: String,
    urgency: &'static str,
    language: Option<&'a str>,
    /// 0 for none, as the per-thread path stores it: read back, a NULL would mean certainty.
    confidence: f32,
}

impl<'a> ClassifiedRow<'a> {
    fn new(id: &'a str, c: &'a Classified) -> Result<Self, StoreError> {
        Ok(ClassifiedRow {
            id,
            tags: serde_json::to_string(&c.tags)?,
            urgency: c.urgency.as_str(),
            language: c.language.as_deref(),
            confidence: c.language_confidence.unwrap_or(0.0),
        })
    }
}
