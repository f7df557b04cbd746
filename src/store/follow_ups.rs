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
        let id = new_id();
        sqlx::query(
            "INSERT INTO follow_ups (id, tenant_id, thread_id, due_at, note, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(thread_id)
        .bind(due_at_ms)
        .bind(note)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut found = self.list_follow_ups(tenant_id, thread_id).await?;
        found.retain(|f| f.id == id);
        found.pop().ok_or(StoreError::NotFound("follow-up"))
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
