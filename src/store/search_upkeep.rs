//! Keeps SQLite's search indexes in few segments, in the background.
//!
//! FTS5 writes each commit's words as a new segment of the index, and merges segments only
//! when four have piled up on one level, a little more work inside every commit. A search
//! looks a word up in every segment, once per bucket it walks (`search.rs`): at 1M messages
//! the index the ingest path left had 17 segments, and merged it answered the searches of the
//! load run in half the time (BENCHMARKS.md, session 27). So a task merges them, a small step
//! at a time on the write connection, while there is merging to do: segments are merged as
//! soon as two share a level (the `search_merges` migration), each word rewritten a
//! logarithmic number of times, as FTS5's own merges do. A step holds the write lock for a few
//! milliseconds; a batch of ingests queued behind it waits that long at most, as the lock
//! serves its waiters in turn.
//! A step changes nothing an inbox page shows, so the cached pages stay current through it.

use std::time::Duration;

use super::{Engine, Store, StoreError};

/// Pages of segments one step merges at most, per index: ~10 ms of the writer's time.
const STEP_PAGES: i64 = 128;

/// Pause between steps while there is merging to do: the merges take at most about a tenth
/// of the writer's time.
const BETWEEN_STEPS: Duration = Duration::from_millis(100);

/// How often a store at rest is looked at again for something new to merge.
const AT_REST: Duration = Duration::from_secs(2);

impl Store {
    /// One step of merging the search indexes' segments; whether it found anything to merge.
    /// Nothing to do on PostgreSQL, whose GIN index merges its own pending entries.
    pub(crate) async fn merge_search_segments(&self) -> Result<bool, StoreError> {
        if self.engine != Engine::Sqlite {
            return Ok(false);
        }
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

    /// Starts the task that keeps the search indexes merged, on SQLite; it runs until the
    /// store closes.
    pub fn start_search_upkeep(&self) {
        if self.engine != Engine::Sqlite {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            // the write generation at which a step last found nothing to merge
            let mut merged_at = None;
            loop {
                if store.is_closed() {
                    return;
                }
                let generation = store.pages.generation();
                if merged_at == Some(generation) {
                    tokio::time::sleep(AT_REST).await;
                    continue;
                }
                match store.merge_search_segments().await {
                    Ok(true) => tokio::time::sleep(BETWEEN_STEPS).await,
                    // the steps leave it alone: only a write of something else moves it on
                    Ok(false) => merged_at = Some(generation),
                    Err(e) => {
                        if store.is_closed() {
                            return;
                        }
                        tracing::warn!(error = %e, "merging the search indexes failed; retrying later");
                        tokio::time::sleep(AT_REST).await;
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
