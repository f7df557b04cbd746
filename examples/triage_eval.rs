//! Triage evaluation: per-language tag F1, urgency, emergency recall/precision, language
//! accuracy on ≥3-word messages, start-up time, latency and batch throughput.
//!
//! `cargo run --release --example triage_eval` scores the held-out test split;
//! `-- --cv 5` cross-validates on the training split instead (what design decisions use);
//! `-- --failures 30` lists misses.

use std::path::PathBuf;
use std::time::Instant;

use parley::domain::{Channel, Urgency};
use parley::triage::data::load_dir;
use parley::triage::metrics::{cross_validate, evaluate, percentile, Report};
use parley::triage::{Triage, TriageConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("evals/messages");
    let mut config = TriageConfig::default();
    if let Some(t) = flag("--tag-threshold") {
        config.tag_threshold = t as f32;
    }
    if let Some(r) = flag("--extra-tag-ratio") {
        config.extra_tag_ratio = r as f32;
    }
    if let Some(t) = flag("--emergency-threshold") {
        config.emergency_threshold = t as f32;
    }
    if let Some(e) = flag("--epochs") {
        config.params.epochs = e as usize;
    }
    if let Some(l) = flag("--l2") {
        config.params.l2 = l as f32;
    }
    if let Some(l) = flag("--lr") {
        config.params.learning_rate = l as f32;
    }
    if let Some(w) = flag("--knn-weight") {
        config.knn_weight = w as f32;
    }
    if let Some(k) = flag("--knn") {
        config.knn = k as usize;
    }
    if let Some(w) = flag("--subword-weight") {
        config.subword_weight = w as f32;
    }
    if let Ok(path) = std::env::var("PARLEY_SUBWORDS") {
        let t = Instant::now();
        let s = parley::triage::subwords::SubwordEmbeddings::load(std::path::Path::new(&path))?;
        println!(
            "subword embeddings {s:?} loaded in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        config.subwords = Some(std::sync::Arc::new(s));
    }
    let failures = flag("--failures").unwrap_or(0.0) as usize;

    if let Some(k) = flag("--cv") {
        let train = load_dir(&root.join("train"))?;
        println!("cross-validation, k={k}, {} training messages", train.len());
        let r = cross_validate(&config, &train, k as usize)?;
        print_report(&r, failures);
        return Ok(());
    }

    let t0 = Instant::now();
    let triage = Triage::new(config)?;
    let startup = t0.elapsed();
    let test = load_dir(&root.join("test"))?;
    println!(
        "test split: {} messages; start-up (train + detector) {:.0} ms",
        test.len(),
        startup.as_secs_f64() * 1e3
    );
    // Warm-up so lazily loaded language models do not count as message latency.
    for m in test.iter().take(20) {
        triage.classify(&m.text, m.channel);
    }
    let r = evaluate(&triage, &test);
    print_report(&r, failures);
    println!(
        "latency single message: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        r.latency_percentile_us(50.0) as f64 / 1e3,
        r.latency_percentile_us(99.0) as f64 / 1e3,
        percentile(&r.latencies_us, 100.0) as f64 / 1e3
    );

    let items: Vec<(&str, Option<Channel>)> =
        test.iter().map(|m| (m.text.as_str(), m.channel)).collect();
    let rounds = 5;
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(triage.classify_batch(&items));
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "batch throughput: {:.0} msg/s ({} messages x {rounds}, {} threads)",
        (items.len() * rounds) as f64 / secs,
        items.len(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    Ok(())
}

fn print_report(r: &Report, failures: usize) {
    print!("{}", r.table());
    let e = &r.all.emergency;
    println!(
        "emergency (all): recall {:.3} ({}/{}), precision {:.3} ({} false alarms)",
        e.recall(),
        e.tp,
        e.tp + e.fn_,
        e.precision(),
        e.fp
    );
    println!("per tag (all):");
    for (tag, c) in &r.all.per_tag {
        println!(
            "  {tag:<16} P {:.3} R {:.3} F1 {:.3}",
            c.precision(),
            c.recall(),
            c.f1()
        );
    }
    println!("urgency confusion (rows gold low/normal/high/emergency, cols predicted):");
    for row in &r.all.urgency_confusion {
        println!("  {row:?}");
    }
    let only = std::env::var("TRIAGE_EVAL_ONLY").unwrap_or_default();
    for f in r
        .failures
        .iter()
        .filter(|f| match only.as_str() {
            "emergency" => {
                (f.gold_urgency == Some(Urgency::Emergency))
                    != (f.pred_urgency == Urgency::Emergency)
            }
            "language" => f.gold_language != f.pred_language,
            "tags" => f.gold_tags != f.pred_tags,
            _ => true,
        })
        .take(failures)
    {
        println!(
            "MISS {} gold {:?}/{:?}/{:?} pred {:?}/{:?}/{:?} {:?}: {}",
            f.id,
            f.gold_tags,
            f.gold_urgency.map(|u| u.as_str()),
            f.gold_language,
            f.pred_tags,
            f.pred_urgency.as_str(),
            f.pred_language,
            f.rules,
            f.text.replace('\n', " ")
        );
    }
}
