//! Operator corrections of triage labels: stored beside the message, applied to it at once,
//! and kept as labelled examples the tenant's classifier retrains on.

use sqlx::Row;

use super::messages::refresh_thread_triage;
use super::{now_ms, rows, Store, StoreError};
use crate::domain::{Channel, Direction, Message, TagScore, Urgency};

/// What an operator says a message really is. `None` leaves that part as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelCorrection {
    pub tags: Option<Vec<String>>,
    pub urgency: Option<Urgency>,
    pub author: Option<String>,
}

/// A corrected message with its text: a labelled example in the fixture format's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrectedMessage {
    pub message_id: String,
    pub channel: Channel,
    pub text: String,
    /// The corrected tags, or the classifier's when only urgency was corrected.
    pub tags: Vec<String>,
    /// Whether `tags` came from the operator.
    pub tags_corrected: bool,
    pub urgency: Option<Urgency>,
    pub urgency_corrected: bool,
    pub language: Option<String>,
}

/// Tag ids stored in the same shape as the classifier's scored tags; a person is certain.
fn as_scored(tags: &[String]) -> Vec<TagScore> {
    tags.iter()
        .map(|id| TagScore {
            id: id.clone(),
            score: 1.0,
        })
        .collect()
}

impl Store {
    /// Records a correction (merged with an earlier one for the same message), applies it to
    /// the message and recomputes the thread's urgency, all in one transaction.
    pub async fn correct_labels(
        &self,
        tenant_id: &str,
        message_id: &str,
        correction: &LabelCorrection,
    ) -> Result<Message, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT thread_id, direction FROM messages WHERE id = $1 AND tenant_id = $2",
        )
        .bind(message_id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("message"))?;
        if row.try_get::<String, _>("direction")? != Direction::Inbound.as_str() {
            return Err(StoreError::Invalid(
                "only inbound messages have triage labels".into(),
            ));
        }
        let thread_id: String = row.try_get("thread_id")?;
        let tags = match &correction.tags {
            Some(t) => Some(serde_json::to_string(&as_scored(t))?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO label_corrections (message_id, tenant_id, tags, urgency, author, \
               corrected_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (message_id) DO UPDATE SET \
               tags = COALESCE(excluded.tags, label_corrections.tags), \
               urgency = COALESCE(excluded.urgency, label_corrections.urgency), \
               author = COALESCE(excluded.author, label_corrections.author), \
               corrected_at = excluded.corrected_at",
        )
        .bind(message_id)
        .bind(tenant_id)
        .bind(tags)
        .bind(correction.urgency.map(|u| u.as_str()))
        .bind(correction.author.as_deref())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE messages SET \
               tags = COALESCE((SELECT c.tags FROM label_corrections c \
                                WHERE c.message_id = messages.id), messages.tags), \
               urgency = COALESCE((SELECT c.urgency FROM label_corrections c \
                                   WHERE c.message_id = messages.id), messages.urgency) \
             WHERE id = $1",
        )
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
        refresh_thread_triage(&mut tx, &thread_id).await?;
        let sql = format!(
            "SELECT {} FROM messages WHERE id = $1",
            rows::MESSAGE_COLUMNS
        );
        let message = rows::message(
            &sqlx::query(&sql)
                .bind(message_id)
                .fetch_one(&mut *tx)
                .await?,
        )?;
        tx.commit().await?;
        Ok(message)
    }

    /// A tenant's corrected messages, oldest correction first.
    pub async fn corrections(&self, tenant_id: &str) -> Result<Vec<CorrectedMessage>, StoreError> {
        let found = sqlx::query(
            "SELECT m.id, m.channel, m.body, m.tags AS message_tags, m.language, \
               c.tags AS corrected_tags, c.urgency AS corrected_urgency, m.urgency \
             FROM label_corrections c JOIN messages m ON m.id = c.message_id \
             WHERE c.tenant_id = $1 ORDER BY c.corrected_at, m.id",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                let corrected: Option<String> = row.try_get("corrected_tags")?;
                let tags_json = match &corrected {
                    Some(t) => t.clone(),
                    None => row.try_get("message_tags")?,
                };
                let tags: Vec<TagScore> = serde_json::from_str(&tags_json)?;
                let corrected_urgency: Option<String> = row.try_get("corrected_urgency")?;
                let urgency = match &corrected_urgency {
                    Some(u) => Some(u.parse()?),
                    None => row
                        .try_get::<Option<String>, _>("urgency")?
                        .map(|u| u.parse())
                        .transpose()?,
                };
                Ok(CorrectedMessage {
                    message_id: row.try_get("id")?,
                    channel: row.try_get::<String, _>("channel")?.parse()?,
                    text: row.try_get("body")?,
                    tags: tags.into_iter().map(|t| t.id).collect(),
                    tags_corrected: corrected.is_some(),
                    urgency,
                    urgency_corrected: corrected_urgency.is_some(),
                    language: row.try_get("language")?,
                })
            })
            .collect()
    }

    /// Tenants that have corrected at least one message.
    pub async fn tenants_with_corrections(&self) -> Result<Vec<String>, StoreError> {
        let found = sqlx::query("SELECT DISTINCT tenant_id FROM label_corrections")
            .fetch_all(&self.pool)
            .await?;
        found
            .iter()
            .map(|row| Ok(row.try_get("tenant_id")?))
            .collect()
    }
}
