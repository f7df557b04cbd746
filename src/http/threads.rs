//! The inbox list and the actions on a thread.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppQuery, Auth};
use super::{check_len, AppState};
use crate::contact::{normalize_email, normalize_phone};
use crate::domain::{FollowUp, Thread, ThreadStatus};
use crate::store::{NewCustomer, ThreadCounts, ThreadFilter, ThreadQuery};

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// `all` (default), `active`, `attention` or `drafts`.
    pub filter: Option<String>,
    /// Matches customer name, phone (any formatting), email and message text: every word in
    /// one message or one contact, the last word as a prefix. Looks at the newest 500 matching
    /// messages and contacts; add a word to reach older matches of a frequent one.
    pub q: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadList {
    pub threads: Vec<Thread>,
    pub counts: ThreadCounts,
    pub next_cursor: Option<String>,
}

/// The inbox: one of four filters, optional search, cursor pagination.
#[utoipa::path(get, path = "/v1/threads", tag = "inbox", params(ListQuery),
    responses((status = 200, body = ThreadList), (status = 400, body = ErrorBody)))]
pub async fn list_threads(
    State(state): State<AppState>,
    Auth(who): Auth,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<ThreadList>, ApiError> {
    let filter = match query.filter.as_deref() {
        None | Some("") => ThreadFilter::All,
        Some(f) => f
            .parse()
            .map_err(|e: crate::domain::UnknownVariant| ApiError::bad_request(e.to_string()))?,
    };
    if let Some(q) = &query.q {
        check_len("q", q, 500)?;
    }
    let query = ThreadQuery {
        filter,
        q: query.q.filter(|q| !q.trim().is_empty()),
        limit: super::page_limit(query.limit)?,
        cursor: query.cursor,
    };
    let page = state.store.list_threads(&who.tenant_id, &query).await?;
    Ok(Json(ThreadList {
        threads: page.threads,
        counts: page.counts,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/threads/{id}", tag = "inbox",
    responses((status = 200, body = Thread), (status = 404, body = ErrorBody)))]
pub async fn get_thread(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Thread>, ApiError> {
    Ok(Json(state.store.get_thread(&who.tenant_id, &id).await?))
}

/// Mark read: the thread leaves Attention until the next inbound message.
#[utoipa::path(post, path = "/v1/threads/{id}/read", tag = "inbox",
    responses((status = 200, body = Thread), (status = 404, body = ErrorBody)))]
pub async fn mark_read(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Thread>, ApiError> {
    Ok(Json(state.store.mark_read(&who.tenant_id, &id).await?))
}

#[utoipa::path(post, path = "/v1/threads/{id}/pin", tag = "inbox",
    responses((status = 200, body = Thread), (status = 404, body = ErrorBody)))]
pub async fn pin(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Thread>, ApiError> {
    Ok(Json(
        state.store.set_pinned(&who.tenant_id, &id, true).await?,
    ))
}

#[utoipa::path(post, path = "/v1/threads/{id}/unpin", tag = "inbox",
    responses((status = 200, body = Thread), (status = 404, body = ErrorBody)))]
pub async fn unpin(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Thread>, ApiError> {
    Ok(Json(
        state.store.set_pinned(&who.tenant_id, &id, false).await?,
    ))
}

/// Block the sender: later messages are stored, flagged, and never raise Attention.
#[utoipa::path(post, path = "/v1/threads/{id}/block", tag = "inbox",
    responses((status = 200, body = Thread), (status = 404, body = ErrorBody)))]
pub async fn block(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Thread>, ApiError> {
    Ok(Json(
        state.store.set_blocked(&who.tenant_id, &id, true).await?,
    ))
}

#[utoipa::path(post, path = "/v1/threads/{id}/unblock", tag = "inbox",
    responses((status = 200, body = Thread), (status = 404, body = ErrorBody)))]
pub async fn unblock(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Thread>, ApiError> {
    Ok(Json(
        state.store.set_blocked(&who.tenant_id, &id, false).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PatchThread {
    pub status: ThreadStatus,
}

/// Set the workflow status: new, in_progress or resolved.
#[utoipa::path(patch, path = "/v1/threads/{id}", tag = "inbox", request_body = PatchThread,
    responses((status = 200, body = Thread), (status = 404, body = ErrorBody)))]
pub async fn patch_thread(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    AppJson(req): AppJson<PatchThread>,
) -> Result<Json<Thread>, ApiError> {
    Ok(Json(
        state
            .store
            .set_status(&who.tenant_id, &id, req.status)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomerRequest {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// Turn an Unknown Contact into a customer; merges into that customer's existing thread.
#[utoipa::path(post, path = "/v1/threads/{id}/customer", tag = "inbox",
    request_body = CustomerRequest,
    responses((status = 200, description = "the surviving thread", body = Thread),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_customer(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    AppJson(req): AppJson<CustomerRequest>,
) -> Result<Json<Thread>, ApiError> {
    let name = req.name.trim();
    if name.is_empty() {
        return Err(ApiError::validation("`name` must not be empty"));
    }
    check_len("name", name, 200)?;
    let empty_to_none = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let phone = empty_to_none(req.phone)
        .map(|p| normalize_phone(&p))
        .transpose()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let email = empty_to_none(req.email)
        .map(|e| normalize_email(&e))
        .transpose()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let address = empty_to_none(req.address);
    if let Some(a) = &address {
        check_len("address", a, 500)?;
    }
    let customer = NewCustomer {
        name: name.to_string(),
        phone,
        email,
        address,
    };
    Ok(Json(
        state
            .store
            .add_customer(&who.tenant_id, &id, &customer)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FollowUpRequest {
    pub due_at: DateTime<Utc>,
    pub note: String,
}

/// Schedule a reminder to get back to the customer.
#[utoipa::path(post, path = "/v1/threads/{id}/follow-ups", tag = "inbox",
    request_body = FollowUpRequest,
    responses((status = 201, body = FollowUp), (status = 404, body = ErrorBody)))]
pub async fn create_follow_up(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    AppJson(req): AppJson<FollowUpRequest>,
) -> Result<(StatusCode, Json<FollowUp>), ApiError> {
    check_len("note", &req.note, 2_000)?;
    let created = state
        .store
        .create_follow_up(
            &who.tenant_id,
            &id,
            req.due_at.timestamp_millis(),
            &req.note,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpList {
    pub follow_ups: Vec<FollowUp>,
}

#[utoipa::path(get, path = "/v1/threads/{id}/follow-ups", tag = "inbox",
    responses((status = 200, body = FollowUpList), (status = 404, body = ErrorBody)))]
pub async fn list_follow_ups(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<FollowUpList>, ApiError> {
    let follow_ups = state.store.list_follow_ups(&who.tenant_id, &id).await?;
    Ok(Json(FollowUpList { follow_ups }))
}
