//! `cargo bench --bench llm`: prefill and decode speed, time to first token cold and with a
//! reused prompt prefix, and memory, for each local model found in the cache.
//!
//! `PARLEY_BENCH_MODELS=id,id` picks models (default: every GGUF model in the cache);
//! `CANDLE_NUM_THREADS` sets the thread count (default: all cores); `PARLEY_BENCH_KERNELS=candle`
//! runs every product on candle's kernels instead of ours, for comparison. Prints a Markdown table.
//! Memory is the process's resident set, so run one model per process for a clean number:
//! `for m in smollm2-135m-instruct qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct; do
//! PARLEY_BENCH_MODELS=$m cargo bench --bench llm; done`.
//!
//! `PARLEY_BENCH_SPECULATIVE=target,draft` (e.g. `qwen2.5-coder-1.5b-instruct,qwen2.5-coder-0.5b-instruct`)
//! instead compares the target's plain greedy decode of the draft-shaped prompt with speculative
//! decoding for several proposal lengths: tokens/s, acceptance, and whether the text matched.
//!
//! `PARLEY_BENCH_LOOKUP=id` instead compares plain greedy decoding of draft-shaped prompts with
//! prompt lookup (`src/llm/local/lookup.rs`), through the backend the service runs: decode
//! tok/s for each goal, runs alternated, and whether the text matched.

use std::time::Instant;

use parley::llm::local::lookup::Lookup;
use parley::llm::local::model::{LoadOptions, Model};
use parley::llm::local::speculative::{self, argmax};
use parley::llm::local::template::ChatTemplate;
use parley::llm::local::tokenizer::GgufTokenizer;
use parley::llm::local::{LocalBackend, LocalConfig};
use parley::llm::{fetch, manifest, ChatMessage, GenerateRequest, LlmBackend, Prompt};

const PROMPT_TOKENS: usize = 128;
const GEN_TOKENS: usize = 64;
const RUNS: usize = 2;

