//! Real-model checks of the local backend. Each test skips (with a line saying so) when its
//! model file is not in the cache, unless `PARLEY_REQUIRE_MODELS` is set (CI fetches first).

use std::path::PathBuf;

use std::sync::Arc;

use futures::StreamExt;
use parley::llm::fallback::FallbackBackend;
use parley::llm::fetch;
use parley::llm::local::lookup::Lookup;
use parley::llm::local::model::{LoadOptions, Model};
use parley::llm::local::{LocalBackend, LocalConfig};
use parley::llm::openai::{OpenAiBackend, OpenAiConfig};
use parley::llm::{
    manifest, ChatMessage, FinishReason, GenerateEvent, GenerateRequest, LlmBackend, LlmError,
    Prompt,
};

/// The cached, verified model file, or `None` (skip) when absent and not required.
fn model_path(id: &str) -> Option<PathBuf> {
    let m = manifest::find(id).expect("manifest");
    match fetch::local_path(&m, &fetch::cache_dir()) {
        Some(p) => Some(p),
        None if std::env::var_os("PARLEY_REQUIRE_MODELS").is_some() => {
            panic!("model {id} is required (PARLEY_REQUIRE_MODELS) but not in the cache; run `parley models fetch {id}`")
        }
        None => {
            eprintln!("skipped: model {id} not in the cache");
            None
        }
    }
}

fn reference_logits_llama(path: &std::path::Path, ids: &[u32]) -> Vec<f32> {
    use candle_core::{Device, Tensor};
    let mut f = std::fs::File::open(path).unwrap();
    let ct = candle_core::quantized::gguf_file::Content::read(&mut f).unwrap();
    let arch = ct.metadata["general.architecture"]
        .to_string()
        .unwrap()
        .clone();
    let x = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let out = if arch == "qwen2" {
        let mut m = candle_transformers::models::quantized_qwen2::ModelWeights::from_gguf(
            ct,
            &mut f,
            &Device::Cpu,
        )
        .unwrap();
        m.forward(&x, 0).unwrap()
    } else {
        let mut m = candle_transformers::models::quantized_llama::ModelWeights::from_gguf(
            ct,
            &mut f,
            &Device::Cpu,
        )
        .unwrap();
        m.forward(&x, 0).unwrap()
    };
    out.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0
}

/// `b` predicts the same next token as `a`, unless `a`'s top two logits are closer than the
/// largest difference between the two (`diff`, twice over): then `b`'s pick must still be
/// within that of `a`'s top.
fn assert_same_prediction(a: &[f32], b: &[f32], diff: f32, what: &str) {
    let mut sorted = a.to_vec();
    sorted.sort_by(|x, y| y.total_cmp(x));
    if sorted[0] - sorted[1] > 2.0 * diff {
        assert_eq!(argmax(a), argmax(b), "{what}: the prediction changed");
    } else {
        assert!(
            a[argmax(b)] >= sorted[0] - 2.0 * diff,
            "{what}: picked a token far from the top"
        );
    }
}

fn check_forward_matches_candle(id: &str) {
    let Some(path) = model_path(id) else { return };
    let opts = LoadOptions {
        requantize_q8: false,
        ..LoadOptions::default()
    };
    let (model, _) = Model::load(&path, opts).unwrap();
    let ids: Vec<u32> = (0..12).map(|i| 100 + i * 37).collect();
    let mut kv = model.new_kv();
    // also prefill in two pieces, the path a prefix-cache hit takes
    let whole = model.forward(&ids, &mut kv).unwrap();
    let mut kv = model.new_kv();
    model.forward(&ids[..7], &mut kv).unwrap();
    let ours = model.forward(&ids[7..], &mut kv).unwrap();
    let d = whole
        .iter()
        .zip(&ours)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // The attention products of different shapes round differently (SmolLM2: up to 0.5 on
    // these ids, with candle's kernels as with ours).
    assert_same_prediction(&whole, &ours, d, &format!("{id}: split prefill"));
    assert!(
        d < 1.0,
        "{id}: prefill in one piece and in two differ by {d}"
    );
    let ours = whole;
    let theirs = reference_logits_llama(&path, &ids);

    let max_diff = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("{id}: max |diff| {max_diff}");
    assert_same_prediction(&ours, &theirs, max_diff, &format!("{id}: against candle"));
    // Activations are quantized to 8 bits before each quantized matmul, so rounding flips
    // compound over the layers; with CANDLE_DEQUANTIZE_ALL=1 (f32 weights) the two agree to
    // 3e-5 on both models (checked by hand).
    assert!(max_diff < 1.0, "{id}: max diff {max_diff}");
}

