//! Tenant isolation and key roles, attacked from another business's key.

mod common;

use common::{spawn_app, Engine};
use parley::domain::Role;
use reqwest::Method;
use serde_json::json;

on_both_engines!(
    another_tenant_sees_nothing_of_ours,
    agent_key_on_operator_route_is_forbidden,
);

async fn another_tenant_sees_nothing_of_ours(engine: Engine) {
    let app = spawn_app(engine).await;
    let (thread, message) = app.sms("+15125550100", "my gate code is 4411").await;
    let rival = app.store.create_key("rival", Role::Operator).await.unwrap();

    // Their inbox is empty and their search finds nothing of ours.
    let (s, list) = app.get_as(&rival, "/v1/threads").await;
    assert_eq!(s, 200);
    assert_eq!(list["threads"], json!([]));
    assert_eq!(list["counts"]["total"], 0);
    let (_, found) = app.get_as(&rival, "/v1/threads?q=4411").await;
    assert_eq!(found["threads"], json!([]));
    let (_, found) = app.get_as(&rival, "/v1/threads?q=5125550100").await;
    assert_eq!(found["threads"], json!([]));
    // With messages of their own, stored beside ours, they find only those.
    let (s, own) = app
        .post_as(
            &rival,
            "/v1/messages/inbound",
            json!({"channel": "sms", "from": "+15125550199", "body": "our gate code is 9090"}),
        )
        .await;
    assert_eq!(s, 201, "{own}");
    let (_, found) = app.get_as(&rival, "/v1/threads?q=4411").await;
    assert_eq!(found["threads"], json!([]));
    let (_, found) = app.get_as(&rival, "/v1/threads?q=gate%20code").await;
    let found = found["threads"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], own["thread_id"]);
    let (_, found) = app.get("/v1/threads?q=gate%20code").await;
    let found = found["threads"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], thread.as_str());

    // Every thread route answers 404, never 403, so ids do not leak existence.
    for path in [
        format!("/v1/threads/{thread}"),
        format!("/v1/threads/{thread}/messages"),
        format!("/v1/threads/{thread}/follow-ups"),
    ] {
        let (s, body) = app.get_as(&rival, &path).await;
        assert_eq!(s, 404, "{path}: {body}");
        assert_eq!(body["error"]["type"], "not_found");
    }
    for (path, body) in [
        (format!("/v1/threads/{thread}/read"), json!({})),
        (format!("/v1/threads/{thread}/pin"), json!({})),
        (format!("/v1/threads/{thread}/block"), json!({})),
        (
            format!("/v1/threads/{thread}/customer"),
            json!({"name": "Mallory"}),
        ),
        (
            format!("/v1/threads/{thread}/messages"),
            json!({"body": "hi", "channel": "sms", "author": "x"}),
        ),
        (
            format!("/v1/threads/{thread}/follow-ups"),
            json!({"due_at": "2026-12-01T00:00:00Z", "note": "x"}),
        ),
        (
            format!("/v1/messages/{message}/delivery"),
            json!({"status": "sent"}),
        ),
    ] {
        let (s, _) = app.post_as(&rival, &path, body).await;
        assert_eq!(s, 404, "{path}");
    }
    let r = app
        .client
        .request(Method::PATCH, app.url(&format!("/v1/threads/{thread}")))
        .bearer_auth(&rival)
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The same phone writing to them opens their own thread; ours is untouched.
    let (s, v) = app
        .post_as(
            &rival,
            "/v1/messages/inbound",
            json!({"channel": "sms", "from": "+15125550100", "body": "hello rival"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_ne!(v["thread_id"], thread.as_str());
    let (_, ours) = app.get(&format!("/v1/threads/{thread}")).await;
    assert_eq!(ours["pinned"], false);
    assert_eq!(ours["last_message"]["body"], "my gate code is 4411");
    let (_, list) = app.get("/v1/threads").await;
    assert_eq!(list["counts"]["total"], 1);

    // The same external id in two tenants is two messages.
    let body = json!({"channel": "sms", "from": "+15125550101", "body": "x", "external_id": "SM1"});
    let (s1, _) = app.post("/v1/messages/inbound", body.clone()).await;
    let (s2, _) = app.post_as(&rival, "/v1/messages/inbound", body).await;
    assert_eq!((s1, s2), (201, 201));
}

async fn agent_key_on_operator_route_is_forbidden(engine: Engine) {
    let app = spawn_app(engine).await;
    let (s, body) = app.post("/v1/keys", json!({"role": "agent"})).await;
    assert_eq!(s, 403);
    assert_eq!(body["error"]["type"], "unauthorized");
    let operator = app.store.create_key("acme", Role::Operator).await.unwrap();
    let (s, body) = app
        .post_as(&operator, "/v1/keys", json!({"role": "agent"}))
        .await;
    assert_eq!(s, 201, "{body}");
    let new_key = body["key"].as_str().unwrap().to_string();
    // The new key belongs to the same business.
    app.sms("+15125550100", "hi").await;
    let (_, list) = app.get_as(&new_key, "/v1/threads").await;
    assert_eq!(list["counts"]["total"], 1);
}
