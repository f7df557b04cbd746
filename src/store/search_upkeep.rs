//! Keeps the search indexes compact, in the background.
//!
//! SQLite: FTS5 writes each commit's words as a new segment of the index, and merges segments
//! only when four have piled up on one level, a little more work inside every commit. A
//! search looks a word up in every segment, once per bucket it walks (`search.rs`): at 1M
//! messages the index the ingest path left had 17 segments, and merged it answered the
//! searches of the load run in half the time (BENCHMARKS.md, session 27). So a task merges
//! them, a small step at a time on the write connection, while there is merging to do:
//! segments are merged as soon as two share a level (the `search_merges` migration), each word
//! rewritten a logarithmic number of times, as FTS5's own merges do. A step holds the write
//! lock for a few milliseconds; a batch of ingests queued behind it waits that long at most, as
//! the lock serves its waiters in turn.
//!
//! PostgreSQL: a new message's words go to its GIN index's pending list, a cheap append, and
//! the task folds that list into the index, in bulk and on a connection of its own, within a
//! fraction of a second (the `gin_pending_lists` migration). Put straight into the index by
//! the ingest writer, they held 32 concurrent ingests to 5.0-5.3k msg/s, against 5.7-6.2k
//! (BENCHMARKS.md, session 29).
//!
//! A step changes nothing an inbox page shows, so the cached pages stay current through it.

use std::time::Duration;

use super::{Engine, Store, StoreError};

/// Pages of segments one step merges at most, per index: ~10 ms of the writer's time.
const STEP_PAGES: i64 = 128;

/// How often the task steps, per engine.
struct Pace {
    /// Pause between steps while there is work to do.
    between_steps: Duration,
    /// How often a store at rest is looked at again for something new to do; looking costs
    /// nothing until a write has happened.
    at_rest: Duration,
}

/// SQLite's merges take at most about a tenth of the writer's time.
const SQLITE_PACE: Pace = Pace {
    between_steps: Duration::from_millis(100),
    at_rest: Duration::from_secs(2),
};

/// PostgreSQL's pending lists stay short: every search reads the whole list, once per bucket
/// of messages it walks, and 4 MB of it cost each search 3-4 ms (migration
/// `gin_without_pending_list`). At 32 concurrent ingests (~5,000 messages a second) the
/// messages index held 2-15 pages of them when looked at, up to ~450 messages.
const POSTGRES_PACE: Pace = Pace {
    between_steps: Duration::from_millis(100),
    at_rest: Duration::from_millis(100),
};

impl Store {
    /// One step of upkeep of the search indexes; whether it found anything to do.
    async fn search_upkeep_step(&self) -> Result<bool, StoreError> {
        match self.engine {
            Engine::Sqlite => self.merge_search_segments().await,
            Engine::Postgres => self.fold_pending_search_entries().await,
        }
    }

    /// PostgreSQL: folds the GIN indexes' pending lists into the indexes; whether they held
    /// anything. The server counts the pending pages it emptied.
    async fn fold_pending_search_entries(&self) -> Result<bool, StoreError> {
        let emptied: i64 = sqlx::query_scalar(
            "SELECT gin_clean_pending_list('messages_search'::regclass) \
               + gin_clean_pending_list('contacts_search'::regclass)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(emptied > 0)
    }

    /// SQLite: one step of merging the search indexes' segments; whether it found anything to
    /// merge.
    async fn merge_search_segments(&self) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.shows_no_change();
        // `total_changes()` counts the rows a merge rewrites in the index's own tables; the
        // two commands count one each when they find nothing to do.
        let changes: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT total_changes(); \
             INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', {STEP_PAGES}); \
             INSERT INTO contacts_fts (contacts_fts, rank) VALUES ('merge', {STEP_PAGES}); \
             SELECT total_changes();"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match changes[..] {
            [before, after] => after - before > 2,
            _ => false,
        })
    }

    /// Starts the task that keeps the search indexes compact; it runs until the store closes.
    pub fn start_search_upkeep(&self) {
        let pace = match self.engine {
            Engine::Sqlite => SQLITE_PACE,
            Engine::Postgres => POSTGRES_PACE,
        };
        let store = self.clone();
        tokio::spawn(async move {
            // the write generation at which a step last found nothing to do
            let mut merged_at = None;
            loop {
                if store.is_closed() {
                    return;
                }
                let generation = store.pages.generation();
                if merged_at == Some(generation) {
                    tokio::time::sleep(pace.at_rest).await;
                    continue;
                }
                match store.search_upkeep_step().await {
                    Ok(true) => tokio::time::sleep(pace.between_steps).await,
                    // the steps leave it alone: only a write of something else moves it on
                    Ok(false) => merged_at = Some(generation),
                    Err(e) => {
                        if store.is_closed() {
                            return;
                        }
                        tracing::warn!(error = %e, "search index upkeep failed; retrying later");
                        tokio::time::sleep(pace.at_rest).await;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::on_a_new_store;
    use super::super::{InboundMessage, IngestQueue, Role, ThreadFilter, ThreadQuery};
    use crate::contact::Handle;
    use crate::domain::Channel;

    /// Messages stored one commit each leave the index in many segments; the upkeep merges
    /// them, and every message is found as before.
    #[test]
    fn merging_leaves_fewer_segments_and_finds_every_message() {
        on_a_new_store(|store| async move {
            let key = store.create_key("Acme", Role::Agent).await.unwrap();
            let tenant = store.authenticate(&key).await.unwrap().unwrap().tenant_id;
            let queue = IngestQueue::start(store.clone());
            // one at a time, so each is a commit and a segment of its own
            for i in 0..40 {
                let message = InboundMessage {
                    channel: Channel::Sms,
                    from: Handle::parse(&format!("+1512555{i:04}")).unwrap(),
                    body: format!("furnace code{i} is blinking"),
                    external_id: None,
                    received_at: None,
                    name: None,
                    source: None,
                };
                queue.ingest(&tenant, message).await.unwrap();
            }
            let segments = || async {
                sqlx::query_scalar::<_, i64>("SELECT count(DISTINCT segid) FROM messages_fts_idx")
                    .fetch_one(&store.pool)
                    .await
                    .unwrap()
            };
            let before = segments().await;
            let mut steps = 0;
            while store.merge_search_segments().await.unwrap() {
                steps += 1;
                assert!(steps < 100, "merging never finished");
            }
            let after = segments().await;
            assert!(
                steps > 0 && after < before,
                "{before} segments, then {after}"
            );
            for i in [0, 17, 39] {
                let page = store
                    .list_threads(
                        &tenant,
                        &ThreadQuery {
                            filter: ThreadFilter::All,
                            q: Some(format!("code{i} blink")),
                            limit: 50,
                            cursor: None,
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(page.threads.len(), 1, "code{i}");
            }
        });
    }
}
