//! Seeds one tenant with a large synthetic inbox for load tests: `--threads` customers and
//! `--messages` inbound messages through the real ingest path, then replies to a share of them.
//!
//! cargo run --release --example seed -- --database-url sqlite://bench.db --threads 100000 --messages 1000000

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use parley::contact::Handle;
use parley::domain::{Channel, Role};
use parley::pipeline::triage::{drain_once, TenantTriage};
use parley::store::{InboundMessage, IngestQueue, OutboundMessage, Store};
use parley::triage::{Triage, TriageConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Connection;

#[derive(Parser)]
struct Args {
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://bench.db")]
    database_url: String,
    #[arg(long, default_value = "bench")]
    tenant: String,
    #[arg(long, default_value_t = 100_000)]
    threads: u64,
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Share of threads that get a reply (so they leave Attention).
    #[arg(long, default_value_t = 0.7)]
    answered: f64,
    /// Concurrent ingest callers; the writer batches whatever is queued into one commit.
    #[arg(long, default_value_t = 256)]
    concurrency: u64,
}

const OPENERS: &[&str] = &[
    "Hi, my AC is blowing warm air since this morning",
    "Can I get a quote to replace a 50 gallon water heater",
    "The kitchen sink is draining really slow again",
    "Need to move Thursday's appointment to Friday if possible",
    "I was charged twice for the last visit, invoice",
    "Do you service Round Rock and Pflugerville",
    "thank you so much, the tech was great",
    "breaker keeps tripping when the dryer runs",
    "furnace makes a banging noise when it kicks on",
    "Is Mike still coming today? nobody showed up yet",
    "Hola, necesito una cotización para limpiar la casa",
    "Máy lạnh nhà tôi không chạy, khi nào thợ tới được",
];

fn phone(i: u64) -> String {
    // 10,000 numbers per area code across 10 real Texas area codes, always valid in NANP.
    let area = [512, 737, 210, 214, 469, 713, 281, 832, 817, 972][(i / 10_000 % 10) as usize];
    let exchange = 200 + (i / 100_000) % 700;
    format!("+1{area}{exchange:03}{:04}", i % 10_000)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = Store::connect(&args.database_url)
        .await
        .context("connect")?;
    let key = store.create_key(&args.tenant, Role::Agent).await?;
    let tenant_id = store
        .authenticate(&key)
        .await?
        .context("fresh key must resolve")?
        .tenant_id;
    let queue = IngestQueue::start(store.clone());
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let base_time = chrono::Utc::now().timestamp_millis() - 60 * 24 * 3600 * 1000;

    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let queue = queue.clone();
        let tenant_id = tenant_id.clone();
        let done = done.clone();
        let (threads, messages, concurrency) = (args.threads, args.messages, args.concurrency);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(worker);
            let mut n = worker;
            while n < messages {
                // Message n goes to thread n % threads, so every thread gets ~messages/threads.
                let thread = n % threads;
                let opener = OPENERS[(thread as usize + n as usize) % OPENERS.len()];
                let body = format!("{opener} (ref {n}, unit {})", rng.random_range(1000..9999));
                let msg = InboundMessage {
                    channel: if n % 5 == 0 {
                        Channel::Email
                    } else {
                        Channel::Sms
                    },
                    from: Handle::Phone(phone(thread)),
                    body,
                    external_id: Some(format!("seed-{n}")),
                    // Spread over 60 days, in message order.
                    received_at: Some(
                        base_time + (n as i64) * (60 * 24 * 3600 * 1000 / messages as i64),
                    ),
                    name: (thread % 3 != 0).then(|| format!("Customer {thread}")),
                    source: None,
                };
                queue.ingest(&tenant_id, msg).await?;
                let total = done.fetch_add(1, Ordering::Relaxed) + 1;
                if total.is_multiple_of(100_000) {
                    eprintln!("{total} messages");
                }
                n += concurrency;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "ingested {} messages in {ingest_secs:.1}s ({:.0} msg/s)",
        args.messages,
        args.messages as f64 / ingest_secs
    );

    // Reply to a share of threads so Attention holds a realistic backlog.
    let page = store
        .list_threads(
            &tenant_id,
            &parley::store::ThreadQuery {
                filter: parley::store::ThreadFilter::All,
                q: None,
                limit: args.threads as i64,
                cursor: None,
            },
        )
        .await?;
    let to_answer = (page.threads.len() as f64 * args.answered) as usize;
    for thread in page.threads.iter().take(to_answer) {
        let out = OutboundMessage {
            body: "Thanks for reaching out, we will be there tomorrow between 9 and 11.".into(),
            channel: Channel::Sms,
            author: "seed".into(),
        };
        store.record_outbound(&tenant_id, &thread.id, &out).await?;
    }
    eprintln!(
        "answered {to_answer} threads; total {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // A live inbox has triaged its messages as they came in. Triage the seed here, through the
    // worker's own path, so the load run measures a settled inbox instead of one whose triage
    // backlog competes with the requests for the cores and the writer.
    let triage_started = Instant::now();
    let triage = TenantTriage::new(Arc::new(Triage::new(TriageConfig::default())?));
    let triaged = drain_once(&store, &triage).await?;
    let triage_secs = triage_started.elapsed().as_secs_f64();
    eprintln!(
        "triaged {triaged} messages in {triage_secs:.1}s ({:.0} msg/s)",
        triaged as f64 / triage_secs
    );
    // A live PostgreSQL has autovacuum keep its planner statistics. These machines run it with
    // autovacuum off, and without statistics the planner reads a tenant's whole inbox to sort
    // it where an ordered index walk would stop after a few rows: gather them once here.
    if args.database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&args.database_url).await?;
        sqlx::Executor::execute(&mut conn, "ANALYZE").await?;
        eprintln!("analyzed");
    }
    println!("{key}");
    Ok(())
}
