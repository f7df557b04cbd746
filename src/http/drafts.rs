//! Acting on a stored AI draft: read it, send it (as written or edited), or discard it.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, Auth};
use super::messages::MAX_BODY_BYTES;
use super::{check_len, AppState};
use crate::domain::{Draft, Message};

#[utoipa::path(get, path = "/v1/drafts/{id}", tag = "drafts",
    responses((status = 200, body = Draft), (status = 404, body = ErrorBody)))]
pub async fn get_draft(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Draft>, ApiError> {
    Ok(Json(state.store.get_draft(&who.tenant_id, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendDraftRequest {
    /// The edited text; omit to send the draft as written.
    pub body: Option<String>,
    pub author: String,
}

/// Send a pending draft; returns the outbound message. A stale draft is a 409.
#[utoipa::path(post, path = "/v1/drafts/{id}/send", tag = "drafts",
    request_body = SendDraftRequest,
    responses((status = 200, body = Message), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn send_draft(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    AppJson(req): AppJson<SendDraftRequest>,
) -> Result<Json<Message>, ApiError> {
    let author = req.author.trim();
    if author.is_empty() {
        return Err(ApiError::validation("`author` must not be empty"));
    }
    check_len("author", author, 200)?;
    if let Some(body) = &req.body {
        if body.trim().is_empty() {
            return Err(ApiError::validation("`body` must not be empty when given"));
        }
        check_len("body", body, MAX_BODY_BYTES)?;
    }
    let message = state
        .store
        .send_draft(&who.tenant_id, &id, req.body.as_deref(), author)
        .await?;
    Ok(Json(message))
}

/// Discard a draft.
#[utoipa::path(delete, path = "/v1/drafts/{id}", tag = "drafts",
    responses((status = 200, body = Draft), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn discard_draft(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Draft>, ApiError> {
    Ok(Json(state.store.discard_draft(&who.tenant_id, &id).await?))
}
