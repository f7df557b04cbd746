//! Bad input always gets a 4xx with the contract's error body, never a 500.

mod common;

use common::{decode, spawn_app, Engine};
use serde_json::{json, Value};

on_both_engines!(
    every_bad_request_is_a_clear_4xx,
    ops_endpoints_answer,
    the_nul_character_is_stored_or_refused,
);

fn assert_error(status: u16, body: &Value, want_status: u16, want_type: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["type"], want_type, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{body}"
    );
}

async fn every_bad_request_is_a_clear_4xx(engine: Engine) {
    let app = spawn_app(engine).await;
    let (thread, _) = app.sms("+15125550100", "hello").await;
    let inbound = app.url("/v1/messages/inbound");

    // Keys.
    let r = app.client.get(app.url("/v1/threads")).send().await.unwrap();
    let (s, b) = decode(r).await;
    assert_error(s, &b, 401, "unauthorized");
    let (s, b) = app.get_as("pk_not_a_real_key", "/v1/threads").await;
    assert_error(s, &b, 401, "unauthorized");
    let r = app
        .client
        .get(app.url("/v1/threads"))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    let (s, b) = decode(r).await;
    assert_error(s, &b, 401, "unauthorized");

    // Malformed JSON, wrong types, missing fields, unknown enum values.
    let r = app
        .client
        .post(&inbound)
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body("{\"channel\": \"sms\", ")
        .send()
        .await
        .unwrap();
    let (s, b) = decode(r).await;
    assert_error(s, &b, 400, "validation");
    let r = app
        .client
        .post(&inbound)
        .bearer_auth(&app.key)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    for body in [
        json!({"channel": "sms", "from": 5125550100u64, "body": "x"}),
        json!({"channel": "fax", "from": "+15125550100", "body": "x"}),
        json!({"from": "+15125550100", "body": "x"}),
        json!({"channel": "sms", "from": "+15125550100", "body": "x", "received_at": "yesterday"}),
    ] {
        let (s, b) = app.post("/v1/messages/inbound", body.clone()).await;
        assert_error(s, &b, 422, "validation");
    }
    let (s, b) = app.post("/v1/messages/inbound", json!([1, 2, 3])).await;
    assert!(s == 400 || s == 422, "{b}");
    assert_eq!(b["error"]["type"], "validation");
    // Invalid senders and empty or oversized fields.
    for body in [
        json!({"channel": "sms", "from": "not a phone", "body": "x"}),
        json!({"channel": "sms", "from": "12", "body": "x"}),
        json!({"channel": "email", "from": "joe@", "body": "x"}),
        json!({"channel": "sms", "from": "+15125550100", "body": "   "}),
        json!({"channel": "sms", "from": "+15125550100", "body": "x", "source": "Web Form!"}),
        json!({"channel": "sms", "from": "+15125550100", "body": "x", "received_at": "2999-01-01T00:00:00Z"}),
        json!({"channel": "sms", "from": "+15125550100", "body": "x".repeat(200_000)}),
    ] {
        let (s, b) = app.post("/v1/messages/inbound", body).await;
        assert_error(s, &b, 422, "validation");
    }
    let huge = json!({"channel": "sms", "from": "+15125550100", "body": "x".repeat(3_000_000)});
    let (s, b) = app.post("/v1/messages/inbound", huge).await;
    assert_error(s, &b, 413, "payload_too_large");

    // Query strings.
    let (s, b) = app.get("/v1/threads?filter=urgent").await;
    assert_error(s, &b, 400, "validation");
    let (s, b) = app.get("/v1/threads?limit=0").await;
    assert_error(s, &b, 400, "validation");
    let (s, b) = app.get("/v1/threads?limit=ten").await;
    assert_error(s, &b, 400, "validation");
    let (s, b) = app.get("/v1/threads?cursor=garbage").await;
    assert_error(s, &b, 400, "validation");
    let (_, page) = app.get("/v1/threads?limit=1").await;
    assert_eq!(page["next_cursor"], json!(null));
    let (s, b) = app
        .get(&format!("/v1/threads/{thread}/messages?before=bm9wZQ"))
        .await;
    assert_error(s, &b, 400, "validation");
    let (s, b) = app.get("/v1/stats/response-times?days=0").await;
    assert_error(s, &b, 400, "validation");

    // Unknown ids and routes.
    let (s, b) = app.get("/v1/threads/does-not-exist").await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app
        .post("/v1/messages/nope/delivery", json!({"status": "sent"}))
        .await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app.get("/v1/drafts/nope").await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app.get("/v1/no-such-thing").await;
    assert_error(s, &b, 404, "not_found");

    // Invalid values on thread actions.
    let (s, b) = app
        .post(
            &format!("/v1/threads/{thread}/customer"),
            json!({"name": ""}),
        )
        .await;
    assert_error(s, &b, 422, "validation");
    let (s, b) = app
        .post(
            &format!("/v1/threads/{thread}/customer"),
            json!({"name": "Joe", "phone": "call me"}),
        )
        .await;
    assert_error(s, &b, 422, "validation");
    let (s, b) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/threads/{thread}"),
            Some(json!({"status": "done"})),
        )
        .await;
    assert_error(s, &b, 422, "validation");
    let (s, b) = app
        .post(
            &format!("/v1/threads/{thread}/messages"),
            json!({"body": "hi", "channel": "sms", "author": ""}),
        )
        .await;
    assert_error(s, &b, 422, "validation");

    // Nothing above disturbed the stored thread.
    let (_, list) = app.get("/v1/threads").await;
    assert_eq!(list["counts"]["total"], 1);
}

