//! Operator label corrections over real HTTP, on SQLite and PostgreSQL: they override the
//! classifier, move Attention, retrain only the correcting tenant, and export as fixtures; a
//! business's own taxonomy retrains its classifier.

mod common;

use std::time::Duration;

use common::{spawn_app, Engine, TestApp};
use parley::domain::{Role, TagScore, Urgency};
use parley::store::Classified;
use reqwest::Method;
use serde_json::{json, Value};

on_both_engines!(
    correction_overrides_labels_and_moves_attention,
    correction_made_before_triage_survives_it,
    corrections_retrain_only_that_tenant_and_export_as_fixtures,
    bad_corrections_are_clear_errors,
    a_business_taxonomy_retrains_its_classifier,
);

/// PUT `body` to `path` with `key`.
async fn put_as(app: &TestApp, key: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .put(app.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request");
    common::decode(r).await
}

async fn put_labels(app: &TestApp, key: &str, message: &str, body: Value) -> (u16, Value) {
    put_as(app, key, &format!("/v1/messages/{message}/labels"), body).await
}

async fn correction_overrides_labels_and_moves_attention(engine: Engine) {
    let app = spawn_app(engine).await;
    let (calm, _) = app
        .sms("+15125550150", "can I get a quote for a new water heater")
        .await;
    let (thread, msg) = app.sms("+15125550151", "thanks!! see you then").await;
    let (status, m) = put_labels(
        &app,
        &app.key,
        &msg,
        json!({"tags": ["booking_request", "booking_request"], "urgency": "emergency",
               "author": "Ana"}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["urgency"], "emergency");
    assert_eq!(m["tags"], json!([{"id": "booking_request", "score": 1.0}]));

    let (_, list) = app.get("/v1/threads?filter=attention").await;
    assert_eq!(list["threads"][0]["id"], thread.as_str(), "{list}");
    assert_eq!(list["threads"][0]["urgency"], "emergency");
    assert_eq!(list["threads"][1]["id"], calm.as_str());

    // Urgency alone can be corrected later; the earlier tag correction stays.
    let (status, m) = put_labels(&app, &app.key, &msg, json!({"urgency": "low"})).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["urgency"], "low");
    assert_eq!(m["tags"][0]["id"], "booking_request");
    let (_, page) = app.get(&format!("/v1/threads/{thread}/messages")).await;
    assert_eq!(page["messages"][0]["urgency"], "low");
}

async fn correction_made_before_triage_survives_it(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, msg) = app
        .sms("+15125550152", "you charged me twice for the visit")
        .await;
    let (status, v) = put_labels(
        &app,
        &app.key,
        &msg,
        json!({"tags": ["billing", "complaint"]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // The classifier finishing afterwards keeps the operator's tags; its urgency fills the gap.
    app.store
        .store_classification(
            &msg,
            &Classified {
                tags: vec![TagScore {
                    id: "spam".into(),
                    score: 0.9,
                }],
                urgency: Urgency::Normal,
                language: Some("en".into()),
                language_confidence: Some(0.9),
            },
        )
        .await
        .unwrap();
    let (_, page) = app
        .get(&format!(
            "/v1/threads/{}/messages",
            v["thread_id"].as_str().unwrap()
        ))
        .await;
    let m = &page["messages"][0];
    assert_eq!(m["tags"][0]["id"], "billing", "{m}");
    assert_eq!(m["tags"][1]["id"], "complaint");
    assert_eq!(m["urgency"], "normal");
}

/// Waits until the ingest's own triage has classified `message`, so that the only classifier
/// write in a race test is the test's.
async fn wait_classified(conn: &mut sqlx::PgConnection, message: &str) {
    use sqlx::Row;
    for _ in 0..200 {
        let row = sqlx::query("SELECT classified_at FROM messages WHERE id = $1")
            .bind(message)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        if row
            .try_get::<Option<i64>, _>("classified_at")
            .unwrap()
            .is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("background triage never classified {message}");
}

/// Waits until PostgreSQL reports a backend of this database waiting for a lock: the write
/// under test has reached the transaction the test holds open.
async fn wait_blocked(conn: &mut sqlx::PgConnection) {
    use sqlx::Row;
    for _ in 0..400 {
        let row = sqlx::query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if row.try_get::<i64, _>("n").unwrap() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the write under test never waited on the open transaction");
}

/// The interleaving CI once hit on PostgreSQL: the classifier's write arrives while an
/// operator's correction is still in its transaction, waits for it, and must keep the
/// correction once it commits. The correction is held open on a connection of our own.
#[tokio::test]
async fn postgres_classifier_waiting_on_a_correction_keeps_it() {
    use sqlx::{Connection, Executor};
    let app = spawn_app(Engine::Postgres).await;
    let (thread, msg) = app.sms("+15125550155", "thanks!! see you then").await;
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    wait_classified(&mut conn, &msg).await;

    conn.execute("BEGIN").await.unwrap();
    sqlx::query(
        "INSERT INTO label_corrections (message_id, tenant_id, urgency, author, corrected_at) \
         SELECT id, tenant_id, 'emergency', 'Ana', 0 FROM messages WHERE id = $1",
    )
    .bind(&msg)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("UPDATE messages SET urgency = 'emergency' WHERE id = $1")
        .bind(&msg)
        .execute(&mut conn)
        .await
        .unwrap();

    let store = app.store.clone();
    let id = msg.clone();
    let classifier = tokio::spawn(async move {
        let result = Classified {
            tags: vec![TagScore {
                id: "confirmation".into(),
                score: 0.9,
            }],
            urgency: Urgency::Low,
            language: Some("en".into()),
            language_confidence: Some(0.9),
        };
        store.store_classification(&id, &result).await
    });
    wait_blocked(&mut conn).await;
    conn.execute("COMMIT").await.unwrap();
    classifier.await.unwrap().unwrap();

    let (_, page) = app.get(&format!("/v1/threads/{thread}/messages")).await;
    assert_eq!(page["messages"][0]["urgency"], "emergency", "{page}");
    let (_, t) = app.get(&format!("/v1/threads/{thread}")).await;
    assert_eq!(t["urgency"], "emergency", "{t}");
}

/// Two writers of one thread's labels at once (here a classifier result on one message,
/// held open, and an operator's correction of another): the thread's urgency, the highest of
/// its waiting messages, must count both once both commit.
#[tokio::test]
async fn postgres_concurrent_label_writes_keep_the_thread_summary_whole() {
    use sqlx::{Connection, Executor};
    let app = spawn_app(Engine::Postgres).await;
    let (thread, first) = app
        .sms("+15125550156", "can I get a quote for a new water heater")
        .await;
    let (_, second) = app.sms("+15125550156", "thanks!! see you then").await;
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    wait_classified(&mut conn, &first).await;
    wait_classified(&mut conn, &second).await;

    // The first writer: the first message becomes an emergency, and the thread with it.
    conn.execute("BEGIN").await.unwrap();
    sqlx::query("UPDATE messages SET urgency = 'emergency' WHERE id = $1")
        .bind(&first)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE threads SET urgency = 'emergency', urgency_rank = $1 WHERE id = $2")
        .bind(Urgency::Emergency.rank())
        .bind(&thread)
        .execute(&mut conn)
        .await
        .unwrap();

    // The second: an operator marks the other message low.
    let (client, url, key) = (
        app.client.clone(),
        app.url(&format!("/v1/messages/{second}/labels")),
        app.key.clone(),
    );
    let correction = tokio::spawn(async move {
        let r = client
            .put(url)
            .bearer_auth(key)
            .json(&json!({"urgency": "low"}))
            .send()
            .await
            .expect("request");
        r.status().as_u16()
    });
    wait_blocked(&mut conn).await;
    conn.execute("COMMIT").await.unwrap();
    assert_eq!(correction.await.unwrap(), 200);

    let (_, t) = app.get(&format!("/v1/threads/{thread}")).await;
    assert_eq!(t["urgency"], "emergency", "{t}");
}

/// The triage worker's batch against an ingest batch (session 7's one deadlock): the ingest
/// holds thread B and goes on to thread A while the worker stores results for A and then B.
/// The worker writes one thread per transaction, so by the time it waits for B it has let go
/// of A, and the ingest's next lock is granted at once instead of closing a cycle.
#[tokio::test]
async fn postgres_triage_batch_never_holds_one_thread_while_waiting_for_another() {
    use sqlx::{Connection, Executor};
    let app = spawn_app(Engine::Postgres).await;
    let (thread_a, msg_a) = app.sms("+15125550157", "is the tech still coming?").await;
    let (thread_b, msg_b) = app
        .sms("+15125550158", "need a quote for a water heater")
        .await;
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    wait_classified(&mut conn, &msg_a).await;
    wait_classified(&mut conn, &msg_b).await;

    // The "ingest": holds thread B.
    conn.execute("BEGIN").await.unwrap();
    conn.execute("SET LOCAL lock_timeout = '5s'").await.unwrap();
    sqlx::query("UPDATE threads SET last_activity_at = last_activity_at WHERE id = $1")
        .bind(&thread_b)
        .execute(&mut conn)
        .await
        .unwrap();

    let store = app.store.clone();
    let results: Vec<(String, Classified)> = [&msg_a, &msg_b]
        .iter()
        .map(|id| {
            (
                id.to_string(),
                Classified {
                    tags: vec![TagScore {
                        id: "quote_request".into(),
                        score: 0.9,
                    }],
                    urgency: Urgency::High,
                    language: Some("en".into()),
                    language_confidence: Some(0.9),
                },
            )
        })
        .collect();
    let worker = tokio::spawn(async move { store.store_classifications(&results).await });
    wait_blocked(&mut conn).await;
    // The "ingest" moves on to thread A: granted, not a deadlock and not a 5 s wait.
    sqlx::query("UPDATE threads SET last_activity_at = last_activity_at WHERE id = $1")
        .bind(&thread_a)
        .execute(&mut conn)
        .await
        .expect("thread A is free while the worker waits for thread B");
    conn.execute("COMMIT").await.unwrap();
    worker.await.unwrap().unwrap();

    for thread in [&thread_a, &thread_b] {
        let (_, t) = app.get(&format!("/v1/threads/{thread}")).await;
        assert_eq!(t["urgency"], "high", "{t}");
    }
}

/// Polls classify until the nearest-example reasons name `id` (the retrain runs in the
/// background); returns whether it ever did.
async fn classify_cites(app: &TestApp, key: &str, text: &str, id: &str) -> bool {
    for _ in 0..150 {
        let (status, v) = app
            .post_as(key, "/v1/classify", json!({"text": text, "channel": "sms"}))
            .await;
        assert_eq!(status, 200, "{v}");
        if v["reasons"].to_string().contains(id) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

async fn corrections_retrain_only_that_tenant_and_export_as_fixtures(engine: Engine) {
    let app = spawn_app(engine).await;
    let text = "zorblax frobnicator glitch on unit 7";
    let (_, msg) = app.sms("+15125550153", text).await;
    let (status, v) = put_labels(
        &app,
        &app.key,
        &msg,
        json!({"tags": ["billing"], "urgency": "high"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(classify_cites(&app, &app.key, text, &msg).await);
    let (_, c) = app
        .post("/v1/classify", json!({"text": text, "channel": "sms"}))
        .await;
    assert_eq!(c["tags"][0]["id"], "billing", "{c}");

    let rival = app.store.create_key("rival", Role::Agent).await.unwrap();
    let (_, other) = app
        .post_as(
            &rival,
            "/v1/classify",
            json!({"text": text, "channel": "sms"}),
        )
        .await;
    assert!(!other["reasons"].to_string().contains(&msg), "{other}");

    let (status, _) = app.get("/v1/labels/corrections").await;
    assert_eq!(status, 403, "agents do not export customer text");
    let op = app.store.create_key("acme", Role::Operator).await.unwrap();
    let r = app
        .client
        .get(app.url("/v1/labels/corrections"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert_eq!(lines[0]["id"], msg.as_str());
    assert_eq!(lines[0]["text"], text);
    assert_eq!(lines[0]["channel"], "sms");
    assert_eq!(lines[0]["tags"], json!(["billing"]));
    assert_eq!(lines[0]["urgency"], "high");
    let (_, rival_export) = app
        .get_as(
            &app.store.create_key("rival", Role::Operator).await.unwrap(),
            "/v1/labels/corrections",
        )
        .await;
    assert_eq!(rival_export, Value::String(String::new()));
}

async fn bad_corrections_are_clear_errors(engine: Engine) {
    let app = spawn_app(engine).await;
    let (thread, msg) = app.sms("+15125550154", "is Mike still coming today?").await;
    let cases = [
        (json!({}), 422, "nothing to correct"),
        (json!({"tags": []}), 422, "at least one tag"),
        (
            json!({"tags": ["urgentest"]}),
            422,
            "unknown tag `urgentest`",
        ),
        (json!({"urgency": "panic"}), 422, "urgency"),
        (json!({"tags": "billing"}), 422, "tags"),
        (json!({"urgencey": "high"}), 422, "urgencey"),
    ];
    for (body, want, says) in cases {
        let (status, v) = put_labels(&app, &app.key, &msg, body.clone()).await;
        assert_eq!(status, want, "{body} -> {v}");
        assert!(
            v["error"]["message"].to_string().contains(says),
            "{body} -> {v}"
        );
    }
    let (status, v) = put_labels(
        &app,
        &app.key,
        "no-such-message",
        json!({"urgency": "high"}),
    )
    .await;
    assert_eq!(status, 404, "{v}");
    let rival = app.store.create_key("rival", Role::Agent).await.unwrap();
    let (status, v) = put_labels(&app, &rival, &msg, json!({"urgency": "high"})).await;
    assert_eq!(
        status, 404,
        "another tenant's message does not exist for them: {v}"
    );
    let (_, out) = app
        .send(
            Method::POST,
            &format!("/v1/threads/{thread}/messages"),
            Some(json!({"body": "Yes, Mike is on his way.", "channel": "sms", "author": "Ana"})),
        )
        .await;
    let (status, v) = put_labels(
        &app,
        &app.key,
        out["id"].as_str().unwrap(),
        json!({"urgency": "high"}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
}

async fn put_taxonomy(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    put_as(app, key, "/v1/settings/taxonomy", body).await
}

async fn a_business_taxonomy_retrains_its_classifier(engine: Engine) {
    let app = spawn_app(engine).await;
    let op = app.store.create_key("acme", Role::Operator).await.unwrap();
    let (s, shipped) = app.get("/v1/settings/taxonomy").await;
    assert_eq!(s, 200);
    assert_eq!(shipped["tags"].as_array().unwrap().len(), 8);

    // A cleaning company: no spam tag, "issue" takes over complaint's data, and a tag of its
    // own taught by examples.
    let examples = [
        "do you bring your own vacuum and supplies?",
        "can you add inside the fridge and oven to the clean",
        "please add the windows inside to our regular clean",
        "can the cleaners also do the laundry and change the sheets",
    ];
    let taxonomy = json!({"tags": [
        {"id": "booking_request", "description": "wants a cleaning scheduled"},
        {"id": "quote_request", "description": "asks a price"},
        {"id": "issue", "description": "unhappy with a clean", "aliases": ["complaint"]},
        {"id": "add_on", "description": "extra tasks for a clean", "examples": examples},
    ]});
    let (s, v) = put_taxonomy(&app, &app.key, taxonomy.clone()).await;
    assert_eq!(s, 403, "agents cannot change the taxonomy: {v}");
    let (s, v) = put_taxonomy(&app, &op, taxonomy.clone()).await;
    assert_eq!(s, 200, "{v}");
    let (_, stored) = app.get("/v1/settings/taxonomy").await;
    assert_eq!(stored, v, "the answer is what was stored");
    assert_eq!(stored["tags"][2]["aliases"], json!(["complaint"]));
    assert_eq!(stored["tags"][3]["examples"], json!(examples));

    let classify = |text: &'static str| {
        let app = &app;
        async move {
            let (s, v) = app.post("/v1/classify", json!({"text": text})).await;
            assert_eq!(s, 200, "{v}");
            v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let allowed = ["booking_request", "quote_request", "issue", "add_on"];
    for text in [
        "CONGRATULATIONS you won a $500 gift card, click here",
        "the bathroom was still dirty after your crew left",
        "can you add inside the fridge and oven to the clean",
    ] {
        let tags = classify(text).await;
        assert!(
            tags.iter().all(|t| allowed.contains(&t.as_str())),
            "{text}: {tags:?}"
        );
    }
    assert!(
        classify("the bathroom was still dirty after your crew left, very disappointed")
            .await
            .contains(&"issue".to_string())
    );
    assert!(
        classify("can you add inside the fridge and oven to the clean")
            .await
            .contains(&"add_on".to_string())
    );

    // Corrections speak the business's tags now.
    let (_, msg) = app
        .sms("+15125550160", "could you also fold the laundry?")
        .await;
    let (s, v) = put_labels(&app, &app.key, &msg, json!({"tags": ["add_on"]})).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = put_labels(&app, &app.key, &msg, json!({"tags": ["spam"]})).await;
    assert_eq!(s, 422, "{v}");

    // Other businesses keep the shipped taxonomy.
    let rival = app.store.create_key("rival", Role::Agent).await.unwrap();
    let (_, theirs) = app.get_as(&rival, "/v1/settings/taxonomy").await;
    assert_eq!(theirs, shipped);

    // Bad taxonomies are 422s that name the problem, and the live one stays.
    for (bad, says) in [
        (json!({"tags": []}), "at least one tag"),
        (
            json!({"tags": [{"id": "Bad Id", "description": ""}]}),
            "a-z",
        ),
        (
            json!({"tags": [{"id": "x", "description": ""}, {"id": "x", "description": ""}]}),
            "duplicate",
        ),
        (
            json!({"tags": [{"id": "pool_cleaning", "description": "pools"}]}),
            "examples",
        ),
        (
            json!({"tags": [{"id": "a", "description": "", "aliases": ["nope"]}]}),
            "not a shipped tag",
        ),
        (
            json!({"tags": [{"id": "a", "description": "", "colour": "red"}]}),
            "colour",
        ),
    ] {
        let (s, v) = put_taxonomy(&app, &op, bad).await;
        assert_eq!(s, 422, "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{says}: {v}");
    }
    let (_, still) = app.get("/v1/settings/taxonomy").await;
    assert_eq!(still, stored);
}
