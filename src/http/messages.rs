//! Messages in and out: ingest from the channels, a thread's history, replies and delivery.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppQuery, Auth};
use super::{check_len, AppState};
use crate::contact::Handle;
use crate::domain::{Channel, DeliveryStatus, Message};
use crate::store::{InboundMessage, OutboundMessage};

/// Longest message body accepted, in bytes; long emails fit, pasted logs do not.
pub const MAX_BODY_BYTES: usize = 100_000;

#[derive(Debug, Deserialize, ToSchema)]
pub struct InboundRequest {
    pub channel: Channel,
    /// Phone number (any common formatting) or email address.
    pub from: String,
    pub body: String,
    /// The provider's id; the same id again returns the stored message instead of a duplicate.
    pub external_id: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    /// The sender's name when the channel knows it; names an Unknown Contact.
    pub name: Option<String>,
    /// Where the lead came from, e.g. `thumbtack`, `web_form`, `ai_receptionist`.
    pub source: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboundResponse {
    pub message: Message,
    pub thread_id: String,
}

fn validate_inbound(req: InboundRequest) -> Result<InboundMessage, ApiError> {
    let from = Handle::parse(&req.from).map_err(|e| ApiError::validation(e.to_string()))?;
    if req.body.trim().is_empty() {
        return Err(ApiError::validation("`body` must not be empty"));
    }
    check_len("body", &req.body, MAX_BODY_BYTES)?;
    if let Some(id) = &req.external_id {
        check_len("external_id", id, 200)?;
        if id.trim().is_empty() {
            return Err(ApiError::validation(
                "`external_id` must not be empty when given",
            ));
        }
    }
    if let Some(name) = &req.name {
        check_len("name", name, 200)?;
    }
    if let Some(source) = &req.source {
        let ok = !source.is_empty()
            && source.len() <= 64
            && source
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            return Err(ApiError::validation(
                "`source` must be 1-64 characters of a-z, 0-9, `_` or `-` (e.g. `web_form`)",
            ));
        }
    }
    let now = Utc::now();
    if let Some(at) = req.received_at {
        if at > now + chrono::Duration::minutes(5) {
            return Err(ApiError::validation("`received_at` is in the future"));
        }
    }
    Ok(InboundMessage {
        channel: req.channel,
        from,
        body: req.body,
        external_id: req.external_id,
        received_at: req.received_at.map(|t| t.timestamp_millis()),
        name: req.name,
        source: req.source,
    })
}

/// Ingest an inbound message into its customer's thread.
#[utoipa::path(post, path = "/v1/messages/inbound", tag = "inbox",
    request_body = InboundRequest,
    responses(
        (status = 201, description = "stored", body = InboundResponse),
        (status = 200, description = "already stored under this external_id", body = InboundResponse),
        (status = 422, body = ErrorBody),
    ))]
pub async fn ingest_message(
    State(state): State<AppState>,
    Auth(who): Auth,
    AppJson(req): AppJson<InboundRequest>,
) -> Result<(StatusCode, Json<InboundResponse>), ApiError> {
    let inbound = validate_inbound(req)?;
    let done = state.ingest.ingest(&who.tenant_id, inbound).await?;
    let status = if done.created {
        state.triage_wakeup.notify_one();
        if let (Some(backend), false) = (state.llm.get(), done.message.sender_blocked) {
            crate::pipeline::drafting::warm_in_background(
                state.store.clone(),
                state.prompts.clone(),
                backend.clone(),
                state.language_detector(),
                who.tenant_id.clone(),
                done.thread_id.clone(),
            );
        }
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(InboundResponse {
            thread_id: done.thread_id,
            message: done.message,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MessagesQuery {
    /// `next_cursor` of the previous page.
    pub before: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesResponse {
    pub messages: Vec<Message>,
    pub next_cursor: Option<String>,
}

/// A thread's messages, newest page first, oldest first within the page.
#[utoipa::path(get, path = "/v1/threads/{id}/messages", tag = "inbox", params(MessagesQuery),
    responses((status = 200, body = MessagesResponse), (status = 404, body = ErrorBody)))]
pub async fn list_messages(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<MessagesQuery>,
) -> Result<Json<MessagesResponse>, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let page = state
        .store
        .list_messages(&who.tenant_id, &id, query.before.as_deref(), limit)
        .await?;
    Ok(Json(MessagesResponse {
        messages: page.messages,
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OutboundRequest {
    pub body: String,
    pub channel: Channel,
    /// Who wrote it: an agent's name, or `ai` for an unedited draft.
    pub author: String,
}

/// Record a reply sent to the customer.
#[utoipa::path(post, path = "/v1/threads/{id}/messages", tag = "inbox",
    request_body = OutboundRequest,
    responses((status = 201, body = Message), (status = 404, body = ErrorBody)))]
pub async fn send_message(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    AppJson(req): AppJson<OutboundRequest>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    if req.body.trim().is_empty() {
        return Err(ApiError::validation("`body` must not be empty"));
    }
    check_len("body", &req.body, MAX_BODY_BYTES)?;
    let author = req.author.trim();
    if author.is_empty() {
        return Err(ApiError::validation("`author` must not be empty"));
    }
    check_len("author", author, 200)?;
    let out = OutboundMessage {
        body: req.body,
        channel: req.channel,
        author: author.to_string(),
    };
    let message = state
        .store
        .record_outbound(&who.tenant_id, &id, &out)
        .await?;
    Ok((StatusCode::CREATED, Json(message)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeliveryRequest {
    /// `sent`, `delivered` or `failed`.
    pub status: DeliveryStatus,
    pub error: Option<String>,
}

/// Report what the messaging provider said about an outbound message.
#[utoipa::path(post, path = "/v1/messages/{id}/delivery", tag = "inbox",
    request_body = DeliveryRequest,
    responses((status = 200, body = Message), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn set_delivery(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    AppJson(req): AppJson<DeliveryRequest>,
) -> Result<Json<Message>, ApiError> {
    if let Some(e) = &req.error {
        check_len("error", e, 2_000)?;
    }
    let message = state
        .store
        .set_delivery(&who.tenant_id, &id, req.status, req.error.as_deref())
        .await?;
    Ok(Json(message))
}
