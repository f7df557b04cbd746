//! The real binary: `keys create` prints a usable key, and every acknowledged ingest survives a
//! SIGKILL of the server.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{fresh_database, Engine};
use serde_json::json;

on_both_engines!(acknowledged_ingests_survive_a_crash);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_server(url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("PARLEY_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        // The inbox alone: no drafting model to load.
        .env("PARLEY_MODEL", "none")
        .env("PARLEY_TRIAGE_EMBEDDINGS", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start parley serve")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became ready");
}

async fn acknowledged_ingests_survive_a_crash(engine: Engine) {
    let db = fresh_database(engine).await;
    let url = db.url.clone();
    let out = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["keys", "create", "--tenant", "Acme HVAC", "--role", "agent"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let key = stdout
        .lines()
        .last()
        .expect("a key line")
        .trim()
        .to_string();
    assert!(key.starts_with("pk_"), "{stdout}");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = start_server(&url, port);
    wait_ready(&client, &base).await;

    // Many concurrent ingests, so they share group commits; count what was acknowledged.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{base}/v1/messages/inbound"))
                .bearer_auth(&key)
                .json(
                    &json!({"channel": "sms", "from": format!("+1512555{:04}", i % 50),
                              "body": format!("message {i}"), "external_id": format!("m{i}")}),
                )
                .send()
                .await;
            matches!(r, Ok(r) if r.status().as_u16() == 201)
        }));
    }
    let mut acknowledged = 0;
    for t in tasks {
        if t.await.expect("task") {
            acknowledged += 1;
        }
    }
    assert_eq!(acknowledged, 200);
    server.kill().expect("SIGKILL");
    let _ = server.wait();

    let mut server = start_server(&url, port);
    wait_ready(&client, &base).await;
    let list: serde_json::Value = client
        .get(format!("{base}/v1/threads?limit=200"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["counts"]["total"], 50);
    let mut stored = 0;
    for t in list["threads"].as_array().expect("threads") {
        let page: serde_json::Value = client
            .get(format!(
                "{base}/v1/threads/{}/messages?limit=200",
                t["id"].as_str().expect("id")
            ))
            .bearer_auth(&key)
            .send()
            .await
            .expect("messages")
            .json()
            .await
            .expect("json");
        stored += page["messages"].as_array().expect("messages").len();
    }
    assert_eq!(stored, acknowledged);
    server.kill().expect("stop");
    let _ = server.wait();
}
