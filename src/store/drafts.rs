//! AI drafts attached to a thread: created pending, then sent, discarded, or made stale by a
//! newer inbound message.

use sqlx::Row;

use super::messages::{insert_outbound, OutboundMessage};
use super::{new_id, now_ms, rows, Store, StoreError};
use crate::domain::{Channel, Draft, DraftStatus, Message};

/// A draft about to be stored.
#[derive(Debug, Clone)]
pub struct NewDraft {
    pub goal: String,
    pub text: String,
    pub language: Option<String>,
    /// Guardrail checks the text still fails.
    pub flags: Vec<String>,
}

impl Store {
    pub async fn create_draft(
        &self,
        tenant_id: &str,
        thread_id: &str,
        draft: &NewDraft,
    ) -> Result<Draft, StoreError> {
        let mut tx = self.begin_write().await?;
        self.hold_thread(&mut tx, tenant_id, thread_id).await?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO drafts (id, tenant_id, thread_id, goal, text, language, status, flags, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(thread_id)
        .bind(&draft.goal)
        .bind(&draft.text)
        .bind(&draft.language)
        .bind(serde_json::to_string(&draft.flags)?)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE threads SET pending_drafts = pending_drafts + 1 WHERE id = $1")
            .bind(thread_id)
            .execute(&mut *tx)
            .await?;
        let created = fetch_draft(&mut tx, tenant_id, &id).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn get_draft(&self, tenant_id: &str, id: &str) -> Result<Draft, StoreError> {
        let mut conn = self.pool.acquire().await?;
        fetch_draft(&mut conn, tenant_id, id).await
    }

    /// Sends a pending draft (optionally edited) as an outbound message by `author`.
    pub async fn send_draft(
        &self,
        tenant_id: &str,
        id: &str,
        body: Option<&str>,
        author: &str,
    ) -> Result<Message, StoreError> {
        let mut tx = self.begin_write().await?;
        let draft = fetch_draft(&mut tx, tenant_id, id).await?;
        if draft.status != DraftStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "draft is {}, only a pending draft can be sent{}",
                draft.status,
                draft
                    .stale_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )));
        }
        self.hold_thread(&mut tx, tenant_id, &draft.thread_id)
            .await?;
        let channel = last_inbound_channel(&mut tx, &draft.thread_id).await?;
        let out = OutboundMessage {
            body: body.unwrap_or(&draft.text).to_string(),
            channel,
            author: author.to_string(),
        };
        let message =
            insert_outbound(&mut tx, self.engine, tenant_id, &draft.thread_id, &out).await?;
        finish_draft(&mut tx, &draft, DraftStatus::Sent).await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Discards a draft; discarding twice is harmless.
    pub async fn discard_draft(&self, tenant_id: &str, id: &str) -> Result<Draft, StoreError> {
        let mut tx = self.begin_write().await?;
        let draft = fetch_draft(&mut tx, tenant_id, id).await?;
        if draft.status == DraftStatus::Sent {
            return Err(StoreError::Conflict("draft was already sent".into()));
        }
        finish_draft(&mut tx, &draft, DraftStatus::Discarded).await?;
        let done = fetch_draft(&mut tx, tenant_id, id).await?;
        tx.commit().await?;
        Ok(done)
    }
}

async fn finish_draft(
    conn: &mut sqlx::AnyConnection,
    draft: &Draft,
    status: DraftStatus,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE drafts SET status = $1 WHERE id = $2")
        .bind(status.as_str())
        .bind(&draft.id)
        .execute(&mut *conn)
        .await?;
    if draft.status == DraftStatus::Pending {
        sqlx::query(
            "UPDATE threads SET pending_drafts = pending_drafts - 1 \
             WHERE id = $1 AND pending_drafts > 0",
        )
        .bind(&draft.thread_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A reply goes out on the channel the customer last used; SMS when they never wrote in.
async fn last_inbound_channel(
    conn: &mut sqlx::AnyConnection,
    thread_id: &str,
) -> Result<Channel, StoreError> {
    let row = sqlx::query(
        "SELECT channel FROM messages WHERE thread_id = $1 AND direction = 'inbound' \
         ORDER BY created_at DESC, seq DESC LIMIT 1",
    )
    .bind(thread_id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => match row.try_get::<String, _>("channel")?.parse()? {
            // Voicemails and call summaries are answered by text.
            Channel::Voicemail | Channel::CallSummary => Ok(Channel::Sms),
            other => Ok(other),
        },
        None => Ok(Channel::Sms),
    }
}

async fn fetch_draft(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Draft, StoreError> {
    let sql = format!(
        "SELECT {} FROM drafts WHERE id = $1 AND tenant_id = $2",
        rows::DRAFT_COLUMNS
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("draft"))?;
    rows::draft(&row)
}
