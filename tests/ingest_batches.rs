//! Ingests that share one group commit are written set-wise; a batch must leave the store as
//! the same messages written one by one would.

mod common;

use chrono::{TimeZone, Utc};
use common::{fresh_database, Engine, TestDb};
use futures::future::join_all;
use parley::contact::Handle;
use parley::domain::{Channel, DraftStatus, Role};
use parley::store::{InboundMessage, IngestQueue, NewDraft, Store, ThreadFilter, ThreadQuery};

on_both_engines!(
    one_batch_reads_as_messages_one_by_one,
    a_refused_message_fails_alone,
);

fn sms(from: &str, body: &str, external_id: Option<&str>, at_minute: u32) -> InboundMessage {
    InboundMessage {
        channel: Channel::Sms,
        from: Handle::parse(from).expect("phone"),
        body: body.to_string(),
        external_id: external_id.map(str::to_string),
        received_at: Some(
            Utc.with_ymd_and_hms(2026, 11, 20, 6, at_minute, 0)
                .unwrap()
                .timestamp_millis(),
        ),
        name: None,
        source: None,
    }
}

fn email(from: &str, body: &str, at_minute: u32) -> InboundMessage {
    InboundMessage {
        channel: Channel::Email,
        ..sms(from, body, None, at_minute)
    }
}

/// A fresh store with one tenant, and an ingest queue on it; the database lives as long as the
/// first value.
async fn one_tenant(engine: Engine) -> (TestDb, Store, String, IngestQueue) {
    let db = fresh_database(engine).await;
    let store = Store::connect(&db.url).await.expect("connect");
    let key = store
        .create_key("Acme HVAC", Role::Agent)
        .await
        .expect("key");
    let tenant = store
        .authenticate(&key)
        .await
        .expect("auth")
        .expect("principal")
        .tenant_id;
    let queue = IngestQueue::start(store.clone());
    (db, store, tenant, queue)
}

async fn one_batch_reads_as_messages_one_by_one(engine: Engine) {
    let (_db, store, tenant, queue) = one_tenant(engine).await;

    // Earlier batches: a customer with a pending draft, a blocked sender, one stored message.
    let drafted = queue
        .ingest(
            &tenant,
            sms("+15125550101", "need a quote", Some("old-1"), 1),
        )
        .await
        .expect("ingest");
    let draft = store
        .create_draft(
            &tenant,
            &drafted.thread_id,
            &NewDraft {
                goal: "quote".into(),
                text: "Hi, a tune-up is $89.".into(),
                language: Some("en".into()),
                flags: Vec::new(),
            },
        )
        .await
        .expect("draft");
    let blocked = queue
        .ingest(&tenant, sms("+15125550102", "spam", None, 2))
        .await
        .expect("ingest");
    store
        .set_blocked(&tenant, &blocked.thread_id, true)
        .await
        .expect("block");
    let unnamed = queue
        .ingest(&tenant, email("pat@example.com", "do you do ducts?", 3))
        .await
        .expect("ingest");

    // One batch: the current-thread runtime queues every job before the writer task runs.
    let mut named = sms("+15125550103", "it's Dana by the way", None, 40);
    named.name = Some("Dana".into());
    let batch = vec![
        sms("+15125550103", "AC is out", Some("new-1"), 47),
        named,
        sms("+15125550103", "still hot in here", None, 45),
        sms("+15125550103", "AC is out", Some("new-1"), 47),
        sms("+15125550101", "need a quote", Some("old-1"), 1),
        sms("+15125550101", "any news?", None, 50),
        sms("+15125550102", "more spam", None, 51),
        InboundMessage {
            name: Some("Pat Okafor".into()),
            ..email("pat@example.com", "also the attic", 52)
        },
    ];
    let results: Vec<_> = join_all(batch.into_iter().map(|m| queue.ingest(&tenant, m)))
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("batch");

    let created: Vec<bool> = results.iter().map(|r| r.created).collect();
    assert_eq!(created, [true, true, true, false, false, true, true, true]);
    assert_eq!(results[3].message.id, results[0].message.id);
    assert_eq!(results[4].message.id, drafted.message.id);
    let new_thread = &results[0].thread_id;
    assert!(results[..4].iter().all(|r| &r.thread_id == new_thread));

    // The new sender: one thread, named by its second message, waiting since its earliest
    // message, its latest message last.
    let thread = store.get_thread(&tenant, new_thread).await.expect("thread");
    assert_eq!(thread.customer.name.as_deref(), Some("Dana"));
    assert!(thread.customer.id.is_some(), "a named sender is a customer");
    assert!(thread.needs_attention);
    assert_eq!(
        thread.waiting_since,
        Some(Utc.with_ymd_and_hms(2026, 11, 20, 6, 40, 0).unwrap())
    );
    assert_eq!(
        thread.last_activity_at,
        Utc.with_ymd_and_hms(2026, 11, 20, 6, 47, 0).unwrap()
    );
    assert_eq!(
        thread.last_message.map(|m| m.body).as_deref(),
        Some("AC is out")
    );
    let page = store
        .list_messages(&tenant, new_thread, None, 50)
        .await
        .expect("messages");
    assert_eq!(
        page.messages.len(),
        3,
        "the repeated external_id is stored once"
    );

    // The customer with a draft: it went stale, naming the new message.
    let thread = store
        .get_thread(&tenant, &drafted.thread_id)
        .await
        .expect("thread");
    assert_eq!(thread.pending_drafts, 0);
    assert_eq!(
        thread.last_message.map(|m| m.body).as_deref(),
        Some("any news?")
    );
    let page = store
        .list_messages(&tenant, &drafted.thread_id, None, 50)
        .await
        .expect("messages");
    assert_eq!(page.messages.len(), 2);
    let draft = store.get_draft(&tenant, &draft.id).await.expect("draft");
    assert_eq!(draft.status, DraftStatus::Stale);
    let reason = draft.stale_reason.unwrap_or_default();
    assert!(reason.contains(&results[5].message.id), "{reason}");

    // The blocked sender: stored and flagged, no Attention.
    assert!(results[6].message.sender_blocked);
    let thread = store
        .get_thread(&tenant, &blocked.thread_id)
        .await
        .expect("thread");
    assert!(!thread.needs_attention);
    assert_eq!(thread.last_message.map(|m| m.body).as_deref(), Some("spam"));

    // The known sender named by this batch: a customer now, found by the new name.
    assert_eq!(results[7].thread_id, unnamed.thread_id);
    let thread = store
        .get_thread(&tenant, &unnamed.thread_id)
        .await
        .expect("thread");
    assert_eq!(thread.customer.name.as_deref(), Some("Pat Okafor"));
    assert!(thread.customer.id.is_some(), "a named sender is a customer");
    let found = store
        .list_threads(
            &tenant,
            &ThreadQuery {
                filter: ThreadFilter::All,
                q: Some("okafor".into()),
                limit: 10,
                cursor: None,
            },
        )
        .await
        .expect("search");
    let found: Vec<&str> = found.threads.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(found, [unnamed.thread_id.as_str()]);

    let counts = store.thread_counts(&tenant).await.expect("counts");
    assert_eq!((counts.total, counts.attention, counts.drafts), (4, 3, 0));
}

