//! Triage of stored messages: drains the durable queue (inbound messages not yet classified),
//! classifies in batches off the async runtime, and stores each result with its thread's
//! new urgency. A crash loses nothing: unclassified rows simply wait for the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::store::{Classified, Store, StoreError};
use crate::triage::{Classification, Triage};

/// Messages classified per round trip to the store.
const BATCH: i64 = 64;

/// The stored form of a classification.
pub fn to_stored(c: &Classification) -> Classified {
    Classified {
        tags: c.tags.clone(),
        urgency: c.urgency.level,
        language: c.language.as_ref().map(|l| l.code.clone()),
    }
}

/// Classifies every pending message once; returns how many were done.
pub async fn drain_once(store: &Store, triage: &Arc<Triage>) -> Result<usize, StoreError> {
    let mut done = 0;
    loop {
        let pending = store.unclassified(BATCH).await?;
        if pending.is_empty() {
            return Ok(done);
        }
        let triage = Arc::clone(triage);
        let texts: Vec<(String, crate::domain::Channel)> = pending
            .iter()
            .map(|(_, _, body, channel)| (body.clone(), *channel))
            .collect();
        // Classification is CPU work: keep it off the threads that serve HTTP.
        let results = tokio::task::spawn_blocking(move || {
            let items: Vec<(&str, Option<crate::domain::Channel>)> =
                texts.iter().map(|(t, c)| (t.as_str(), Some(*c))).collect();
            triage.classify_batch(&items)
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("triage task failed: {e}")))?;
        let stored: Vec<(String, Classified)> = pending
            .iter()
            .zip(&results)
            .map(|((id, _, _, _), c)| (id.clone(), to_stored(c)))
            .collect();
        store.store_classifications(&stored).await?;
        done += stored.len();
        metrics::counter!("parley_messages_triaged_total").increment(stored.len() as u64);
    }
}

/// Runs until the process ends: wakes on `wakeup` (a new message) or every `every`.
pub fn start_worker(store: Store, triage: Arc<Triage>, wakeup: Arc<Notify>, every: Duration) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = drain_once(&store, &triage).await {
                tracing::error!(error = %e, "triage round failed; retrying");
            }
            tokio::select! {
                _ = wakeup.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
}
