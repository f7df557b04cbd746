//! Runs a suite's cases through the classifier and the drafter, scores them, and returns the
//! run's results.

use std::time::Instant;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use super::cache::DraftCache;
use super::checks::run_checks;
use super::error::EvalError;
use super::fixtures::Suite;
use super::metrics;
use super::results::{DraftResult, MessageResult, RunResult, RunSettings, RESULTS_SCHEMA};
use super::traits::{Drafter, LanguageDetector, MessageClassifier};

/// How to run; the suite's cases are already limited by the loader.
pub struct RunOptions<'a> {
    /// Recorded in the results; `template_version` is also part of the cache key.
    pub settings: RunSettings,
    pub cache: Option<&'a DraftCache>,
    /// Draw a progress bar on stderr (indicatif hides it when stderr is not a terminal).
    pub progress: bool,
}

/// Classifies every message case and drafts every draft case, one after another: the local model
/// is a single CPU worker, so parallel drafts would only queue and distort latencies.
pub async fn run(
    suite: &Suite,
    classifier: Option<&dyn MessageClassifier>,
    drafter: Option<&dyn Drafter>,
    detect: &LanguageDetector,
    options: RunOptions<'_>,
) -> Result<RunResult, EvalError> {
    if suite.case_count() == 0 {
        return Err(EvalError::NoCases);
    }
    let classifier = match (classifier, suite.messages.len()) {
        (None, 0) => None,
        (None, cases) => return Err(EvalError::NoClassifier { cases }),
        (Some(c), _) => Some(c),
    };
    let drafter = match (drafter, suite.drafts.len()) {
        (None, 0) => None,
        (None, cases) => return Err(EvalError::NoDrafter { cases }),
        (Some(d), _) => Some(d),
    };

    let started_at = Utc::now();
    let mut settings = options.settings;
    settings.drafter = drafter.map(|d| d.describe());
    let bar = progress_bar(suite.case_count() as u64, options.progress);

    let mut messages = Vec::with_capacity(suite.messages.len());
    if let Some(classifier) = classifier {
        bar.set_message("classifying");
        for case in &suite.messages {
            let start = Instant::now();
            let predicted = classifier.classify(&case.text, case.channel);
            let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
            messages.push(MessageResult::score(case.clone(), predicted, latency_ms));
            bar.inc(1);
        }
    }

    let mut drafts = Vec::with_capacity(suite.drafts.len());
    if let Some(drafter) = drafter {
        let description = settings.drafter.clone().unwrap_or_default();
        let template = settings.template_version.as_deref();
        for case in &suite.drafts {
            bar.set_message(format!("drafting {}", case.id));
            let key = DraftCache::key(case, &description, template);
            let cached = options.cache.and_then(|c| c.get(&key));
            let from_cache = cached.is_some();
            let output = match cached {
                Some(output) => Ok(output),
                None => drafter.draft(case).await.map_err(|e| e.to_string()),
            };
            if let (Some(cache), false, Ok(output)) = (options.cache, from_cache, &output) {
                if let Err(e) = cache.put(&key, case, &description, template, output) {
                    // A read-only cache directory makes re-runs slower, not wrong.
                    tracing::warn!(error = %e, "could not cache a draft");
                }
            }
            let checks = match &output {
                Ok(o) => run_checks(&case.checks, &o.text, detect),
                Err(_) => Vec::new(),
            };
            drafts.push(DraftResult::new(case.clone(), output, from_cache, checks));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    Ok(RunResult {
        schema: RESULTS_SCHEMA,
        started_at,
        finished_at: Utc::now(),
        settings,
        skipped: suite.skipped.clone(),
        metrics: metrics::compute(&messages, &drafts),
        messages,
        drafts,
        gates: Vec::new(),
    })
}

fn progress_bar(len: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]")
    {
        bar.set_style(style);
    }
    bar
}