#[test]
fn forward_matches_candle_reference_smollm2() {
    check_forward_matches_candle("smollm2-135m-instruct");
}

#[test]
fn forward_matches_candle_reference_qwen05() {
    check_forward_matches_candle("qwen2.5-coder-0.5b-instruct");
}

/// Speculative decoding with a model as its own draft: the batched check agrees with nearly
/// every proposal (only float near-ties may differ), each pass yields at least one token, and
/// `forward_all`'s last row is `forward`'s logits.
#[test]
fn speculative_decoding_with_itself_as_draft_accepts_its_proposals() {
    let Some(path) = model_path("smollm2-135m-instruct") else {
        return;
    };
    let (model, _) = Model::load(&path, LoadOptions::default()).unwrap();
    let prompt: Vec<u32> = (0..24).map(|i| 200 + i * 53).collect();
    let (out, stats) =
        parley::llm::local::speculative::greedy(&model, &model, &prompt, 24, 4, |_| false).unwrap();
    assert_eq!(out.len(), 24);
    assert!(stats.target_passes <= out.len());
    assert!(stats.acceptance() > 0.6, "{stats:?}");

    let mut kv = model.new_kv();
    let all = model.forward_all(&prompt, &mut kv).unwrap();
    let mut kv = model.new_kv();
    let last = model.forward(&prompt, &mut kv).unwrap();
    assert_eq!(all.len(), prompt.len());
    assert_eq!(all[prompt.len() - 1], last);
}

fn backend(id: &str, queue_capacity: usize) -> Option<LocalBackend> {
    let path = model_path(id)?;
    let mut cfg = LocalConfig::new(id, path);
    cfg.queue_capacity = queue_capacity;
    Some(LocalBackend::load(cfg).unwrap())
}

fn draft_request() -> GenerateRequest {
    // A bare "offer Tuesday 3 PM" instruction is often ignored by the 0.5B (MODELS.md); telling
    // it what to say, after the customer's words, is followed.
    let mut req = GenerateRequest::chat(
        vec![
            ChatMessage::system(
                "You are the office assistant of Rivera Plumbing. You write short text-message replies to customers.",
            ),
            ChatMessage::user(
                "Customer wrote: \"Hi, my kitchen sink is leaking under the cabinet. Can someone come look at it?\"\nReply to the customer. Tell them our plumber can come on Tuesday at 3 PM.",
            ),
        ],
        60,
    );
    req.stop = vec!["\n\n".into()];
    req
}

/// The fast-tier model drafts a reply that contains what the operator asked for, and greedy
/// decoding gives the same text again — also when the second run reuses the cached prompt
/// prefix instead of prefilling it.
#[tokio::test]
async fn qwen_drafts_the_requested_appointment_deterministically() {
    let Some(b) = backend("qwen2.5-coder-0.5b-instruct", 4) else {
        return;
    };
    let first = b.complete(draft_request()).await.unwrap();
    eprintln!(
        "draft: {:?} {:?} {:?}",
        first.text, first.usage, first.timings
    );
    let lower = first.text.to_lowercase();
    assert!(lower.contains("tuesday"), "{}", first.text);
    assert!(lower.contains('3'), "{}", first.text);
    let second = b.complete(draft_request()).await.unwrap();
    assert_eq!(first.text, second.text);
    assert!(
        second.usage.cached_prompt_tokens + 1 >= second.usage.prompt_tokens,
        "{:?}",
        second.usage
    );
}

/// Prompt lookup (guesses taken from the prompt, checked in the decoding pass) keeps greedy
/// decoding's text: the reply repeats the prompt's day and time, so guesses are made and kept.
#[tokio::test]
async fn prompt_lookup_keeps_the_greedy_text() {
    let id = "qwen2.5-coder-0.5b-instruct";
    let Some(path) = model_path(id) else {
        return;
    };
    let with = |lookup: Lookup| {
        LocalBackend::load(LocalConfig {
            lookup,
            ..LocalConfig::new(id, path.clone())
        })
        .unwrap()
    };
    let plain = with(Lookup::OFF).complete(draft_request()).await.unwrap();
    let looked = with(Lookup::DEFAULT)
        .complete(draft_request())
        .await
        .unwrap();
    assert_eq!(plain.text, looked.text);
    assert_eq!(plain.usage, looked.usage);
}

