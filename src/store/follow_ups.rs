//! Reminders to get back to a customer at a given time.

use super::{new_id, now_ms, rows, Store, StoreError};
use crate::domain::FollowUp;

impl Store {
    pub async fn create_follow_up(
        &self,
        tenant_id: &str,
        thread_id: &str,
        due_at_ms: i64,
        note: &str,
    ) -> Result<FollowUp, StoreError> {
        let mut tx = self.begin_write().await?;
        self.hold_thread(&mut tx, tenant_id, thread_id).await?;
        // Answered from what was written: read back after the commit, a merge folding the
        // thread in the meantime made a stored follow-up answer 404.
        let sql = format!(
            "INSERT INTO follow_ups (id, tenant_id, thread_id, due_at, note, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
            rows::FOLLOW_UP_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(new_id())
            .bind(tenant_id)
            .bind(thread_id)
            .bind(due_at_ms)
            .bind(note)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
        let follow_up = rows::follow_up(&row)?;
        tx.commit().await?;
        Ok(follow_up)
    }

    /// A thread's follow-ups, soonest first.
    pub async fn list_follow_ups(
        &self,
        tenant_id: &str,
        thread_id: &str,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Store::check_thread(&mut conn, tenant_id, thread_id).await?;
        let sql = format!(
            "SELECT {} FROM follow_ups WHERE thread_id = $1 AND tenant_id = $2 ORDER BY due_at",
            rows::FOLLOW_UP_COLUMNS
        );
        sqlx::query(&sql)
            .bind(thread_id)
            .bind(tenant_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(rows::follow_up)
            .collect()
    }
}
