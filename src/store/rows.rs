//! Row → domain conversions, with the column lists they expect kept beside them.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{to_time, StoreError};
use crate::domain::{
    CustomerRef, Draft, FollowUp, LastMessage, Message, TagScore, Thread, Urgency,
};

/// The columns a `Thread` is read from, over `t` (threads), `c` (its contact) and `lm` (its
/// last message).
macro_rules! thread_columns {
    () => {
        "t.id, t.status, t.pinned, t.blocked, t.needs_attention, t.waiting_since, \
         t.last_activity_at, t.urgency, t.urgency_rank, t.language, t.tags, t.pending_drafts, \
         c.id AS contact_id, c.is_customer, c.name, c.phone, c.email, lm.body AS lm_body, \
         lm.direction AS lm_direction, lm.channel AS lm_channel"
    };
}

/// `thread_columns!` alone, for queries that join the contact and last message themselves.
pub(crate) const THREAD_COLUMNS: &str = thread_columns!();

/// Everything a `Thread` needs; append `WHERE ...` to it.
pub(crate) const THREAD_SELECT: &str = concat!(
    "SELECT ",
    thread_columns!(),
    " FROM threads t JOIN contacts c ON c.id = t.contact_id \
     LEFT JOIN messages lm ON lm.id = t.last_message_id"
);

pub(crate) fn thread(row: &AnyRow) -> Result<Thread, StoreError> {
    let is_customer: i64 = row.try_get("is_customer")?;
    let last_message = match row.try_get::<Option<String>, _>("lm_body")? {
        Some(body) => Some(LastMessage {
            body,
            direction: row.try_get::<String, _>("lm_direction")?.parse()?,
            channel: row.try_get::<String, _>("lm_channel")?.parse()?,
        }),
        None => None,
    };
    Ok(Thread {
        id: row.try_get("id")?,
        customer: CustomerRef {
            id: if is_customer != 0 {
                Some(row.try_get("contact_id")?)
            } else {
                None
            },
            name: row.try_get("name")?,
            phone: row.try_get("phone")?,
            email: row.try_get("email")?,
        },
        status: row.try_get::<String, _>("status")?.parse()?,
        pinned: row.try_get::<i64, _>("pinned")? != 0,
        blocked: row.try_get::<i64, _>("blocked")? != 0,
        needs_attention: row.try_get::<i64, _>("needs_attention")? != 0,
        waiting_since: row.try_get::<Option<i64>, _>("waiting_since")?.map(to_time),
        last_activity_at: to_time(row.try_get("last_activity_at")?),
        last_message,
        tags: serde_json::from_str(&row.try_get::<String, _>("tags")?)?,
        urgency: parse_opt::<Urgency>(row.try_get("urgency")?)?,
        language: row.try_get("language")?,
        pending_drafts: row.try_get("pending_drafts")?,
    })
}

pub(crate) const MESSAGE_COLUMNS: &str = "id, thread_id, direction, channel, body, author, \
    delivery_status, delivery_error, created_at, source, external_id, sender_blocked, tags, \
    urgency, language";

pub(crate) fn message(row: &AnyRow) -> Result<Message, StoreError> {
    let tags: Vec<TagScore> = serde_json::from_str(&row.try_get::<String, _>("tags")?)?;
    Ok(Message {
        id: row.try_get("id")?,
        thread_id: row.try_get("thread_id")?,
        direction: row.try_get::<String, _>("direction")?.parse()?,
        channel: row.try_get::<String, _>("channel")?.parse()?,
        body: row.try_get("body")?,
        author: row.try_get("author")?,
        delivery_status: row.try_get::<String, _>("delivery_status")?.parse()?,
        delivery_error: row.try_get("delivery_error")?,
        created_at: to_time(row.try_get("created_at")?),
        source: row.try_get("source")?,
        external_id: row.try_get("external_id")?,
        sender_blocked: row.try_get::<i64, _>("sender_blocked")? != 0,
        tags,
        urgency: parse_opt::<Urgency>(row.try_get("urgency")?)?,
        language: row.try_get("language")?,
    })
}

pub(crate) const DRAFT_COLUMNS: &str =
    "id, thread_id, goal, text, language, status, stale_reason, flags, created_at";

pub(crate) fn draft(row: &AnyRow) -> Result<Draft, StoreError> {
    Ok(Draft {
        id: row.try_get("id")?,
        thread_id: row.try_get("thread_id")?,
        goal: row.try_get("goal")?,
        text: row.try_get("text")?,
        language: row.try_get("language")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        stale_reason: row.try_get("stale_reason")?,
        flags: serde_json::from_str(&row.try_get::<String, _>("flags")?)?,
        created_at: to_time(row.try_get("created_at")?),
    })
}

pub(crate) const FOLLOW_UP_COLUMNS: &str = "id, thread_id, due_at, note, created_at";

pub(crate) fn follow_up(row: &AnyRow) -> Result<FollowUp, StoreError> {
    Ok(FollowUp {
        id: row.try_get("id")?,
        thread_id: row.try_get("thread_id")?,
        due_at: to_time(row.try_get("due_at")?),
        note: row.try_get("note")?,
        created_at: to_time(row.try_get("created_at")?),
    })
}

fn parse_opt<T>(value: Option<String>) -> Result<Option<T>, StoreError>
where
    T: std::str::FromStr<Err = crate::domain::UnknownVariant>,
{
    value
        .map(|v| v.parse())
        .transpose()
        .map_err(StoreError::from)
}
