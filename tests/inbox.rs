//! The inbox over real HTTP, on SQLite and PostgreSQL.

mod common;

use common::{spawn_app, Engine};
use parley::domain::{TagScore, Urgency};
use parley::store::{Classified, NewDraft};
use reqwest::Method;
use serde_json::{json, Value};

on_both_engines!(
    ingest_is_idempotent_on_external_id,
    one_thread_per_customer_across_channels_and_formats,
    unknown_contact_becomes_customer_and_threads_merge,
    a_merge_racing_new_messages_loses_none,
    a_reply_racing_a_merge_is_kept_or_refused,
    attention_tracks_unanswered_inbound,
    header_counts_stay_exact_across_compaction,
    blocked_sender_is_stored_but_never_raises_attention,
    all_lists_pinned_first_then_newest_with_counts,
    active_excludes_resolved_threads,
    drafts_filter_and_new_inbound_makes_drafts_stale,
    attention_orders_by_urgency_then_longest_wait,
    thread_language_is_sticky,
    cursor_pagination_visits_every_thread_once,
    search_matches_name_phone_email_and_body,
    search_finds_the_newest_matches_across_buckets,
    a_message_with_an_overlong_word_is_stored_and_found,
    search_pages_within_a_filter,
    messages_page_oldest_first_with_cursor,
    outbound_delivery_and_response_times,
    follow_ups_are_created_and_listed,
    source_is_kept_on_the_message,
);

async fn ingest_is_idempotent_on_external_id(engine: Engine) {
    let app = spawn_app(engine).await;
    let body = json!({"channel": "sms", "from": "+15125550100", "body": "AC is out",
                      "external_id": "SM123", "received_at": "2026-11-20T06:47:00Z"});
    let (s1, first) = app.post("/v1/messages/inbound", body.clone()).await;
    assert_eq!(s1, 201, "{first}");
    let (s2, second) = app.post("/v1/messages/inbound", body).await;
    assert_eq!(s2, 200, "{second}");
    assert_eq!(first["message"]["id"], second["message"]["id"]);
    assert_eq!(first["message"]["created_at"], "2026-11-20T06:47:00Z");
    let thread = first["thread_id"].as_str().unwrap();
    let (_, page) = app.get(&format!("/v1/threads/{thread}/messages")).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
}

