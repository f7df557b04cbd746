//! End-to-end draft latency over HTTP against a running `parley serve`: time to the first token
//! and to the finished draft, cold and with the thread prefilled when its message landed.
//!
//! ```text
//! parley serve --model qwen2.5-coder-1.5b-instruct &          # a fresh database
//! KEY=$(parley keys create --tenant latency --role operator | tail -1)
//! cargo run --example draft_latency -- --key $KEY --label 1.5b
//! ```
//!
//! Every case of the suite (English, threads of at most `--max-messages`) is drafted twice:
//! - *cold*: `POST /v1/compose` with the case as given; nothing of it is in the model's cache.
//! - *warm*: the voice is set, the thread ingested over the inbox API (which prefills it in the
//!   background), the tool waits for those prefills on `/metrics`, then asks
//!   `POST /v1/threads/{id}/drafts`. Only the goal line is left to prefill.
//!
//! The cold pass runs first, and the warm pass ingests with the current time instead of the
//! case's timestamps, so the warm prompt shares only the business's instructions with any
//! cold one and cannot ride on its cache.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures::StreamExt;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An operator key (the warm pass sets the tenant's voice).
    #[arg(long, env = "PARLEY_KEY")]
    key: String,
    #[arg(long, default_value = "evals/drafts/dev.jsonl")]
    suite: PathBuf,
    #[arg(long, default_value = "en")]
    language: String,
    #[arg(long, default_value_t = 6)]
    max_messages: usize,
    /// Stop after this many cases.
    #[arg(long)]
    limit: Option<usize>,
    /// Name of the model tier in the report.
    #[arg(long, default_value = "")]
    label: String,
    /// Which passes to run.
    #[arg(long, value_delimiter = ',', default_value = "cold,warm")]
    passes: Vec<String>,
    /// Longest wait for a thread's prefills before drafting anyway (and saying so).
    #[arg(long, default_value_t = 120)]
    prefill_timeout_s: u64,
}

struct Case {
    id: String,
    raw: Value,
}

/// One draft as the client saw it.
struct Timing {
    ttft_ms: f64,
    total_ms: f64,
    retries: u32,
    words: usize,
    flags: Vec<String>,
    text: String,
}

fn load(args: &Args) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(&args.suite)
        .with_context(|| format!("reading {}", args.suite.display()))?;
    let mut cases = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let raw: Value = serde_json::from_str(line)?;
        let language = raw["language"].as_str().unwrap_or("en");
        let thread = raw["thread"].as_array().map_or(0, Vec::len);
        let turns = raw["thread"].as_array();
        let inbound = |m: Option<&Value>| m.is_some_and(|m| m["direction"] == "inbound");
        // The inbox opens a thread with the customer's message, and a draft answers one (the
        // warm pass prefills on inbound messages only).
        let answerable =
            inbound(turns.and_then(|t| t.first())) && inbound(turns.and_then(|t| t.last()));
        if language == args.language && thread <= args.max_messages && answerable {
            let id = raw["id"].as_str().unwrap_or("?").to_string();
            cases.push(Case { id, raw });
        }
    }
    if let Some(n) = args.limit {
        cases.truncate(n);
    }
    if cases.is_empty() {
        bail!("no {} cases in {}", args.language, args.suite.display());
    }
    Ok(cases)
}

struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let res = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await?;
        let status = res.status();
        let value: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {value}");
        }
        Ok(value)
    }

    /// Posts and reads the SSE stream to its `done` event.
    async fn stream(&self, path: &str, body: &Value) -> anyhow::Result<Timing> {
        let started = Instant::now();
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .header("accept", "text/event-stream")
            .json(body)
            .send()
            .await?;
        if !res.status().is_success() {
            let status = res.status();
            bail!("{path}: {status} {}", res.text().await.unwrap_or_default());
        }
        let mut bytes = res.bytes_stream();
        let mut buf = String::new();
        // The pipeline sends the reply's opening ("Hi Heather,") before the model runs; the
        // time to the first token is the time to the model's first, the event after it.
        let mut token_events = Vec::new();
        let mut retries = 0;
        while let Some(chunk) = bytes.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk?));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let (event, data) = parse_frame(&frame);
                match event.as_str() {
                    "token" if token_events.len() < 2 => token_events.push(ms(started.elapsed())),
                    "retry" => retries += 1,
                    "done" => {
                        let done: Value = serde_json::from_str(&data)?;
                        let text = done["text"].as_str().unwrap_or_default().to_string();
                        return Ok(Timing {
                            ttft_ms: token_events.last().copied().unwrap_or(f64::NAN),
                            total_ms: ms(started.elapsed()),
                            retries,
                            words: text.split_whitespace().count(),
                            flags: done["flags"]
                                .as_array()
                                .map(|f| {
                                    f.iter()
                                        .map(|v| match v.as_str() {
                                            Some(s) => s.to_string(),
                                            None => v["check"].as_str().unwrap_or("?").to_string(),
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                            text,
                        });
                    }
                    "error" => bail!("{path}: {data}"),
                    _ => {}
                }
            }
        }
        bail!("{path}: the stream ended without a done event")
    }

    /// The server's count of finished prefills.
    async fn prefills(&self) -> anyhow::Result<u64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("parley_llm_prefills_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64))
    }
}