/// `VmRSS` (current) or `VmHWM` (peak) of this process, in MB.
fn mem_mb(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// A draft-shaped conversation: system voice + thread so far (the reusable prefix) and the
/// operator's goal as the last message.
fn thread() -> Vec<ChatMessage> {
    let mut m = vec![ChatMessage::system(
        "You are the office assistant of Rivera Plumbing & Heating, a family business serving \
         Austin since 1998. Write short, warm, professional text messages. Never promise prices \
         without an inspection. Sign as 'Rivera Plumbing'. Business hours: Mon-Fri 8am-6pm, \
         Sat 9am-1pm. Emergency line: 512-555-0100. Service area: Austin, Round Rock, \
         Pflugerville, Cedar Park.",
    )];
    let turns = [
        "Hi, our water heater is making a loud popping noise and the water isn't getting very hot anymore. It's a 40 gallon gas unit, maybe 9 years old.",
        "Thanks for reaching out! Popping usually means sediment build-up. We can flush it or check whether it's time for a replacement. When would be a good time for a visit?",
        "Weekdays after 4pm work best, or Saturday morning. Also, do you give estimates for tankless units? We've been thinking about switching.",
        "We do! Our technician can look at the current unit and talk through tankless options during the same visit.",
        "Great. One more thing, the shutoff valve next to the heater is a bit rusty, not sure it still closes. Our address is 4417 Ridgeline Drive.",
    ];
    for (i, t) in turns.iter().enumerate() {
        m.push(if i % 2 == 0 {
            ChatMessage::user(*t)
        } else {
            ChatMessage::assistant(*t)
        });
    }
    m
}

fn goal() -> ChatMessage {
    ChatMessage::user(
        "Draft our reply: offer Saturday at 9am, mention we'll check the rusty valve too.",
    )
}

struct Row {
    id: String,
    load_s: f64,
    rss_mb: f64,
    peak_mb: f64,
    prefill: f64,
    decode: f64,
    prompt_tokens: usize,
    ttft_cold_ms: f64,
    ttft_warm_ms: f64,
    cached: u32,
}

/// Load options, with our decode kernels unless `PARLEY_BENCH_KERNELS=candle`.
fn load_options() -> LoadOptions {
    LoadOptions {
        own_gemv: std::env::var("PARLEY_BENCH_KERNELS").as_deref() != Ok("candle"),
        ..LoadOptions::default()
    }
}

fn local_config(id: &str, path: std::path::PathBuf) -> LocalConfig {
    LocalConfig {
        load: load_options(),
        ..LocalConfig::new(id, path)
    }
}

fn bench_engine(path: &std::path::Path) -> (f64, f64, f64, f64) {
    let t = Instant::now();
    let (model, _) = Model::load(path, load_options()).expect("load");
    let load_s = t.elapsed().as_secs_f64();
    let rss = mem_mb("VmRSS:");
    let prompt: Vec<u32> = (0..PROMPT_TOKENS as u32)
        .map(|i| 1000 + (i * 7919) % 20000)
        .collect();
    let (mut best_prefill, mut best_decode) = (0f64, 0f64);
    for _ in 0..RUNS {
        let mut kv = model.new_kv();
        let t = Instant::now();
        let mut logits = model.forward(&prompt, &mut kv).expect("prefill");
        best_prefill = best_prefill.max(PROMPT_TOKENS as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for _ in 0..GEN_TOKENS {
            let next = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as u32)
                .unwrap_or(0);
            logits = model.forward(&[next], &mut kv).expect("decode");
        }
        best_decode = best_decode.max(GEN_TOKENS as f64 / t.elapsed().as_secs_f64());
    }
    (load_s, rss, best_prefill, best_decode)
}

async fn bench_ttft(id: &str, path: std::path::PathBuf) -> (usize, f64, f64, u32) {
    let backend = LocalBackend::load(local_config(id, path)).expect("load");
    let mut messages = thread();
    messages.push(goal());
    let req = GenerateRequest::chat(messages, 1);
    let prompt_tokens = backend.tokenize(&req.prompt).expect("tokenize").len();
    // cold: nothing cached
    let cold = backend.complete(req.clone()).await.expect("cold");
    // warm: a fresh backend whose cache was filled with the thread when the last customer
    // message arrived, before the operator asked for a draft
    drop(backend);
    let path = fetch::local_path(&manifest::find(id).expect("manifest"), &fetch::cache_dir())
        .expect("model");
    let backend = LocalBackend::load(local_config(id, path)).expect("load");
    backend
        .prefill(Prompt::Chat(thread()))
        .await
        .expect("prefill");
    let warm = backend.complete(req).await.expect("warm");
    (
        prompt_tokens,
        cold.timings.ttft_ms,
        warm.timings.ttft_ms,
        warm.usage.cached_prompt_tokens,
    )
}

/// Reply length for the speculative comparison: a short SMS draft.
const SPEC_TOKENS: usize = 60;

fn model_file(id: &str) -> std::path::PathBuf {
    fetch::local_path(&manifest::find(id).expect("manifest"), &fetch::cache_dir())
        .unwrap_or_else(|| panic!("{id} is not in the cache: parley models fetch {id}"))
}

fn bench_speculative(target_id: &str, draft_id: &str) {
    let (target, ct) = Model::load(&model_file(target_id), load_options()).expect("load");
    let (draft, _) = Model::load(&model_file(draft_id), load_options()).expect("load");
    let tok = GgufTokenizer::from_gguf(&ct).expect("tokenizer");
    let source = ct
        .metadata
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str);
    let template = ChatTemplate::new(source, tok.bos_token.as_deref(), tok.eos_token.as_deref())
        .expect("template");
    let mut messages = thread();
    messages.push(goal());
    let prompt = tok
        .encode(&template.render(&messages, true).expect("render"))
        .expect("encode");

    // plain greedy on the target, the reference output
    let mut kv = target.new_kv();
    let mut logits = target.forward(&prompt, &mut kv).expect("prefill");
    let t = Instant::now();
    let mut plain = Vec::new();
    while plain.len() < SPEC_TOKENS {
        let next = argmax(&logits);
        if tok.is_stop(next) {
            break;
        }
        plain.push(next);
        logits = target.forward(&[next], &mut kv).expect("decode");
    }
    let plain_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "prompt {} tokens; target {target_id}, draft {draft_id}",
        prompt.len()
    );
    println!("| decoding | tokens | decode ms | tok/s | speed-up | acceptance | target passes | same text as plain |");
    println!("|---|---|---|---|---|---|---|---|");
    let plain_rate = plain.len() as f64 / (plain_ms / 1000.0);
    println!(
        "| plain greedy | {} | {plain_ms:.0} | {plain_rate:.1} | 1.00x | | {} | |",
        plain.len(),
        plain.len()
    );
    for k in [2, 3, 4, 6] {
        let (out, stats) = speculative::greedy(&target, &draft, &prompt, SPEC_TOKENS, k, |id| {
            tok.is_stop(id)
        })
        .expect("speculative");
        let rate = out.len() as f64 / (stats.decode_ms / 1000.0);
        println!(
            "| speculative k={k} | {} | {:.0} | {rate:.1} | {:.2}x | {:.0} % | {} | {} |",
            out.len(),
            stats.decode_ms,
            rate / plain_rate,
            stats.acceptance() * 100.0,
            stats.target_passes,
            if out == plain { "yes" } else { "no" }
        );
        if out != plain {
            println!("k={k} text: {:?}", tok.decode(&out));
        }
    }
    println!("plain: {:?}", tok.decode(&plain));
}

/// Operator goals for the lookup comparison, on the same thread.
const LOOKUP_GOALS: [&str; 3] = [
    "Draft our reply: offer Saturday at 9am, mention we'll check the rusty valve too.",
    "Draft our reply: the tankless estimate is free; ask which weekday after 4pm suits them.",
    "Draft our reply: confirm 4417 Ridgeline Drive and say Marco will come Saturday at 9am.",
];

