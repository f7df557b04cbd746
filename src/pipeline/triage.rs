//! Triage of stored messages: drains the durable queue (inbound messages not yet classified),
//! classifies in batches off the async runtime, and stores each result with its thread's
//! new urgency. A crash loses nothing: unclassified rows simply wait for the next start.
//!
//! Each tenant is classified by the shipped model retrained with that tenant's own taxonomy
//! and label corrections, so one business's "this is not a complaint" never changes another's
//! inbox.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use crate::domain::Channel;
use crate::store::{Classified, CorrectedMessage, IngestLoad, Store, StoreError};
use crate::triage::data::LabelledMessage;
use crate::triage::{Classification, Taxonomy, Triage, TriageError};

/// Messages classified per round trip to the store.
const BATCH: i64 = 64;

#[derive(Debug, thiserror::Error)]
pub enum RelearnError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Triage(#[from] TriageError),
    #[error("retraining task failed: {0}")]
    Task(String),
}

/// The classifier each tenant sees.
pub struct TenantTriage {
    base: Arc<Triage>,
    tuned: RwLock<HashMap<String, Arc<Triage>>>,
    /// Tenants with a retrain already waiting: a burst of corrections retrains once.
    queued: Mutex<HashSet<String>>,
    /// One retrain at a time: it is CPU work on a small machine.
    training: tokio::sync::Mutex<()>,
}

impl TenantTriage {
    pub fn new(base: Arc<Triage>) -> Self {
        TenantTriage {
            base,
            tuned: RwLock::new(HashMap::new()),
            queued: Mutex::new(HashSet::new()),
            training: tokio::sync::Mutex::new(()),
        }
    }

    /// The shipped classifier, shared by every tenant without corrections.
    pub fn base(&self) -> &Arc<Triage> {
        &self.base
    }

    pub fn for_tenant(&self, tenant_id: &str) -> Arc<Triage> {
        self.tuned
            .read()
            .ok()
            .and_then(|m| m.get(tenant_id).cloned())
            .unwrap_or_else(|| Arc::clone(&self.base))
    }

    /// Retrains the tenant's classifier on its taxonomy and current corrections and swaps it in.
    pub async fn relearn(&self, store: &Store, tenant_id: &str) -> Result<(), RelearnError> {
        {
            let Ok(mut queued) = self.queued.lock() else {
                return Err(RelearnError::Task("retrain queue poisoned".into()));
            };
            if !queued.insert(tenant_id.to_string()) {
                return Ok(());
            }
        }
        let _one_at_a_time = self.training.lock().await;
        if let Ok(mut queued) = self.queued.lock() {
            queued.remove(tenant_id);
        }
        // Read after taking the queue slot, so every correction stored so far is included.
        let taxonomy = store.taxonomy(tenant_id).await?;
        let tuned = self.train(store, tenant_id, taxonomy).await?;
        self.swap_in(tenant_id, tuned);
        Ok(())
    }

    /// Trains the tenant's classifier with `taxonomy` first and stores the taxonomy only when
    /// that worked, so a taxonomy that cannot be trained is refused and the old one stays live.
    pub async fn set_taxonomy(
        &self,
        store: &Store,
        tenant_id: &str,
        taxonomy: Taxonomy,
    ) -> Result<(), RelearnError> {
        let _one_at_a_time = self.training.lock().await;
        let tuned = self.train(store, tenant_id, Some(taxonomy.clone())).await?;
        store.set_taxonomy(tenant_id, &taxonomy).await?;
        self.swap_in(tenant_id, tuned);
        Ok(())
    }

    async fn train(
        &self,
        store: &Store,
        tenant_id: &str,
        taxonomy: Option<Taxonomy>,
    ) -> Result<Triage, RelearnError> {
        let corrections = store.corrections(tenant_id).await?;
        let examples: Vec<LabelledMessage> = corrections.iter().map(as_example).collect();
        let base = Arc::clone(&self.base);
        let tuned =
            tokio::task::spawn_blocking(move || base.for_business(taxonomy.as_ref(), &examples))
                .await
                .map_err(|e| RelearnError::Task(e.to_string()))??;
        Ok(tuned)
    }