/// SQLite keeps a NUL character in text; PostgreSQL's text cannot hold one, so there it is the
/// caller's 422, and neither engine answers 500.
async fn the_nul_character_is_stored_or_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let (thread, _) = app.sms("+15125550100", "hello").await;
    let refused = |s: u16, b: &Value| {
        assert_error(s, b, 422, "validation");
        assert!(
            b["error"]["message"].as_str().unwrap_or("").contains("NUL"),
            "{b}"
        );
    };

    let (s, b) = app.get("/v1/threads/01a2%00b3").await;
    match engine {
        Engine::Sqlite => assert_error(s, &b, 404, "not_found"),
        Engine::Postgres => refused(s, &b),
    }
    let (s, b) = app
        .post(
            "/v1/messages/inbound",
            json!({"channel": "sms", "from": "+15125550101", "body": "a\u{0}b"}),
        )
        .await;
    match engine {
        Engine::Sqlite => assert_eq!(s, 201, "{b}"),
        Engine::Postgres => refused(s, &b),
    }
    let (s, b) = app
        .post(
            &format!("/v1/threads/{thread}/messages"),
            json!({"body": "on our way\u{0}", "channel": "sms", "author": "Sam"}),
        )
        .await;
    match engine {
        Engine::Sqlite => assert_eq!(s, 201, "{b}"),
        Engine::Postgres => refused(s, &b),
    }

    // A refused ingest leaves the store as it was, and the next one lands.
    let (status, _) = app
        .post(
            "/v1/messages/inbound",
            json!({"channel": "sms", "from": "+15125550102", "body": "fine"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, list) = app.get("/v1/threads").await;
    let total = match engine {
        Engine::Sqlite => 3,
        Engine::Postgres => 2,
    };
    assert_eq!(list["counts"]["total"], total, "{list}");
}

async fn ops_endpoints_answer(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.state.readiness.waiting_for("model");
    let (s, b) = decode(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(s, 503);
    assert_eq!(b["waiting_for"], json!(["model"]));
    app.state.readiness.ready("model");

    app.sms("+15125550100", "hello").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("parley_http_requests_total"), "{text}");
    let (s, doc) = decode(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    for path in [
        "/v1/messages/inbound",
        "/v1/threads",
        "/v1/threads/{id}/customer",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from openapi"
        );
    }
}
