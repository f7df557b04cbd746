//! The inbox header counts ("7 total · 2 need attention · 1 draft"), read in O(1): triggers
//! log every change of a thread's Attention or draft state as a delta (see the
//! `thread_counts` migration), a read adds the tenant's pending deltas to its compacted
//! totals, and a read that finds many pending deltas folds them in behind itself.

use std::sync::atomic::Ordering;

use sqlx::Row;

use super::{Engine, Store, StoreError};

/// Header numbers: "7 total · 0 need attention".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ThreadCounts {
    pub total: i64,
    pub attention: i64,
    pub drafts: i64,
}

/// Pending deltas a read sums before it asks for a compaction; small enough that summing them
/// stays well under a millisecond.
const COMPACT_AFTER: i64 = 256;

/// What every inbox page carries about its tenant: the header counts, and how many inbound
/// messages it has had (which names its newest search bucket, `search::bucket`). One query
/// reads both: a search needs the bucket before it can run, and asking for it on its own cost
/// a round trip to the database per search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TenantTotals {
    pub counts: ThreadCounts,
    pub messages_ingested: i64,
}

impl Store {
    /// The tenant's header counts ([`Store::tenant_totals`]).
    pub async fn thread_counts(&self, tenant_id: &str) -> Result<ThreadCounts, StoreError> {
        Ok(self.tenant_totals(tenant_id).await?.counts)
    }

    /// Served from the page cache while no write has finished since they were read.
    pub(crate) async fn tenant_totals(&self, tenant_id: &str) -> Result<TenantTotals, StoreError> {
        if let Some(totals) = self.pages.totals(tenant_id) {
            return Ok(totals);
        }
        let generation = self.pages.generation();
        // SUM of BIGINT is NUMERIC on PostgreSQL, which the Any driver cannot decode.
        let row = sqlx::query(
            "SELECT tn.thread_count AS total, \
               tn.attention_count + CAST(COALESCE(SUM(ch.attention), 0) AS BIGINT) AS attention, \
               tn.draft_thread_count + CAST(COALESCE(SUM(ch.drafts), 0) AS BIGINT) AS drafts, \
               COUNT(ch.seq) AS pending, tn.messages_ingested \
             FROM tenants tn LEFT JOIN thread_count_changes ch ON ch.tenant_id = tn.id \
             WHERE tn.id = $1 \
             GROUP BY tn.id, tn.thread_count, tn.attention_count, tn.draft_thread_count, \
               tn.messages_ingested",
        )
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("tenant"))?;
        let pending: i64 = row.try_get("pending")?;
        if pending > COMPACT_AFTER && !self.compacting.swap(true, Ordering::AcqRel) {
            let store = self.clone();
            let tenant_id = tenant_id.to_string();
            tokio::spawn(async move {
                if let Err(e) = store.compact_thread_counts(&tenant_id).await {
                    tracing::warn!(error = %e, "compacting the thread counts failed; a later read retries");
                }
                store.compacting.store(false, Ordering::Release);
            });
        }
        let totals = TenantTotals {
            counts: ThreadCounts {
                total: row.try_get("total")?,
                attention: row.try_get("attention")?,
                drafts: row.try_get("drafts")?,
            },
            messages_ingested: row.try_get("messages_ingested")?,
        };
        self.pages.put_totals(tenant_id, generation, totals);
        Ok(totals)
    }

    /// Folds the tenant's pending count deltas into its totals. A reader sees the deltas
    /// either before or after the fold, never both or neither: the fold is one transaction.
    pub async fn compact_thread_counts(&self, tenant_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        match self.engine {
            // One statement, so the rows summed are exactly the rows deleted even while other
            // transactions commit new deltas.
            Engine::Postgres => {
                sqlx::query(
                    "WITH moved AS (DELETE FROM thread_count_changes WHERE tenant_id = $1 \
                                    RETURNING attention, drafts) \
                     UPDATE tenants SET \
                       attention_count = attention_count \
                         + (SELECT CAST(COALESCE(SUM(attention), 0) AS BIGINT) FROM moved), \
                       draft_thread_count = draft_thread_count \
                         + (SELECT CAST(COALESCE(SUM(drafts), 0) AS BIGINT) FROM moved) \
                     WHERE id = $1",
                )
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            }
            // The write transaction holds SQLite's only write lock: nothing commits between
            // the two statements.
            Engine::Sqlite => {
                sqlx::query(
                    "UPDATE tenants SET \
                       attention_count = attention_count + COALESCE((SELECT SUM(attention) \
                         FROM thread_count_changes WHERE tenant_id = $1), 0), \
                       draft_thread_count = draft_thread_count + COALESCE((SELECT SUM(drafts) \
                         FROM thread_count_changes WHERE tenant_id = $1), 0) \
                     WHERE id = $1",
                )
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM thread_count_changes WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