    fn swap_in(&self, tenant_id: &str, tuned: Triage) {
        if let Ok(mut map) = self.tuned.write() {
            map.insert(tenant_id.to_string(), Arc::new(tuned));
        }
        metrics::counter!("parley_triage_retrains_total").increment(1);
    }

    /// Rebuilds every tenant's classifier from the stored taxonomies and corrections (at
    /// start-up).
    pub async fn relearn_all(&self, store: &Store) -> Result<usize, RelearnError> {
        let mut tenants = store.tenants_with_corrections().await?;
        for t in store.tenants_with_taxonomy().await? {
            if !tenants.contains(&t) {
                tenants.push(t);
            }
        }
        for tenant in &tenants {
            self.relearn(store, tenant).await?;
        }
        Ok(tenants.len())
    }
}

/// A correction as a training example: only what the operator said counts as a label.
fn as_example(c: &CorrectedMessage) -> LabelledMessage {
    LabelledMessage {
        id: c.message_id.clone(),
        channel: Some(c.channel),
        text: c.text.clone(),
        tags: c.tags_corrected.then(|| c.tags.clone()),
        urgency: if c.urgency_corrected { c.urgency } else { None },
        language: c.language.clone(),
    }
}

/// The stored form of a classification.
pub fn to_stored(c: &Classification) -> Classified {
    Classified {
        tags: c.tags.clone(),
        urgency: c.urgency.level,
        language: c.language.as_ref().map(|l| l.code.clone()),
        language_confidence: c.language.as_ref().map(|l| l.confidence),
    }
}

/// Classifies every pending message once; returns how many were done.
pub async fn drain_once(store: &Store, triage: &TenantTriage) -> Result<usize, StoreError> {
    drain(store, triage, None).await
}

/// While the ingest writer is behind, the classifier's writes take at most one part in
/// `GIVE_WAY_FACTOR + 1` of the time: after storing a batch for `t`, it waits up to
/// `GIVE_WAY_FACTOR * t` before storing the next.
const GIVE_WAY_FACTOR: u32 = 9;

/// Longest a batch of results waits for a busy ingest writer before it is stored anyway.
const GIVE_WAY_AT_MOST: Duration = Duration::from_secs(1);

/// How often a waiting batch looks at the writer again.
const GIVE_WAY_STEP: Duration = Duration::from_millis(10);

/// Waits while the ingest writer is behind, up to `up_to` (at most [`GIVE_WAY_AT_MOST`]).
///
/// Storing results is the classifier's one cost that the ingest writer feels: its statements
/// run on the same database as the writer's, and on SQLite they queue for the same lock.
/// Ingests are callers waiting for an acknowledgement; triage can catch up once they are
/// answered. At 32 concurrent ingests on PostgreSQL, a classifier storing as fast as it could
/// took a third of their rate (BENCHMARKS.md, session 29). The wait follows what storing
/// costs: on PostgreSQL a batch is a transaction per thread, on SQLite one for the batch.
async fn give_way(load: &IngestLoad, up_to: Duration) {
    let started = tokio::time::Instant::now();
    let up_to = up_to.min(GIVE_WAY_AT_MOST);
    while load.is_behind() && started.elapsed() < up_to {
        tokio::time::sleep(GIVE_WAY_STEP).await;
    }
}

