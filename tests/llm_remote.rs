//! The OpenAI-compatible backend and the fallback chain against a local HTTP server that
//! replays a real SSE transcript recorded from llama.cpp's OpenAI-compatible server
//! (`tests/fixtures/openai_chat_stream.sse`, see `tests/fixtures/README.md`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use parley::llm::fallback::FallbackBackend;
use parley::llm::openai::{OpenAiBackend, OpenAiConfig};
use parley::llm::{ChatMessage, GenerateEvent, GenerateRequest, LlmBackend, LlmError};

const TRANSCRIPT: &str = include_str!("fixtures/openai_chat_stream.sse");

#[derive(Default)]
struct Server {
    calls: AtomicUsize,
    last_body: Mutex<Option<serde_json::Value>>,
}

/// `mode` in the path: `ok` replays the transcript, `flaky` answers 429 (Retry-After: 1) once
/// and then replays, `down` always answers 503.
async fn chat(
    State(s): State<Arc<Server>>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    *s.last_body.lock().unwrap() = Some(body);
    assert_eq!(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        Some("Bearer test-key")
    );
    match mode.as_str() {
        "flaky" if n == 0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            r#"{"error":{"message":"slow down"}}"#,
        )
            .into_response(),
        "down" => (StatusCode::SERVICE_UNAVAILABLE, "loading model").into_response(),
        _ => ([(header::CONTENT_TYPE, "text/event-stream")], TRANSCRIPT).into_response(),
    }
}

async fn spawn_server() -> (String, Arc<Server>) {
    let state = Arc::new(Server::default());
    let app = Router::new()
        .route("/{mode}/v1/chat/completions", post(chat))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

fn backend(base: &str, mode: &str) -> OpenAiBackend {
    let mut cfg = OpenAiConfig::new(format!("{base}/{mode}/v1"), "qwen2.5-coder-0.5b-instruct");
    cfg.api_key = Some("test-key".into());
    cfg.backoff = Duration::from_millis(50);
    cfg.max_retries = 2;
    OpenAiBackend::new(cfg).unwrap()
}

fn request() -> GenerateRequest {
    GenerateRequest::chat(
        vec![ChatMessage::user("Say hello to Maria in five words.")],
        32,
    )
}

/// Concatenated content deltas of the transcript, to compare against.
fn transcript_text() -> String {
    TRANSCRIPT
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| d.trim() != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn streams_the_recorded_transcript_and_sends_an_openai_body() {
    let (base, server) = spawn_server().await;
    let b = backend(&base, "ok");
    let mut stream = b.generate(request()).await.unwrap();
    let mut tokens = String::new();
    let mut done = None;
    while let Some(ev) = stream.next().await {
        match ev.unwrap() {
            GenerateEvent::Token(t) => tokens.push_str(&t),
            GenerateEvent::Done(c) => done = Some(c),
        }
    }
    let done = done.expect("a final event");
    assert!(!tokens.is_empty());
    assert_eq!(tokens, done.text);
    assert_eq!(tokens, transcript_text());
    assert!(done.usage.completion_tokens > 0);
    let body = server.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "qwen2.5-coder-0.5b-instruct");
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["max_tokens"], 32);
}

#[tokio::test]
async fn retries_a_429_after_the_servers_retry_after() {
    let (base, server) = spawn_server().await;
    let b = backend(&base, "flaky");
    let t = Instant::now();
    let done = b.complete(request()).await.unwrap();
    assert_eq!(server.calls.load(Ordering::SeqCst), 2);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(done.text, transcript_text());
}

#[tokio::test]
async fn gives_up_on_a_down_server_with_an_upstream_error() {
    let (base, server) = spawn_server().await;
    let err = backend(&base, "down")
        .complete(request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Upstream {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.status_code(), 502);
    assert_eq!(server.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn fallback_moves_to_the_next_backend_when_the_first_is_down() {
    let (base, _server) = spawn_server().await;
    let chain = FallbackBackend::new(vec![
        Arc::new(backend(&base, "down")),
        Arc::new(backend(&base, "ok")),
    ])
    .unwrap();
    let done = chain.complete(request()).await.unwrap();
    assert_eq!(done.text, transcript_text());
    assert!(chain.describe().model.contains(" -> "));
}

/// Against a real OpenAI-compatible server when `PARLEY_OPENAI_TEST_URL` names one (e.g.
/// `python -m llama_cpp.server --model <gguf> --port 8765` → `http://127.0.0.1:8765/v1`);
/// skipped otherwise. Also checks the fallback from a dead remote to the live one.
#[tokio::test]
async fn live_server_streams_and_fallback_reaches_it() {
    let Ok(url) = std::env::var("PARLEY_OPENAI_TEST_URL") else {
        eprintln!("skipped: PARLEY_OPENAI_TEST_URL not set");
        return;
    };
    let mut cfg = OpenAiConfig::new(url, "qwen");
    cfg.api_key = std::env::var("PARLEY_OPENAI_TEST_KEY").ok();
    let live = Arc::new(OpenAiBackend::new(cfg).unwrap());
    live.health().await.unwrap();
    let mut req = request();
    req.max_tokens = 16;
    let done = live.complete(req.clone()).await.unwrap();
    eprintln!("live: {:?} {:?}", done.text, done.timings);
    assert!(done.text.to_lowercase().contains("maria"), "{}", done.text);

    let mut dead = OpenAiConfig::new("http://127.0.0.1:9/v1", "none");
    dead.max_retries = 0;
    dead.connect_timeout = Duration::from_millis(500);
    let chain =
        FallbackBackend::new(vec![Arc::new(OpenAiBackend::new(dead).unwrap()), live]).unwrap();
    let via_chain = chain.complete(req).await.unwrap();
    assert_eq!(via_chain.text, done.text);
}
