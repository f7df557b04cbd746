//! The stateless engine: classify a text, compose a reply, translate. Nothing is stored.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::extract::{AppJson, Auth};
use super::{check_len, AppState};
use crate::domain::{Channel, Direction, LanguageGuess, TagScore, UrgencyScore, VoiceSettings};
use crate::pipeline::compose::{self, ComposeError, ComposeEvent, ComposeInput, ThreadTurn};
use crate::pipeline::templates::{draft_templates, live_template};
use crate::pipeline::translate;
use crate::prompts::PromptName;
use crate::triage::Reason;

/// Longest text accepted for classification or translation, in bytes.
pub const MAX_TEXT_BYTES: usize = 100_000;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ClassifyRequest {
    pub text: String,
    pub channel: Option<Channel>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClassifyResponse {
    /// Asserted tags, highest score first.
    pub tags: Vec<TagScore>,
    pub urgency: UrgencyScore,
    /// Null when the text is too short or unclear to tell.
    pub language: Option<LanguageGuess>,
    /// Why: the emergency rule that fired, the nearest labelled examples.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Reason>,
}

/// Tags, urgency and language of one message.
#[utoipa::path(post, path = "/v1/classify", tag = "engine", request_body = ClassifyRequest,
    responses((status = 200, body = ClassifyResponse), (status = 422, body = ErrorBody)))]