/// PostgreSQL refuses text with a NUL character, failing the batch's one statement; the
/// writer then retries each message on its own, so only that message fails.
async fn a_refused_message_fails_alone(engine: Engine) {
    let (_db, store, tenant, queue) = one_tenant(engine).await;

    // One batch: the current-thread runtime queues every job before the writer task runs.
    let batch = vec![
        sms("+15125550101", "AC is out", Some("a"), 1),
        sms("+15125550102", "pasted \u{0} junk", Some("b"), 2),
        sms("+15125550103", "need a quote", Some("c"), 3),
    ];
    let results = join_all(batch.into_iter().map(|m| queue.ingest(&tenant, m))).await;
    let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
    match engine {
        Engine::Sqlite => assert_eq!(ok, [true, true, true]),
        Engine::Postgres => {
            assert_eq!(ok, [true, false, true]);
            let err = results[1].as_ref().err().map(ToString::to_string);
            assert!(err.unwrap_or_default().contains("NUL"));
        }
    }
    let counts = store.thread_counts(&tenant).await.expect("counts");
    let stored = ok.iter().filter(|&&ok| ok).count() as i64;
    assert_eq!(counts.total, stored);
}

/// PostgreSQL: the writer keeps its connection from one batch to the next. When the server
/// drops it, the batch that finds out is retried on a new connection, and nothing is lost.
#[tokio::test]
async fn postgres_writer_outlives_its_connection() {
    use sqlx::Connection;
    let (db, store, tenant, queue) = one_tenant(Engine::Postgres).await;
    queue
        .ingest(&tenant, sms("+15125550101", "AC is out", Some("a"), 1))
        .await
        .expect("first ingest");

    let mut admin = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let killed: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("the store's connections");
    assert!(!killed.is_empty(), "the store's connections were found");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid")
        .bind(&killed)
        .execute(&mut admin)
        .await
        .expect("terminate");
    // gone, not just signalled, so that the next batch meets a closed connection
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
        .bind(&killed)
        .fetch_one(&mut admin)
        .await
        .expect("activity")
        > 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let batch = vec![
        sms("+15125550102", "need a quote", Some("b"), 2),
        sms("+15125550103", "water heater leaking", Some("c"), 3),
    ];
    for result in join_all(batch.into_iter().map(|m| queue.ingest(&tenant, m))).await {
        result.expect("ingest after the connection dropped");
    }
    let counts = store.thread_counts(&tenant).await.expect("counts");
    assert_eq!(counts.total, 3);
}

/// PostgreSQL: the writer gives the connection it keeps between batches back to the pool once
/// ingests stop coming, where the pool's checks and time limits apply to it again.
#[tokio::test]
async fn postgres_writer_gives_its_connection_back_when_idle() {
    let (_db, store, tenant, queue) = one_tenant(Engine::Postgres).await;
    queue
        .ingest(&tenant, sms("+15125550101", "AC is out", Some("a"), 1))
        .await
        .expect("ingest");
    // a guard against waiting for ever, not a measure of speed
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while store.connections_in_use() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every connection back in the pool while the queue is open");
    drop(queue);
}