/// [`drain_once`], storing each batch only after giving way to a busy ingest writer.
async fn drain(
    store: &Store,
    triage: &TenantTriage,
    ingest: Option<&IngestLoad>,
) -> Result<usize, StoreError> {
    let mut done = 0;
    // how long the last batch took to store
    let mut storing = Duration::ZERO;
    loop {
        let pending = store.unclassified(BATCH).await?;
        if pending.is_empty() {
            return Ok(done);
        }
        let mut by_tenant: HashMap<&str, Vec<&(String, String, String, Channel)>> = HashMap::new();
        for p in &pending {
            by_tenant.entry(p.1.as_str()).or_default().push(p);
        }
        let mut stored: Vec<(String, Classified)> = Vec::with_capacity(pending.len());
        for (tenant, items) in by_tenant {
            let model = triage.for_tenant(tenant);
            let texts: Vec<(String, Channel)> = items
                .iter()
                .map(|(_, _, body, ch)| (body.clone(), *ch))
                .collect();
            let results = classify_aside(model, texts).await?;
            stored.extend(
                items
                    .iter()
                    .zip(&results)
                    .map(|((id, _, _, _), c)| (id.clone(), to_stored(c))),
            );
        }
        if let Some(load) = ingest {
            give_way(load, storing * GIVE_WAY_FACTOR).await;
        }
        let started = tokio::time::Instant::now();
        store.store_classifications(&stored).await?;
        storing = started.elapsed();
        done += stored.len();
        metrics::counter!("parley_messages_triaged_total").increment(stored.len() as u64);
    }
}

/// Classifies on a thread of its own, below the priority of the threads that serve requests.
/// Triage is catch-up work: under a burst of ingests the requests that acknowledge messages
/// should have the cores, and the classifier whatever they leave idle. At equal priority (on
/// the runtime's blocking pool) it took a core's share and cut ingest by a quarter, once its
/// results were stored in few enough transactions for it to keep up.
async fn classify_aside(
    model: Arc<Triage>,
    texts: Vec<(String, Channel)>,
) -> Result<Vec<Classification>, StoreError> {
    let (done, answer) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("parley-triage".into())
        .spawn(move || {
            lower_priority();
            let batch: Vec<(&str, Option<Channel>)> =
                texts.iter().map(|(t, c)| (t.as_str(), Some(*c))).collect();
            let _ = done.send(model.classify_batch(&batch));
        })
        .map_err(|e| StoreError::Invalid(format!("triage thread failed to start: {e}")))?;
    answer
        .await
        .map_err(|_| StoreError::Invalid("triage thread ended without an answer".into()))
}

/// The lowest priority for the calling thread: nice 19 and the idle scheduling class, which
/// runs it only on a core nothing else wants. On Linux both belong to one thread (`0` is the
/// caller), not the process. At nice 10 the classifier still took an eighth of a saturated
/// ingest's rate. At nice 19 alone it took 40 % of the two cores' samples during an ingest
/// run and slowed each of the writer's statements (a lookup 0.95 ms against 0.55 without
/// triage): a nice-19 thread keeps its core for a while after a request thread wakes. In the
/// idle class it is set aside at once (a lookup 0.7-0.8 ms), and it classified as much (10-12k
/// messages in a 10 s run either way). If a call fails the thread keeps the priority it had,
/// which only makes ingest slower under load.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: both take plain integers; `sched_setscheduler` reads the `sched_param` it is
    // given, which lives until the call returns.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        let idle = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// Runs until the process ends: first rebuilds the tenants' corrected classifiers, then
/// classifies, waking on `wakeup` (a new message) or every `every`, and giving way to the
/// ingest writer while it is behind.
pub fn start_worker(
    store: Store,
    triage: Arc<TenantTriage>,
    wakeup: Arc<Notify>,
    every: Duration,
    ingest: Arc<IngestLoad>,
) {
    tokio::spawn(async move {
        match triage.relearn_all(&store).await {
            Ok(n) if n > 0 => tracing::info!(tenants = n, "retrained triage on corrections"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "retraining on corrections failed"),
        }
        loop {
            if let Err(e) = drain(&store, &triage, Some(&ingest)).await {
                // The server closed the store on its way out: nothing failed, and what is
                // left unclassified waits for the next start.
                if store.is_closed() {
                    return;
                }
                tracing::error!(error = %e, "triage round failed; retrying");
            }
            tokio::select! {
                _ = wakeup.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
}