async fn one_thread_per_customer_across_channels_and_formats(engine: Engine) {
    let app = spawn_app(engine).await;
    let (t1, _) = app.sms("(512) 555-0100", "hi").await;
    let (t2, _) = app.sms("+1 512.555.0100", "still there?").await;
    assert_eq!(t1, t2);
    let (s, v) = app
        .post(
            "/v1/messages/inbound",
            json!({"channel": "voicemail", "from": "512-555-0100", "body": "call me back"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["thread_id"], t1.as_str());
    // The customer's email joins the same thread once the business knows it.
    let (s, _) = app
        .post(
            &format!("/v1/threads/{t1}/customer"),
            json!({"name": "Maria Lopez", "email": "Maria@Example.com"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = app
        .post(
            "/v1/messages/inbound",
            json!({"channel": "email", "from": "maria@example.com", "body": "Invoice question"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["thread_id"], t1.as_str());
    let (_, list) = app.get("/v1/threads").await;
    assert_eq!(list["counts"]["total"], 1);
    assert_eq!(list["threads"][0]["customer"]["name"], "Maria Lopez");
    assert_eq!(list["threads"][0]["customer"]["phone"], "+15125550100");
}

async fn unknown_contact_becomes_customer_and_threads_merge(engine: Engine) {
    let app = spawn_app(engine).await;
    // A known customer by email, and an unknown texter who turns out to be the same person.
    let (s, v) = app
        .post(
            "/v1/messages/inbound",
            json!({"channel": "email", "from": "joe@example.com", "body": "Quote for a water heater?",
                   "name": "Joe Park"}),
        )
        .await;
    assert_eq!(s, 201);
    let customer_thread = v["thread_id"].as_str().unwrap().to_string();
    let (unknown_thread, _) = app.sms("512-555-0142", "this is joe, any update?").await;
    let (_, unknown) = app.get(&format!("/v1/threads/{unknown_thread}")).await;
    assert_eq!(unknown["customer"]["id"], json!(null));
    assert_eq!(unknown["customer"]["phone"], "+15125550142");

    let (s, merged) = app
        .post(
            &format!("/v1/threads/{unknown_thread}/customer"),
            json!({"name": "Joe Park", "email": "joe@example.com", "address": "12 Elm St"}),
        )
        .await;
    assert_eq!(s, 200, "{merged}");
    assert_eq!(merged["id"], customer_thread.as_str());
    assert_eq!(merged["customer"]["phone"], "+15125550142");
    assert_eq!(merged["customer"]["email"], "joe@example.com");
    assert!(merged["customer"]["id"].is_string());
    let (s, _) = app.get(&format!("/v1/threads/{unknown_thread}")).await;
    assert_eq!(s, 404);
    let (_, page) = app
        .get(&format!("/v1/threads/{customer_thread}/messages"))
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    let (_, list) = app.get("/v1/threads").await;
    assert_eq!(list["counts"]["total"], 1);
    // Later texts from that phone land in the merged thread.
    let (t, _) = app.sms("5125550142", "thanks").await;
    assert_eq!(t, customer_thread);
}

/// A customer who emails, and texts from a phone the business does not know yet: two threads,
/// one person. Returns the texter's thread.
async fn one_customer_two_threads(app: &common::TestApp, email: &str, phone: &str) -> String {
    let (s, v) = app
        .post(
            "/v1/messages/inbound",
            json!({"channel": "email", "from": email, "body": "quote please"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    app.sms(phone, "it's me, texting").await.0
}

/// The business merges two threads while the customer keeps writing to both. On PostgreSQL
/// the merge, the ingest batches and the classifier's writes lock the same rows (the tenant's,
/// the threads', the messages'): a batch may find the thread it resolved a sender to deleted,
/// and a merge may find messages in the thread it is folding. Neither may reach the client as
/// an error, and no message may be lost.
async fn a_merge_racing_new_messages_loses_none(engine: Engine) {
    let app = spawn_app(engine).await;
    for round in 0..8 {
        let email = format!("pat{round}@example.com");
        let phone = format!("+1512555{:04}", 3000 + round);
        let unknown = one_customer_two_threads(&app, &email, &phone).await;
        let path = format!("/v1/threads/{unknown}/customer");
        let merge = app.post(
            &path,
            json!({"name": format!("Pat {round}"), "email": email}),
        );
        let writes = futures::future::join_all((0..10).map(|i| {
            let (channel, from) = if i % 2 == 0 {
                ("sms", phone.as_str())
            } else {
                ("email", email.as_str())
            };
            app.post(
                "/v1/messages/inbound",
                json!({"channel": channel, "from": from, "body": format!("update {i}")}),
            )
        }));
        let ((s, merged), written) = tokio::join!(merge, writes);
        assert_eq!(s, 200, "round {round}: {merged}");
        for (s, v) in written {
            assert_eq!(s, 201, "round {round}: {v}");
        }
        let survivor = merged["id"].as_str().unwrap();
        let (_, page) = app
            .get(&format!("/v1/threads/{survivor}/messages?limit=100"))
            .await;
        assert_eq!(
            page["messages"].as_array().unwrap().len(),
            12,
            "round {round}: {page}"
        );
    }
    let (_, list) = app.get("/v1/threads").await;
    assert_eq!(list["counts"]["total"], 8);
}

/// Replies and follow-ups written to a thread while a merge folds it: each either lands (and
/// moves to the surviving thread) or finds the thread gone (404), never a 500.
async fn a_reply_racing_a_merge_is_kept_or_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    for round in 0..8 {
        let email = format!("lee{round}@example.com");
        let phone = format!("+1512555{:04}", 4000 + round);
        let unknown = one_customer_two_threads(&app, &email, &phone).await;
        let merge_path = format!("/v1/threads/{unknown}/customer");
        let reply_path = format!("/v1/threads/{unknown}/messages");
        let follow_path = format!("/v1/threads/{unknown}/follow-ups");
        let merge = app.post(
            &merge_path,
            json!({"name": format!("Lee {round}"), "email": email}),
        );
        let replies = futures::future::join_all((0..4).map(|i| {
            app.post(
                &reply_path,
                json!({"body": format!("on our way {i}"), "channel": "sms", "author": "Dana"}),
            )
        }));
        let follow_ups = futures::future::join_all((0..4).map(|_| {
            app.post(
                &follow_path,
                json!({"due_at": "2026-12-01T15:00:00Z", "note": "call back"}),
            )
        }));
        let ((s, merged), replies, follow_ups) = tokio::join!(merge, replies, follow_ups);
        assert_eq!(s, 200, "round {round}: {merged}");
        let kept = |written: &[(u16, Value)]| {
            for (s, v) in written {
                assert!(*s == 201 || *s == 404, "round {round}: {s} {v}");
            }
            written.iter().filter(|(s, _)| *s == 201).count()
        };
        let (replied, followed) = (kept(&replies), kept(&follow_ups));
        let survivor = merged["id"].as_str().unwrap();
        let (_, page) = app
            .get(&format!("/v1/threads/{survivor}/messages?limit=100"))
            .await;
        assert_eq!(
            page["messages"].as_array().unwrap().len(),
            2 + replied,
            "round {round}: {page}"
        );
        let (_, list) = app.get(&format!("/v1/threads/{survivor}/follow-ups")).await;
        assert_eq!(
            list["follow_ups"].as_array().unwrap().len(),
            followed,
            "round {round}: {list}"
        );
    }
}

async fn attention_tracks_unanswered_inbound(engine: Engine) {
    let app = spawn_app(engine).await;
    let (t, _) = app.sms("+15125550101", "can someone come today?").await;
    let (_, list) = app.get("/v1/threads?filter=attention").await;
    assert_eq!(list["counts"]["attention"], 1);
    assert_eq!(list["threads"][0]["id"], t.as_str());
    assert!(list["threads"][0]["waiting_since"].is_string());

    let (s, _) = app
        .post(
            &format!("/v1/threads/{t}/messages"),
            json!({"body": "Yes, 3 PM works", "channel": "sms", "author": "Dana"}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, list) = app.get("/v1/threads?filter=attention").await;
    assert_eq!(list["threads"].as_array().unwrap().len(), 0);
    assert_eq!(list["counts"]["attention"], 0);
    let (_, thread) = app.get(&format!("/v1/threads/{t}")).await;
    assert_eq!(thread["waiting_since"], json!(null));
    assert_eq!(thread["status"], "in_progress");

    // A new inbound puts it back; marking read takes it off again.
    app.sms("+15125550101", "great, see you").await;
    let (_, list) = app.get("/v1/threads?filter=attention").await;
    assert_eq!(list["threads"].as_array().unwrap().len(), 1);
    let (s, _) = app.post(&format!("/v1/threads/{t}/read"), json!({})).await;
    assert_eq!(s, 200);
    let (_, list) = app.get("/v1/threads?filter=attention").await;
    assert_eq!(list["threads"].as_array().unwrap().len(), 0);
}

async fn header_counts_stay_exact_across_compaction(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app
        .store
        .authenticate(&app.key)
        .await
        .unwrap()
        .expect("the test key resolves")
        .tenant_id;
    // More Attention changes than a read sums before it compacts (256), so the reads below
    // also start background folds that race with the explicit one.
    let mut threads = Vec::new();
    for i in 0..200 {
        let phone = format!("+1512555{i:04}");
        let (t, _) = app.sms(&phone, "is anyone there?").await;
        threads.push((phone, t));
    }
    for (_, t) in threads.iter().step_by(3) {
        let (s, _) = app.post(&format!("/v1/threads/{t}/read"), json!({})).await;
        assert_eq!(s, 200);
    }
    for (phone, _) in threads.iter().step_by(6) {
        app.sms(phone, "one more thing").await;
    }
    let waiting = |list: &serde_json::Value| list["counts"]["attention"].clone();
    // 200 new, 67 read, 34 of those back: 167 need attention.
    let (_, before) = app.get("/v1/threads?filter=attention&limit=200").await;
    assert_eq!(waiting(&before), 167);
    assert_eq!(before["threads"].as_array().unwrap().len(), 167);
    app.store.compact_thread_counts(&tenant).await.unwrap();
    let (_, after) = app.get("/v1/threads?filter=attention").await;
    assert_eq!(waiting(&after), 167);
    assert_eq!(after["counts"]["total"], 200);
    // Changes after the fold add to the folded totals.
    let (s, _) = app
        .post(&format!("/v1/threads/{}/read", threads[1].1), json!({}))
        .await;
    assert_eq!(s, 200);
    let (_, later) = app.get("/v1/threads").await;
    assert_eq!(waiting(&later), 166);
}

async fn blocked_sender_is_stored_but_never_raises_attention(engine: Engine) {
    let app = spawn_app(engine).await;
    let (t, _) = app.sms("+15125550102", "WIN a free cruise!!!").await;
    let (s, thread) = app.post(&format!("/v1/threads/{t}/block"), json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(thread["blocked"], true);
    assert_eq!(thread["needs_attention"], false);
    let (t2, m2) = app.sms("+15125550102", "claim your prize now").await;
    assert_eq!(t, t2);
    let (_, page) = app.get(&format!("/v1/threads/{t}/messages")).await;
    let last = &page["messages"][1];
    assert_eq!(last["id"], m2.as_str());
    assert_eq!(last["sender_blocked"], true);
    let (_, list) = app.get("/v1/threads?filter=attention").await;
    assert_eq!(list["counts"]["attention"], 0);
    let (s, thread) = app
        .post(&format!("/v1/threads/{t}/unblock"), json!({}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(thread["blocked"], false);
}

async fn all_lists_pinned_first_then_newest_with_counts(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, _) = app.sms("+15125550110", "first").await;
    let (b, _) = app.sms("+15125550111", "second").await;
    let (c, _) = app.sms("+15125550112", "third").await;
    let (s, _) = app.post(&format!("/v1/threads/{a}/pin"), json!({})).await;
    assert_eq!(s, 200);
    let (_, list) = app.get("/v1/threads?filter=all").await;
    let ids: Vec<&str> = list["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str(), c.as_str(), b.as_str()]);
    assert_eq!(
        list["counts"],
        json!({"total": 3, "attention": 3, "drafts": 0})
    );
    assert_eq!(list["threads"][0]["pinned"], true);
    assert_eq!(list["threads"][1]["last_message"]["body"], "third");
    let (_, list) = app.post(&format!("/v1/threads/{a}/unpin"), json!({})).await;
    assert_eq!(list["pinned"], false);
}

async fn active_excludes_resolved_threads(engine: Engine) {
    let app = spawn_app(engine).await;
    let (open, _) = app.sms("+15125550120", "need a quote").await;
    let (done, _) = app.sms("+15125550121", "thanks!").await;
    let (s, v) = app
        .send(
            Method::PATCH,
            &format!("/v1/threads/{done}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "resolved");
    // Old history: a message from two months ago is not active.
    let (s, _) = app
        .post(
            "/v1/messages/inbound",
            json!({"channel": "sms", "from": "+15125550122", "body": "old",
                   "received_at": "2026-01-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, list) = app.get("/v1/threads?filter=active").await;
    let ids: Vec<&str> = list["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![open.as_str()]);
    // A new message reopens a resolved thread.
    app.sms("+15125550121", "actually, one more thing").await;
    let (_, thread) = app.get(&format!("/v1/threads/{done}")).await;
    assert_eq!(thread["status"], "new");
}

async fn drafts_filter_and_new_inbound_makes_drafts_stale(engine: Engine) {
    let app = spawn_app(engine).await;
    let (t, _) = app.sms("+15125550130", "when can you come?").await;
    let tenant = app
        .store
        .authenticate(&app.key)
        .await
        .unwrap()
        .unwrap()
        .tenant_id;
    let draft = app
        .store
        .create_draft(
            &tenant,
            &t,
            &NewDraft {
                goal: "propose 3 PM Tuesday".into(),
                text: "Hi! Would 3 PM Tuesday work?".into(),
                language: Some("en".into()),
                flags: vec![],
            },
        )
        .await
        .unwrap();
    let (_, list) = app.get("/v1/threads?filter=drafts").await;
    assert_eq!(list["threads"].as_array().unwrap().len(), 1);
    assert_eq!(list["counts"]["drafts"], 1);

    app.sms("+15125550130", "actually mornings are better")
        .await;
    let (_, stale) = app.get(&format!("/v1/drafts/{}", draft.id)).await;
    assert_eq!(stale["status"], "stale");
    assert!(stale["stale_reason"]
        .as_str()
        .unwrap()
        .contains("new message"));
    let (_, list) = app.get("/v1/threads?filter=drafts").await;
    assert_eq!(list["counts"]["drafts"], 0);
    let (s, err) = app
        .post(
            &format!("/v1/drafts/{}/send", draft.id),
            json!({"author": "Dana"}),
        )
        .await;
    assert_eq!(s, 409, "{err}");

    // A fresh draft is sent edited: the outbound message records its author.
    let fresh = app
        .store
        .create_draft(
            &tenant,
            &t,
            &NewDraft {
                goal: "propose 9 AM Wednesday".into(),
                text: "Would 9 AM Wednesday work?".into(),
                language: Some("en".into()),
                flags: vec![],
            },
        )
        .await
        .unwrap();
    let (s, sent) = app
        .post(
            &format!("/v1/drafts/{}/send", fresh.id),
            json!({"author": "Dana", "body": "Would 9 AM Wednesday work for you?"}),
        )
        .await;
    assert_eq!(s, 200, "{sent}");
    assert_eq!(sent["direction"], "outbound");
    assert_eq!(sent["author"], "Dana");
    assert_eq!(sent["body"], "Would 9 AM Wednesday work for you?");
    let (_, thread) = app.get(&format!("/v1/threads/{t}")).await;
    assert_eq!(thread["needs_attention"], false);
    let (s, discarded) = app
        .send(Method::DELETE, &format!("/v1/drafts/{}", draft.id), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(discarded["status"], "discarded");
}

async fn attention_orders_by_urgency_then_longest_wait(engine: Engine) {
    let app = spawn_app(engine).await;
    let ingest = |from: &'static str, at: &'static str, body: &'static str| {
        let app = &app;
        async move {
            let (s, v) = app
                .post(
                    "/v1/messages/inbound",
                    json!({"channel": "sms", "from": from, "body": body, "received_at": at}),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            (
                v["thread_id"].as_str().unwrap().to_string(),
                v["message"]["id"].as_str().unwrap().to_string(),
            )
        }
    };
    let (old_normal, _) = ingest("+15125550140", "2026-11-23T05:00:00Z", "quote please").await;
    let (new_normal, _) = ingest("+15125550141", "2026-11-23T06:00:00Z", "booking?").await;
    let (emergency, msg) = ingest(
        "+15125550143",
        "2026-11-23T06:47:00Z",
        "AC stopped overnight, two kids at home",
    )
    .await;
    app.store
        .store_classification(
            &msg,
            &Classified {
                tags: vec![TagScore {
                    id: "booking_request".into(),
                    score: 0.9,
                }],
                urgency: Urgency::Emergency,
                language: Some("en".into()),
                language_confidence: Some(0.9),
            },
        )
        .await
        .unwrap();
    let (_, list) = app.get("/v1/threads?filter=attention").await;
    let ids: Vec<&str> = list["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![emergency.as_str(), old_normal.as_str(), new_normal.as_str()]
    );
    assert_eq!(list["threads"][0]["urgency"], "emergency");
    assert_eq!(list["threads"][0]["tags"], json!(["booking_request"]));
    assert_eq!(list["threads"][0]["language"], "en");
}

async fn thread_language_is_sticky(engine: Engine) {
    let app = spawn_app(engine).await;
    let from = "+15125550150";
    let classify = |thread: String, msg: String, language: &'static str, confidence: f32| {
        let app = &app;
        async move {
            // Let the triage worker classify it first, or its result lands after ours and
            // replaces the confidence this test sets.
            for _ in 0..400 {
                let (_, page) = app.get(&format!("/v1/threads/{thread}/messages")).await;
                let triaged = page["messages"].as_array().is_some_and(|all| {
                    all.iter()
                        .any(|m| m["id"] == msg.as_str() && !m["urgency"].is_null())
                });
                if triaged {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            app.store
                .store_classification(
                    &msg,
                    &Classified {
                        tags: vec![],
                        urgency: Urgency::Normal,
                        language: Some(language.into()),
                        language_confidence: Some(confidence),
                    },
                )
                .await
                .unwrap();
        }
    };
    let language = |thread: String| {
        let app = &app;
        async move { app.get(&format!("/v1/threads/{thread}")).await.1["language"].clone() }
    };
    let (t, m) = app
        .sms(
            from,
            "Hola, el aire acondicionado no enfría desde ayer, pueden venir",
        )
        .await;
    classify(t.clone(), m, "es", 0.95).await;
    assert_eq!(language(t.clone()).await, "es");
    // A short reply in another language, then one decisive one, leave it alone…
    let (_, m) = app.sms(from, "ok thx").await;
    classify(t.clone(), m, "en", 0.7).await;
    let (_, m) = app.sms(from, "Thanks, see you tomorrow").await;
    classify(t.clone(), m, "en", 0.8).await;
    assert_eq!(language(t.clone()).await, "es");
    // …a second decisive one in a row flips it.
    let (_, m) = app.sms(from, "Please call when you are on the way").await;
    classify(t.clone(), m, "en", 0.8).await;
    assert_eq!(language(t).await, "en");
}

async fn cursor_pagination_visits_every_thread_once(engine: Engine) {
    let app = spawn_app(engine).await;
    for i in 0..7 {
        app.sms(&format!("+1512555{:04}", 200 + i), "hello").await;
    }
    // Triage re-ranks Attention as it lands; page through a settled order.
    for _ in 0..100 {
        let (_, page) = app.get("/v1/threads?filter=all&limit=50").await;
        let threads = page["threads"].as_array().cloned().unwrap_or_default();
        if threads.len() == 7 && threads.iter().all(|t| !t["urgency"].is_null()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for filter in ["all", "attention"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/threads?filter={filter}&limit=3&cursor={c}"),
                None => format!("/v1/threads?filter={filter}&limit=3"),
            };
            let (s, page) = app.get(&path).await;
            assert_eq!(s, 200, "{page}");
            for t in page["threads"].as_array().unwrap() {
                seen.push(t["id"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(seen.len(), 7, "{filter}");
        assert_eq!(unique.len(), 7, "{filter}");
    }
}

async fn search_matches_name_phone_email_and_body(engine: Engine) {
    let app = spawn_app(engine).await;
    let (maria, _) = app.sms("+15125550100", "the water heater is leaking").await;
    app.post(
        &format!("/v1/threads/{maria}/customer"),
        json!({"name": "María Lopez", "email": "maria.lopez@example.com"}),
    )
    .await;
    let (other, _) = app
        .sms("+17375550199", "furnace makes a banging noise")
        .await;
    let find = |q: &'static str| {
        let app = &app;
        async move {
            let (s, v) = app
                .client
                .get(app.url("/v1/threads"))
                .bearer_auth(&app.key)
                .query(&[("q", q)])
                .send()
                .await
                .map(|r| (r.status().as_u16(), r))
                .unwrap();
            assert_eq!(s, 200);
            let v: serde_json::Value = v.json().await.unwrap();
            v["threads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("(512) 555-0100").await, vec![maria.clone()]);
    assert_eq!(find("5125550100").await, vec![maria.clone()]);
    assert_eq!(find("+1 512 555 0100").await, vec![maria.clone()]);
    assert_eq!(find("maria.lopez@example.com").await, vec![maria.clone()]);
    assert_eq!(find("lopez").await, vec![maria.clone()]);
    assert_eq!(find("leak").await, vec![maria.clone()]);
    assert_eq!(find("banging").await, vec![other.clone()]);
    assert!(find("dishwasher").await.is_empty());
    // Query syntax characters are plain text, never an error.
    assert!(find("\"OR* NEAR(( -- ;").await.is_empty());
}

/// The ids of a thread page's threads, in order.
fn thread_ids(page: &Value) -> Vec<String> {
    page["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

/// How many of a tenant's ingested messages one bucket of the message search index holds:
/// PostgreSQL's (migrations/postgres/…_bucketed_search.sql) and SQLite's (src/store/search.rs).
const POSTGRES_SEARCH_BUCKET: i64 = 8_192;
const SQLITE_SEARCH_BUCKET: i64 = 65_536;

/// Moves the tenant's next message `n` search buckets on, as thousands of messages would.
async fn skip_search_buckets(app: &common::TestApp, n: i64) {
    use sqlx::Connection;
    let sql = "UPDATE tenants SET messages_ingested = messages_ingested + $1";
    if app.db.url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(sql)
            .bind(n * POSTGRES_SEARCH_BUCKET)
            .execute(&mut db)
            .await
            .unwrap();
    } else {
        let mut db = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(sql)
            .bind(n * SQLITE_SEARCH_BUCKET)
            .execute(&mut db)
            .await
            .unwrap();
    }
}

/// Both engines look for a word one bucket of messages at a time, newest first: the newest
/// matches are found past empty buckets and in a bucket where they are few, a reply is found
/// in the newest, an old message is still reached, and the word's prefix finds what the word
/// finds.
async fn search_finds_the_newest_matches_across_buckets(engine: Engine) {
    use futures::StreamExt;
    let app = spawn_app(engine).await;
    let (oldest, _) = app.sms("+15125559999", "furnace tag 88413").await;
    // More matches than a search looks at (500), over 300 customers.
    futures::stream::iter(0..600u32)
        .map(|i| {
            let app = &app;
            async move {
                app.sms(
                    &format!("+1512555{:04}", i % 300),
                    &format!("furnace noise again, visit {i}"),
                )
                .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    skip_search_buckets(&app, 2).await;
    for i in 0..5 {
        app.sms(&format!("+1512555{:04}", 500 + i), "the furnace again")
            .await;
    }
    for i in 0..20 {
        app.sms(&format!("+1512555{:04}", 600 + i), "dryer squeaks")
            .await;
    }
    skip_search_buckets(&app, 3).await;
    let mut water_heaters = Vec::new();
    for i in 0..10 {
        let (thread, _) = app
            .sms(&format!("+1512555{:04}", 700 + i), "water heater quote")
            .await;
        water_heaters.push(thread);
    }
    // A reply is indexed too, in the tenant's newest bucket.
    let (status, reply) = app
        .post(
            &format!("/v1/threads/{}/messages", water_heaters[0]),
            json!({"body": "We can look at the furnace too", "channel": "sms", "author": "Sam"}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");

    let (status, found) = app.get("/v1/threads?q=furnace&limit=20").await;
    assert_eq!(status, 200, "{found}");
    let (_, all) = app.get("/v1/threads?limit=100").await;
    // Both list newest first: the search lists the threads whose last message says "furnace".
    let expected: Vec<String> = all["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            let body = t["last_message"]["body"].as_str().unwrap();
            body.contains("furnace")
        })
        .map(|t| t["id"].as_str().unwrap().to_string())
        .take(20)
        .collect();
    assert_eq!(expected.len(), 20);
    assert_eq!(expected[0], water_heaters[0]);
    assert_eq!(thread_ids(&found), expected);
    let (_, prefix) = app.get("/v1/threads?q=furn&limit=20").await;
    assert_eq!(thread_ids(&prefix), expected);
    let (_, rare) = app.get("/v1/threads?q=furnace%20tag%2088413").await;
    assert_eq!(thread_ids(&rare), vec![oldest]);
}

/// PostgreSQL: new messages' words wait in the search indexes' pending lists, where searches
/// find them, and the server folds the lists into the indexes by itself.
#[tokio::test]
async fn postgres_search_index_pending_lists_are_found_and_folded_in() {
    use sqlx::{Connection, Row};
    let app = spawn_app(Engine::Postgres).await;
    let mut db = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    for index in ["messages_search", "contacts_search"] {
        let options: String = sqlx::query(
            "SELECT array_to_string(reloptions, ',') AS o FROM pg_class WHERE relname = $1",
        )
        .bind(index)
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("o");
        assert!(options.contains("fastupdate=on"), "{index}: {options}");
    }
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        .execute(&mut db)
        .await
        .unwrap();
    let mut threads = Vec::new();
    for i in 0..40 {
        let (thread, _) = app
            .sms(
                &format!("+1512555{:04}", 3000 + i),
                &format!("the crawlspace dehumidifier {i} is rattling"),
            )
            .await;
        threads.push(thread);
    }
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let (status, page) = app.get(&format!("/v1/threads?limit=50&q={q}")).await;
            assert_eq!(status, 200, "{page}");
            let mut found = thread_ids(&page);
            found.sort();
            found
        }
    };
    threads.sort();
    // found whether their words are still pending or folded in already
    assert_eq!(search("dehumidifier").await, threads);
    let pending = || async {
        let mut db = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(
            "SELECT ((SELECT pending_pages FROM pgstatginindex('messages_search')) \
               + (SELECT pending_pages FROM pgstatginindex('contacts_search')))::bigint AS n",
        )
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get::<i64, _>("n")
    };
    let mut waited = 0;
    while pending().await > 0 {
        waited += 1;
        assert!(waited < 400, "the pending lists were never folded in");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(search("dehumidifier").await, threads);
    assert_eq!(search("crawlspa").await, threads);
}

/// A pasted run of thousands of letters (a log, a key, a mangled attachment) is stored like any
/// message, and the message is found by its other words: PostgreSQL's index prefixes every word,
/// and a prefixed word past the 2 KB lexeme limit would have refused the message.
async fn a_message_with_an_overlong_word_is_stored_and_found(engine: Engine) {
    let app = spawn_app(engine).await;
    // Just under the limit alone, over it once prefixed; past it already; the longest kept.
    for (i, word) in ["x".repeat(2_040), "ạ".repeat(700), "y".repeat(199)]
        .iter()
        .enumerate()
    {
        let (status, body) = app
            .post(
                "/v1/messages/inbound",
                json!({
                    "channel": "email",
                    "from": format!("pasted{i}@example.com"),
                    "body": format!("drain leak {i}: {word} end"),
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, found) = app.get("/v1/threads?q=drain%20leak").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(thread_ids(&found).len(), 3, "{found}");
}

/// A search keeps the view's filter, order and cursor: paging through "leak" in Attention
/// visits exactly the threads that the unsearched Attention list shows with a leak, in its order.
async fn search_pages_within_a_filter(engine: Engine) {
    let app = spawn_app(engine).await;
    let mut leaks = Vec::new();
    for i in 0..7 {
        let (t, _) = app
            .sms(
                &format!("+1512555{:04}", 300 + i),
                &format!("pipe leak {i}"),
            )
            .await;
        leaks.push(t);
    }
    for i in 0..3 {
        app.sms(&format!("+1512555{:04}", 400 + i), "dryer squeaks")
            .await;
    }
    for t in &leaks[..2] {
        let (s, _) = app.post(&format!("/v1/threads/{t}/read"), json!({})).await;
        assert_eq!(s, 200);
    }
    // Triage re-ranks Attention as it lands; compare against a settled order.
    let mut expected = Vec::new();
    for _ in 0..100 {
        let (_, page) = app.get("/v1/threads?filter=attention&limit=50").await;
        let threads = page["threads"].as_array().cloned().unwrap_or_default();
        if threads.len() == 8 && threads.iter().all(|t| !t["urgency"].is_null()) {
            expected = thread_ids(&page)
                .into_iter()
                .filter(|id| leaks[2..].contains(id))
                .collect();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(expected.len(), 5);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    // Three pages hold the five; a cursor that did not advance would page on for ever.
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/v1/threads?filter=attention&q=leak&limit=2&cursor={c}"),
            None => "/v1/threads?filter=attention&q=leak&limit=2".to_string(),
        };
        let (s, page) = app.get(&path).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(thread_ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let (_, all) = app.get("/v1/threads?filter=all&q=leak&limit=50").await;
    assert_eq!(thread_ids(&all).len(), 7);
}

async fn messages_page_oldest_first_with_cursor(engine: Engine) {
    let app = spawn_app(engine).await;
    let mut thread = String::new();
    for i in 0..5 {
        let (t, _) = app.sms("+15125550150", &format!("message {i}")).await;
        thread = t;
    }
    let (_, page) = app
        .get(&format!("/v1/threads/{thread}/messages?limit=3"))
        .await;
    let bodies: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["message 2", "message 3", "message 4"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, older) = app
        .get(&format!(
            "/v1/threads/{thread}/messages?limit=3&before={cursor}"
        ))
        .await;
    let bodies: Vec<&str> = older["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["message 0", "message 1"]);
    assert_eq!(older["next_cursor"], json!(null));
}

async fn outbound_delivery_and_response_times(engine: Engine) {
    let app = spawn_app(engine).await;
    let (t, inbound) = app.sms("+15125550160", "is anyone there?").await;
    let (s, out) = app
        .post(
            &format!("/v1/threads/{t}/messages"),
            json!({"body": "Yes! How can we help?", "channel": "sms", "author": "Dana"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(out["delivery_status"], "queued");
    let id = out["id"].as_str().unwrap();
    let (s, m) = app
        .post(
            &format!("/v1/messages/{id}/delivery"),
            json!({"status": "delivered"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(m["delivery_status"], "delivered");
    let (s, m) = app
        .post(
            &format!("/v1/messages/{id}/delivery"),
            json!({"status": "failed", "error": "carrier rejected"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(m["delivery_error"], "carrier rejected");
    let (s, _) = app
        .post(
            &format!("/v1/messages/{inbound}/delivery"),
            json!({"status": "sent"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, stats) = app.get("/v1/stats/response-times?days=7").await;
    assert_eq!(s, 200);
    assert_eq!(stats["threads"], 1);
    assert!(stats["median_seconds"].as_f64().unwrap() >= 0.0);
    assert!(stats["p90_seconds"].as_f64().unwrap() < 60.0);
}

async fn follow_ups_are_created_and_listed(engine: Engine) {
    let app = spawn_app(engine).await;
    let (t, _) = app
        .sms("+15125550170", "call me next week about the quote")
        .await;
    let (s, f) = app
        .post(
            &format!("/v1/threads/{t}/follow-ups"),
            json!({"due_at": "2026-12-01T15:00:00Z", "note": "call about quote"}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    assert_eq!(f["due_at"], "2026-12-01T15:00:00Z");
    let (_, list) = app.get(&format!("/v1/threads/{t}/follow-ups")).await;
    assert_eq!(list["follow_ups"][0]["note"], "call about quote");
}

async fn source_is_kept_on_the_message(engine: Engine) {
    let app = spawn_app(engine).await;
    let (s, v) = app
        .post(
            "/v1/messages/inbound",
            json!({"channel": "email", "from": "lead@example.com", "body": "Need 3 rooms painted",
                   "source": "thumbtack", "name": "Ann Lee"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["message"]["source"], "thumbtack");
    let (_, thread) = app
        .get(&format!("/v1/threads/{}", v["thread_id"].as_str().unwrap()))
        .await;
    assert_eq!(thread["customer"]["name"], "Ann Lee");
}