/// Cache warm-ups have a lane of their own: a burst of them (one per inbound message) never
/// refuses an operator's draft, and what does not fit in the lane is skipped, not queued.
#[tokio::test]
async fn smollm_prefill_burst_never_refuses_a_draft() {
    let Some(b) = backend("smollm2-135m-instruct", 1) else {
        return;
    };
    let b = Arc::new(b);
    let mut warmups = Vec::new();
    for i in 0..6 {
        let b = b.clone();
        warmups.push(tokio::spawn(async move {
            let thread = vec![
                ChatMessage::system("You are the office assistant of a plumbing company."),
                ChatMessage::user(format!(
                    "Thread {i}: the water heater in the garage is leaking from the bottom and \
                     the pilot light keeps going out. Can someone come this week?"
                )),
            ];
            b.prefill(Prompt::Chat(thread)).await
        }));
    }
    // let every warm-up reach the backend before the draft does
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut req = GenerateRequest::chat(vec![ChatMessage::user("Say hello.")], 4);
    req.stop = vec!["\n".into()];
    let draft = b.complete(req).await;
    assert!(draft.is_ok(), "{draft:?}");
    let mut skipped = 0;
    for w in warmups {
        match w.await.unwrap() {
            Ok(()) => {}
            Err(LlmError::Overloaded { .. }) => skipped += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(
        skipped >= 1,
        "six warm-ups fit a lane of two plus one running"
    );
}

/// Dropping the stream stops the generation; the model thread serves the next request, a full
/// queue is refused with `Overloaded`, and stop sequences/max_tokens end generation.
#[tokio::test]
async fn smollm_streams_cancels_and_refuses_when_full() {
    let Some(b) = backend("smollm2-135m-instruct", 1) else {
        return;
    };
    let mut req = GenerateRequest::chat(vec![ChatMessage::user("Count from 1 to 50.")], 200);
    let mut stream = b.generate(req.clone()).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(first, GenerateEvent::Token(_)));
    drop(stream);

    // the queue holds one job: of three quick submissions at least one must be refused
    let mut refused = 0;
    let mut streams = Vec::new();
    for _ in 0..3 {
        match b.generate(req.clone()).await {
            Ok(s) => streams.push(s),
            Err(LlmError::Overloaded { retry_after }) => {
                assert!(retry_after.as_secs() >= 1);
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(refused >= 1);
    drop(streams);

    // the abandoned jobs drain quickly: each is dropped at its first prefill chunk
    req.max_tokens = 5;
    let mut done = None;
    for _ in 0..100 {
        match b.complete(req.clone()).await {
            Err(LlmError::Overloaded { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            other => {
                done = Some(other.unwrap());
                break;
            }
        }
    }
    let done = done.expect("the queue never drained");
    assert_eq!(done.finish_reason, FinishReason::Length);
    assert_eq!(done.usage.completion_tokens, 5);

    req.max_tokens = 100;
    req.stop = vec!["5".into()];
    let done = b.complete(req).await.unwrap();
    assert!(!done.text.contains('5'), "{:?}", done.text);
    assert_eq!(done.finish_reason, FinishReason::Stop);

    // a prompt warmed ahead of time is not prefilled again
    let thread = vec![
        ChatMessage::system("You are the office assistant of a plumbing company."),
        ChatMessage::user("My water heater makes a popping noise and the water is lukewarm."),
    ];
    b.prefill(Prompt::Chat(thread.clone())).await.unwrap();
    let mut with_goal = thread;
    with_goal.push(ChatMessage::user("Offer a visit on Saturday at 9am."));
    let warm = b
        .complete(GenerateRequest::chat(with_goal.clone(), 3))
        .await
        .unwrap();
    let thread_tokens = b
        .tokenize(&Prompt::Chat(with_goal[..2].to_vec()))
        .unwrap()
        .len();
    assert!(
        warm.usage.cached_prompt_tokens as usize + 4 >= thread_tokens,
        "{:?} vs {thread_tokens}",
        warm.usage
    );

    // remote → local: a dead remote falls through to this model
    let mut dead = OpenAiConfig::new("http://127.0.0.1:9/v1", "none");
    dead.max_retries = 0;
    let chain = FallbackBackend::new(vec![
        Arc::new(OpenAiBackend::new(dead).unwrap()),
        Arc::new(b),
    ])
    .unwrap();
    let mut short = GenerateRequest::chat(vec![ChatMessage::user("Say hi.")], 4);
    short.stop.clear();
    let done = chain.complete(short).await.unwrap();
    assert!(done.usage.completion_tokens >= 1);
}
