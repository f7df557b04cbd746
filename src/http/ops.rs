//! Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use utoipa::OpenApi;

use super::AppState;

/// Process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// 503 until the store answers and every component the service needs has finished loading.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store_ok = state.store.ping().await.is_ok();
    let pending = state.readiness.pending();
    if store_ok && pending.is_empty() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        let mut waiting = pending;
        if !store_ok {
            waiting.push("store".to_string());
        }
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting", "waiting_for": waiting})),
        )
            .into_response()
    }
}

/// The process-wide recorder; `metrics` has one global recorder, so every app in the process
/// (tests start several) shares it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding application's); then ours
        // still renders, only without the global counters.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub async fn metrics_text() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
}

/// Counts requests and their latency per route template and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("parley_http_requests_total", &labels).increment(1);
    metrics::histogram!("parley_http_request_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

pub async fn openapi() -> impl IntoResponse {
    Json(super::ApiDoc::openapi())
}