async fn bench_lookup(id: &str) {
    let with = |lookup: Lookup| {
        LocalBackend::load(LocalConfig {
            lookup,
            ..local_config(id, model_file(id))
        })
        .expect("load")
    };
    // `PARLEY_LOOKUP_TOKENS` and `PARLEY_BENCH_LOOKUP_NGRAM` try other settings
    let min_ngram = std::env::var("PARLEY_BENCH_LOOKUP_NGRAM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(Lookup::DEFAULT.min_ngram);
    let tried = Lookup {
        min_ngram,
        ..Lookup::from_env()
    };
    println!("{tried:?}");
    let (plain, lookup) = (with(Lookup::OFF), with(tried));
    for b in [&plain, &lookup] {
        b.prefill(Prompt::Chat(thread())).await.expect("prefill");
    }
    println!("{id}, {SPEC_TOKENS}-token replies, greedy, thread prefilled");
    println!("| goal | tokens | plain decode tok/s | lookup decode tok/s | speed-up | same text |");
    println!("|---|---|---|---|---|---|");
    for (g, goal) in LOOKUP_GOALS.iter().enumerate() {
        let mut messages = thread();
        messages.push(ChatMessage::user(*goal));
        let req = GenerateRequest::chat(messages, SPEC_TOKENS as u32);
        let (mut best_plain, mut best_lookup) = (0f64, 0f64);
        let (mut plain_text, mut lookup_text, mut tokens) = (String::new(), String::new(), 0);
        for _ in 0..RUNS {
            let a = plain.complete(req.clone()).await.expect("plain");
            let b = lookup.complete(req.clone()).await.expect("lookup");
            best_plain = best_plain.max(a.timings.decode_tok_per_s(&a.usage));
            best_lookup = best_lookup.max(b.timings.decode_tok_per_s(&b.usage));
            tokens = a.usage.completion_tokens;
            (plain_text, lookup_text) = (a.text, b.text);
        }
        println!(
            "| {} | {tokens} | {best_plain:.1} | {best_lookup:.1} | {:.2}x | {} |",
            g + 1,
            best_lookup / best_plain,
            if plain_text == lookup_text {
                "yes"
            } else {
                "no"
            }
        );
        if plain_text != lookup_text {
            println!("plain:  {plain_text:?}\nlookup: {lookup_text:?}");
        }
    }
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: minutes of model
    // runs are not a test, so only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("llm benchmark: skipped outside `cargo bench`");
        return;
    }
    if let Ok(pair) = std::env::var("PARLEY_BENCH_SPECULATIVE") {
        let (target, draft) = pair
            .split_once(',')
            .expect("PARLEY_BENCH_SPECULATIVE=target,draft");
        bench_speculative(target.trim(), draft.trim());
        return;
    }
    if let Ok(id) = std::env::var("PARLEY_BENCH_LOOKUP") {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(bench_lookup(id.trim()));
        return;
    }
    let cache = fetch::cache_dir();
    let wanted: Option<Vec<String>> = std::env::var("PARLEY_BENCH_MODELS")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let models: Vec<_> = manifest::load()
        .expect("manifests")
        .into_iter()
        .filter(|m| m.format == "gguf")
        .filter(|m| wanted.as_ref().is_none_or(|w| w.contains(&m.id)))
        .collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();
    for m in models {
        let Some(path) = fetch::local_path(&m, &cache) else {
            eprintln!("skipped: {} not in the cache", m.id);
            continue;
        };
        eprintln!("benchmarking {}", m.id);
        let (load_s, rss, prefill, decode) = bench_engine(&path);
        let (prompt_tokens, cold, warm, cached) = rt.block_on(bench_ttft(&m.id, path));
        rows.push(Row {
            id: m.id.clone(),
            load_s,
            rss_mb: rss,
            peak_mb: mem_mb("VmHWM:"),
            prefill,
            decode,
            prompt_tokens,
            ttft_cold_ms: cold,
            ttft_warm_ms: warm,
            cached,
        });
    }
    println!(
        "threads: {}",
        std::env::var("CANDLE_NUM_THREADS")
            .or_else(|_| std::env::var("RAYON_NUM_THREADS"))
            .unwrap_or_else(|_| format!(
                "{} (all cores)",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            ))
    );
    println!(
        "| model | load s | RSS after load MB | peak RSS MB | prefill tok/s ({PROMPT_TOKENS}) | decode tok/s ({GEN_TOKENS}) | draft prompt tokens | TTFT cold ms | TTFT with prefix reuse ms (cached tokens) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {:.0} ({}) |",
            r.id,
            r.load_s,
            r.rss_mb,
            r.peak_mb,
            r.prefill,
            r.decode,
            r.prompt_tokens,
            r.ttft_cold_ms,
            r.ttft_warm_ms,
            r.cached
        );
    }
}
