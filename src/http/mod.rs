//! The HTTP edge: thin handlers (extract → store/pipeline → respond), one error table, and the
//! server's start-up and graceful shutdown.

mod drafts;
mod engine;
pub mod error;
mod extract;
mod keys;
mod labels;
mod messages;
mod ops;
mod settings;
mod stats;
mod templates;
mod threads;

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use utoipa::OpenApi;

use crate::llm::LlmBackend;
use crate::pipeline::compose::LanguageDetector;
use crate::pipeline::triage::TenantTriage;
use crate::prompts::PromptLibrary;
use crate::store::{IngestQueue, Store};
use crate::triage::Triage;
use error::ApiError;

/// Largest request body accepted (bytes). Messages are capped well below it.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Components still loading; `/readyz` is 503 while any is listed.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<Mutex<Vec<String>>>);

impl Readiness {
    pub fn waiting_for(&self, component: &str) {
        if let Ok(mut list) = self.0.lock() {
            list.push(component.to_string());
        }
    }

    pub fn ready(&self, component: &str) {
        if let Ok(mut list) = self.0.lock() {
            list.retain(|c| c != component);
        }
    }

    pub fn pending(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ingest: IngestQueue,
    /// The shipped prompt templates (overridable per business).
    pub prompts: Arc<PromptLibrary>,
    pub readiness: Readiness,
    /// Poked after each new inbound message so triage starts without polling delay.
    pub triage_wakeup: Arc<Notify>,
    /// The shipped classifier and each tenant's retrained on its corrections.
    pub triage: Arc<TenantTriage>,
    /// The drafting model, set once it has loaded (loading takes seconds to minutes).
    pub llm: Arc<OnceLock<Arc<dyn LlmBackend>>>,
}

impl AppState {
    /// Starts the ingest writer (`IngestQueue::start_for_server`), the triage worker and the
    /// search index upkeep.
    pub fn new(store: Store, prompts: Arc<PromptLibrary>, triage: Arc<Triage>) -> Self {
        let triage_wakeup = Arc::new(Notify::new());
        let triage = Arc::new(TenantTriage::new(triage));
        let ingest = IngestQueue::start_for_server(store.clone());
        crate::pipeline::triage::start_worker(
            store.clone(),
            triage.clone(),
            triage_wakeup.clone(),
            Duration::from_secs(5),
            ingest.load(),
        );
        store.start_search_upkeep();
        AppState {
            ingest,
            store,
            prompts,
            readiness: Readiness::default(),
            triage_wakeup,
            triage,
            llm: Arc::new(OnceLock::new()),
        }
    }

    /// The drafting model, or 503 while it is still loading.
    pub fn llm(&self) -> Result<Arc<dyn LlmBackend>, ApiError> {
        self.llm.get().cloned().ok_or_else(|| {
            let mut e = ApiError::overloaded(10);
            e.message = "the language model is still loading; retry shortly".into();
            e
        })
    }

    /// Language of a text by the triage detector, as an ISO 639-1 code.
    pub fn language_detector(&self) -> LanguageDetector {
        let triage = Arc::clone(self.triage.base());
        Arc::new(move |text: &str| triage.detect_language(text).map(|g| g.code))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley", description = "AI engine behind a customer-messaging inbox"),
    paths(
        messages::ingest_message, messages::list_messages, messages::send_message,
        messages::set_delivery, labels::correct_labels, labels::export_corrections,
        threads::list_threads, threads::get_thread, threads::mark_read, threads::pin,
        threads::unpin, threads::block, threads::unblock, threads::patch_thread,
        threads::add_customer, threads::create_follow_up, threads::list_follow_ups,
        drafts::get_draft, drafts::send_draft, drafts::discard_draft,
        stats::response_times, keys::create_key,
        engine::classify, engine::compose, engine::translate,
        drafts::create_draft, drafts::schedule_job,
        templates::list_templates, templates::get_template, templates::put_template,
        templates::rollback_template, templates::reset_template, templates::preview_template,
        settings::get_voice, settings::put_voice,
        settings::get_taxonomy, settings::put_taxonomy,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The whole API as a router, so tests can drive it without a socket.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/messages/inbound", post(messages::ingest_message))
        .route("/messages/{id}/delivery", post(messages::set_delivery))
        .route("/messages/{id}/labels", put(labels::correct_labels))
        .route("/labels/corrections", get(labels::export_corrections))
        .route("/threads", get(threads::list_threads))
        .route(
            "/threads/{id}",
            get(threads::get_thread).patch(threads::patch_thread),
        )
        .route(
            "/threads/{id}/messages",
            get(messages::list_messages).post(messages::send_message),
        )
        .route("/threads/{id}/read", post(threads::mark_read))
        .route("/threads/{id}/pin", post(threads::pin))
        .route("/threads/{id}/unpin", post(threads::unpin))
        .route("/threads/{id}/block", post(threads::block))
        .route("/threads/{id}/unblock", post(threads::unblock))
        .route("/threads/{id}/customer", post(threads::add_customer))
        .route(
            "/threads/{id}/follow-ups",
            get(threads::list_follow_ups).post(threads::create_follow_up),
        )
        .route(
            "/drafts/{id}",
            get(drafts::get_draft).delete(drafts::discard_draft),
        )
        .route("/drafts/{id}/send", post(drafts::send_draft))
        .route("/stats/response-times", get(stats::response_times))
        .route("/keys", post(keys::create_key))
        .route("/classify", post(engine::classify))
        .route("/compose", post(engine::compose))
        .route("/translate", post(engine::translate))
        .route("/threads/{id}/drafts", post(drafts::create_draft))
        .route("/threads/{id}/job", post(drafts::schedule_job))
        .route("/templates", get(templates::list_templates))
        .route(
            "/templates/{name}",
            get(templates::get_template)
                .put(templates::put_template)
                .delete(templates::reset_template),
        )
        .route(
            "/templates/{name}/rollback",
            post(templates::rollback_template),
        )
        .route(
            "/templates/{name}/preview",
            post(templates::preview_template),
        )
        .route(
            "/settings/voice",
            get(settings::get_voice).put(settings::put_voice),
        )
        .route(
            "/settings/taxonomy",
            get(settings::get_taxonomy).put(settings::put_taxonomy),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint") });
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics_text))
        .route("/openapi.json", get(ops::openapi))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                error::ErrorKind::Validation,
                "method not allowed on this endpoint",
            )
        })
        .layer(axum::middleware::from_fn(ops::track))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// Serves on an already-bound listener until `shutdown` resolves; in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    ops::prometheus();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Rejects a field longer than `max` bytes.
pub(crate) fn check_len(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::validation(format!(
            "`{field}` is too long: {} bytes, at most {max}",
            value.len()
        )));
    }
    Ok(())
}

/// Page size from the query: 1-200, default 50.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request("`limit` must be between 1 and 200")),
    }
}