pub async fn classify(
    State(state): State<AppState>,
    Auth(who): Auth,
    AppJson(req): AppJson<ClassifyRequest>,
) -> Result<Json<ClassifyResponse>, ApiError> {
    if req.text.trim().is_empty() {
        return Err(ApiError::validation("`text` must not be empty"));
    }
    check_len("text", &req.text, MAX_TEXT_BYTES)?;
    let triage = state.triage.for_tenant(&who.tenant_id);
    let c = tokio::task::spawn_blocking(move || triage.classify(&req.text, req.channel))
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(Json(ClassifyResponse {
        tags: c.tags,
        urgency: c.urgency,
        language: c.language,
        reasons: c.reasons,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BusinessIn {
    pub name: String,
    pub voice: Option<String>,
    #[serde(default)]
    pub technicians: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomerIn {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TurnIn {
    pub direction: Direction,
    pub channel: Channel,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ComposeRequest {
    pub business: BusinessIn,
    pub customer: CustomerIn,
    pub thread: Vec<TurnIn>,
    /// One line from the operator, e.g. "propose 3 PM Tuesday".
    pub goal: String,
    /// Target language; absent means the thread's language.
    pub language: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComposeResponse {
    pub text: String,
    pub language: String,
    /// Checks the draft still fails after its repair attempt (empty when it passed).
    pub flags: Vec<crate::pipeline::guardrails::Violation>,
}

impl From<ComposeError> for ApiError {
    fn from(e: ComposeError) -> Self {
        match e {
            ComposeError::Invalid(m) => ApiError::validation(m),
            ComposeError::Prompt(p) => ApiError::validation(format!("template: {p}")),
            ComposeError::Llm(l) => l.into(),
        }
    }
}

/// The reply is streamed when the client accepts `text/event-stream`.
pub(crate) fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// Turns a compose stream into SSE: `token` events, `retry` when the first attempt is being
/// rewritten, then `done` with `finish(draft)` as data, or `error` with the error body.
pub(crate) fn sse<F, Fut, T>(
    mut rx: mpsc::Receiver<Result<ComposeEvent, ComposeError>>,
    finish: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: FnOnce(compose::Composed) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>> + Send,
    T: Serialize,
{
    let stream = async_stream(move |tx| async move {
        let mut finish = Some(finish);
        while let Some(event) = rx.recv().await {
            let out = match event {
                Ok(ComposeEvent::Token(t)) => {
                    json_event("token", &serde_json::json!({ "text": t }))
                }
                Ok(ComposeEvent::Retry(flags)) => {
                    json_event("retry", &serde_json::json!({ "flags": flags }))
                }
                Ok(ComposeEvent::Done(done)) => match finish.take() {
                    Some(f) => match f(done).await {
                        Ok(body) => json_event("done", &body),
                        Err(e) => error_event(e),
                    },
                    None => continue,
                },
                Err(e) => error_event(e.into()),
            };
            if tx.send(Ok(out)).await.is_err() {
                // The client left: dropping `rx` cancels the generation.
                return;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn json_event<T: Serialize>(name: &str, body: &T) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(body).unwrap_or_else(|_| "{}".into()))
}

fn error_event(e: ApiError) -> Event {
    let body = ErrorBody {
        error: ErrorDetail {
            kind: e.kind,
            message: e.message,
        },
    };
    json_event("error", &body)
}

/// A stream fed by a task: the task gets the sending half.
fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(32);
    tokio::spawn(produce(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Draft a reply from a thread and a goal, statelessly.
#[utoipa::path(post, path = "/v1/compose", tag = "engine", request_body = ComposeRequest,
    responses((status = 200, body = ComposeResponse,
               description = "JSON, or an SSE stream of token/retry/done events"),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn compose(
    State(state): State<AppState>,
    Auth(who): Auth,
    headers: HeaderMap,
    AppJson(req): AppJson<ComposeRequest>,
) -> Result<Response, ApiError> {
    let backend = state.llm()?;
    check_len("goal", &req.goal, 1_000)?;
    check_len("business.name", &req.business.name, 200)?;
    if req.thread.len() > 200 {
        return Err(ApiError::validation("`thread` has more than 200 messages"));
    }
    for t in &req.thread {
        check_len("thread[].text", &t.text, MAX_TEXT_BYTES)?;
    }
    let templates = draft_templates(&state.store, &state.prompts, &who.tenant_id).await?;
    let input = ComposeInput {
        business: VoiceSettings {
            name: req.business.name,
            tone: req.business.voice.unwrap_or_default(),
            technicians: req.business.technicians,
            ..VoiceSettings::default()
        },
        customer_name: req.customer.name,
        thread: req
            .thread
            .into_iter()
            .map(|t| ThreadTurn {
                direction: t.direction,
                channel: t.channel,
                text: t.text,
                at: t.at,
            })
            .collect(),
        goal: req.goal,
        language: req.language,
        templates,
        route: compose::Route::Direct,
    };
    let rx = compose::compose(backend, state.language_detector(), input)?;
    let respond = |done: compose::Composed| async move {
        Ok(ComposeResponse {
            text: done.text,
            language: done.language,
            flags: done.flags,
        })
    };
    if wants_stream(&headers) {
        return Ok(sse(rx, respond).into_response());
    }
    let done = collect(rx).await?;
    Ok(Json(respond(done).await?).into_response())
}

/// Waits for the `Done` event of a compose stream.
pub(crate) async fn collect(
    mut rx: mpsc::Receiver<Result<ComposeEvent, ComposeError>>,
) -> Result<compose::Composed, ApiError> {
    while let Some(event) = rx.recv().await {
        if let ComposeEvent::Done(done) = event? {
            return Ok(done);
        }
    }
    Err(ApiError::internal())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TranslateRequest {
    pub text: String,
    pub target: String,
    pub source: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranslateResponse {
    pub text: String,
    pub source: String,
    pub target: String,
    /// Numbers, times, prices or names of the original the translation lost, if any.
    pub missing: Vec<String>,
}

/// Translate a message, keeping numbers, times, prices, addresses and names intact.
#[utoipa::path(post, path = "/v1/translate", tag = "engine", request_body = TranslateRequest,
    responses((status = 200, body = TranslateResponse), (status = 422, body = ErrorBody)))]
pub async fn translate(
    State(state): State<AppState>,
    Auth(who): Auth,
    AppJson(req): AppJson<TranslateRequest>,
) -> Result<Json<TranslateResponse>, ApiError> {
    let backend = state.llm()?;
    if req.text.trim().is_empty() {
        return Err(ApiError::validation("`text` must not be empty"));
    }
    check_len("text", &req.text, 8_000)?;
    let template = live_template(
        &state.store,
        &state.prompts,
        &who.tenant_id,
        PromptName::Translate,
    )
    .await?
    .source;
    let done = translate::translate(
        &*backend,
        &state.language_detector(),
        &template,
        &req.text,
        req.source.as_deref(),
        &req.target,
    )
    .await?;
    Ok(Json(TranslateResponse {
        text: done.text,
        source: done.source,
        target: done.target,
        missing: done.missing,
    }))
}