fn parse_frame(frame: &str) -> (String, String) {
    let mut event = String::from("message");
    let mut data = Vec::new();
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    (event, data.join("\n"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn cold(client: &Client, case: &Case) -> anyhow::Result<Timing> {
    let c = &case.raw;
    let body = json!({
        "business": c["business"],
        "customer": c["customer"],
        "thread": c["thread"],
        "goal": c["goal"],
        "language": c["language"],
    });
    client.stream("/v1/compose", &body).await
}

async fn warm(
    client: &Client,
    case: &Case,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<(Timing, bool)> {
    let c = &case.raw;
    let business = &c["business"];
    client
        .send(
            reqwest::Method::PUT,
            "/v1/settings/voice",
            &json!({
                "name": business["name"],
                "tone": business["voice"].as_str().unwrap_or("friendly and concise"),
                "technicians": business.get("technicians").cloned().unwrap_or(json!([])),
            }),
        )
        .await?;
    let before = client.prefills().await?;
    // A new number per case so each case is its own thread.
    let phone = format!("+1512{:03}{:04}", 200 + (n / 10_000) % 700, n % 10_000);
    let mut thread_id = String::new();
    let mut inbound = 0;
    for (i, m) in c["thread"].as_array().into_iter().flatten().enumerate() {
        if m["direction"] == "inbound" {
            let res = client
                .send(
                    reqwest::Method::POST,
                    "/v1/messages/inbound",
                    &json!({
                        "channel": m["channel"],
                        "from": phone,
                        "name": c["customer"]["name"],
                        "body": m["text"],
                        "external_id": format!("latency-{}-{n}-{i}", case.id),
                    }),
                )
                .await?;
            thread_id = res["thread_id"].as_str().unwrap_or_default().to_string();
            inbound += 1;
        } else {
            if thread_id.is_empty() {
                bail!("{}: the thread starts with an outbound message", case.id);
            }
            client
                .send(
                    reqwest::Method::POST,
                    &format!("/v1/threads/{thread_id}/messages"),
                    &json!({"body": m["text"], "channel": m["channel"], "author": "office"}),
                )
                .await?;
        }
    }
    let deadline = Instant::now() + timeout;
    let mut warmed = true;
    while client.prefills().await? < before + inbound {
        if Instant::now() > deadline {
            warmed = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let timing = client
        .stream(
            &format!("/v1/threads/{thread_id}/drafts"),
            &json!({"goal": c["goal"]}),
        )
        .await?;
    Ok((timing, warmed))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(label: &str, pass: &str, timings: &[Timing]) -> String {
    let mut ttft: Vec<f64> = timings
        .iter()
        .map(|t| t.ttft_ms)
        .filter(|v| v.is_finite())
        .collect();
    let mut total: Vec<f64> = timings.iter().map(|t| t.total_ms).collect();
    ttft.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    let retried = timings.iter().filter(|t| t.retries > 0).count();
    let flagged = timings.iter().filter(|t| !t.flags.is_empty()).count();
    let mut words: Vec<f64> = timings.iter().map(|t| t.words as f64).collect();
    words.sort_by(f64::total_cmp);
    format!(
        "| {label} | {pass} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {retried} | {flagged} | {:.0} |",
        timings.len(),
        percentile(&ttft, 50.0),
        percentile(&ttft, 95.0),
        percentile(&total, 50.0),
        percentile(&total, 95.0),
        percentile(&words, 50.0),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cases = load(&args)?;
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?,
        url: args.url.trim_end_matches('/').to_string(),
        key: args.key.clone(),
    };
    let timeout = Duration::from_secs(args.prefill_timeout_s);
    // A unique run number keeps external ids and phone numbers apart across runs on one database.
    let run = (chrono::Utc::now().timestamp() % 1000) as usize * 100;
    let mut rows = Vec::new();
    for pass in &args.passes {
        let mut timings = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            let (t, note) = match pass.as_str() {
                "cold" => (cold(&client, case).await?, ""),
                "warm" => {
                    let (t, warmed) = warm(&client, case, run + i, timeout).await?;
                    (t, if warmed { "" } else { " (prefill not seen)" })
                }
                other => bail!("unknown pass `{other}`: use cold or warm"),
            };
            println!(
                "{pass} {} ttft={:.0}ms total={:.0}ms retries={} words={} flags={:?}{note}\n    {}",
                case.id,
                t.ttft_ms,
                t.total_ms,
                t.retries,
                t.words,
                t.flags,
                t.text.replace('\n', " ")
            );
            timings.push(t);
        }
        rows.push(summary(&args.label, pass, &timings));
    }
    println!();
    println!("| model | pass | drafts | TTFT p50 ms | TTFT p95 ms | draft p50 ms | draft p95 ms | rewritten | flagged | words p50 |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
