//! AI drafts on stored threads: write one, read it, send it (as written or edited), discard it;
//! and turn a thread into a pre-filled job.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::engine::{collect, sse, wants_stream};
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, Auth};
use super::messages::MAX_BODY_BYTES;
use super::{check_len, AppState};
use crate::domain::{CustomerRef, Direction, Draft, Message, Urgency};
use crate::pipeline::compose;
use crate::pipeline::drafting;
use crate::pipeline::job;
use crate::pipeline::templates::live_template;
use crate::prompts::context::{CustomerView, JobContext, TurnView};
use crate::prompts::PromptName;
use crate::store::NewDraft;

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

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateDraftRequest {
    /// One line from the operator, e.g. "propose 3 PM Tuesday".
    pub goal: String,
    /// Target language; absent means the thread's language.
    pub language: Option<String>,
}

/// Draft a reply on a thread; it is stored pending and shows in the AI Drafts filter. With
/// `Accept: text/event-stream` the text streams as it is generated.
#[utoipa::path(post, path = "/v1/threads/{id}/drafts", tag = "drafts",
    request_body = CreateDraftRequest,
    responses((status = 201, body = Draft), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn create_draft(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(req): AppJson<CreateDraftRequest>,
) -> Result<Response, ApiError> {
    check_len("goal", &req.goal, 1_000)?;
    let ctx = drafting::load(&state.store, &state.prompts, &who.tenant_id, &id).await?;
    let backend = state.llm()?;
    let goal = req.goal.trim().to_string();
    let input = ctx.compose_input(goal.clone(), req.language);
    let rx = compose::compose(backend, state.language_detector(), input)?;
    let (store, tenant) = (state.store.clone(), who.tenant_id.clone());
    let save = move |done: compose::Composed| async move {
        let draft = NewDraft {
            goal,
            text: done.text,
            language: Some(done.language),
            flags: done.flags.iter().map(|f| f.check.to_string()).collect(),
        };
        Ok::<_, ApiError>(store.create_draft(&tenant, &id, &draft).await?)
    };
    if wants_stream(&headers) {
        return Ok(sse(rx, save).into_response());
    }
    let done = collect(rx).await?;
    Ok((StatusCode::CREATED, Json(save(done).await?)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Job {
    pub customer: CustomerRef,
    pub address: Option<String>,
    /// e.g. "Emergency: AC stopped overnight, 2 kids at home".
    pub title: String,
    pub scope: String,
    pub urgency: Urgency,
    /// The messages the job was drawn from.
    pub sources: Vec<String>,
}

/// Turn the thread into a pre-filled job.
#[utoipa::path(post, path = "/v1/threads/{id}/job", tag = "drafts",
    responses((status = 200, body = Job), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn schedule_job(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let thread = state.store.get_thread(&who.tenant_id, &id).await?;
    let page = state
        .store
        .list_messages(&who.tenant_id, &id, None, 12)
        .await?;
    let inbound: Vec<&Message> = page
        .messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound && !m.sender_blocked)
        .collect();
    let urgency = inbound
        .iter()
        .filter_map(|m| m.urgency)
        .max()
        .or(thread.urgency)
        .unwrap_or(Urgency::Normal);
    let voice = state.store.voice(&who.tenant_id).await?;
    let ctx = JobContext {
        customer: CustomerView {
            name: thread.customer.name.clone().unwrap_or_default(),
            first_name: String::new(),
        },
        thread: page
            .messages
            .iter()
            .filter(|m| !m.sender_blocked)
            .map(|m| TurnView {
                from: if m.direction == Direction::Inbound {
                    "customer"
                } else {
                    "business"
                },
                channel: m.channel.as_str().to_string(),
                text: m.body.clone(),
                at: m.created_at.format("%a %b %-d, %-I:%M %p").to_string(),
            })
            .collect(),
        urgency: urgency.as_str().to_string(),
        business: voice,
    };
    let backend = state.llm()?;
    let template = live_template(
        &state.store,
        &state.prompts,
        &who.tenant_id,
        PromptName::JobSummary,
    )
    .await?
    .source;
    let summary = job::summarize(backend, &template, &ctx).await?;
    let address = match state.store.contact_address(&who.tenant_id, &id).await? {
        Some(a) => Some(a),
        None => inbound
            .iter()
            .rev()
            .find_map(|m| job::find_address(&m.body)),
    };
    Ok(Json(Job {
        customer: thread.customer,
        address,
        title: summary.title,
        scope: summary.scope,
        urgency,
        sources: inbound.iter().map(|m| m.id.clone()).collect(),
    }))
}
