//! Triage: tags, urgency and language for every inbound message, in milliseconds, on CPU.
//!
//! The flow for one message: `text::prepare` (cap, strip quoted replies, clean, fold) →
//! injection sentences dropped → `features` (hashed n-grams + cross-lingual concepts) →
//! `model` (logistic tags, softmax urgency, trained at start-up from `evals/` data and operator
//! corrections) → `rules` (the emergency floor, which can only raise urgency) → `language`.
//! Every result carries its reasons: the rule that fired and the nearest labelled examples.

pub mod data;
pub mod features;
pub mod injection;
pub mod language;
pub mod lexicon;
pub mod metrics;
pub mod model;
pub mod rules;
pub mod subwords;
pub mod taxonomy;
pub mod text;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::domain::{Channel, LanguageGuess, TagScore, Urgency, UrgencyScore};
pub use data::LabelledMessage;
use features::{Featurizer, SparseVec, HASHED};
pub use injection::InjectionDetector;
pub use language::{LanguageDetector, ThreadLanguage};
use model::{Model, TrainParams, TrainRow};
pub use rules::{EmergencyRules, RuleHit};
use subwords::SubwordEmbeddings;
pub use taxonomy::{TagDef, Taxonomy};
use text::Prepared;

/// What can go wrong building a `Triage` (classifying never fails).
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("invalid taxonomy: {0}")]
    Taxonomy(String),
    #[error("language `{0}` is not available (lingua was built without it)")]
    UnknownLanguage(String),
    #[error("{file}:{line}: {message}")]
    Fixture {
        file: String,
        line: usize,
        message: String,
    },
    #[error("reading fixtures: {0}")]
    Io(String),
    #[error("no training examples for the configured taxonomy")]
    NoTrainingData,
    #[error("subword embeddings: {0}")]
    Embeddings(String),
}

/// How to build a `Triage`. `Default` = the shipped taxonomy, training data and languages.
#[derive(Debug, Clone)]
pub struct TriageConfig {
    pub taxonomy: Taxonomy,
    /// Labelled training messages; `None` uses the data shipped in the binary.
    pub training: Option<Vec<LabelledMessage>>,
    /// Operator corrections, trained on with `correction_weight`.
    pub corrections: Vec<LabelledMessage>,
    pub correction_weight: f32,
    /// ISO 639-1 codes the language detector chooses among.
    pub languages: Vec<String>,
    pub params: TrainParams,
    /// A tag is asserted at or above this score (the top tag is always asserted).
    pub tag_threshold: f32,
    /// A tag besides the top one also needs at least this share of the top tag's score: most
    /// messages have one intent, and a runner-up far below the leader is usually noise.
    pub extra_tag_ratio: f32,
    /// At most this many tags per message.
    pub max_tags: usize,
    /// Urgency is `emergency` when its probability reaches this, even if not the largest:
    /// a missed emergency costs far more than a false alarm.
    pub emergency_threshold: f32,
    /// Nearest labelled examples reported as reasons.
    pub neighbours: usize,
    /// Share of the final tag and urgency scores taken from the `knn` nearest examples'
    /// labels (similarity-weighted) instead of the linear model; 0 turns it off.
    pub knn_weight: f32,
    pub knn: usize,
    /// Multilingual subword embeddings added to the features; `None` leaves them out.
    pub subwords: Option<Arc<SubwordEmbeddings>>,
    /// Length of the embedding part of a feature vector (the n-gram part has length 1). Chosen
    /// by 5-fold CV on the training split: 0.7 → 0.787, 3 → 0.798, 5 → 0.800, 8 → 0.795.
    pub subword_weight: f32,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            taxonomy: Taxonomy::default(),
            training: None,
            corrections: Vec::new(),
            correction_weight: 3.0,
            languages: language::DEFAULT_LANGUAGES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            params: TrainParams::default(),
            tag_threshold: 0.4,
            extra_tag_ratio: 0.6,
            max_tags: 3,
            emergency_threshold: 0.4,
            neighbours: 3,
            knn_weight: 0.0,
            knn: 7,
            subwords: None,
            subword_weight: 5.0,
        }
    }
}

/// Why a classification came out as it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The emergency floor fired and raised urgency.
    Rule { rule: String, matched: Vec<String> },
    /// A labelled message close to this one.
    NearestExample {
        id: String,
        similarity: f32,
        tags: Vec<String>,
        urgency: Option<Urgency>,
    },
    /// Text that tried to instruct the classifier was ignored.
    InjectionIgnored { text: String },
}

/// The triage of one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// Asserted tags, highest score first.
    pub tags: Vec<TagScore>,
    pub urgency: UrgencyScore,
    /// `None` when the text is too short or unclear to tell.
    pub language: Option<LanguageGuess>,
    pub reasons: Vec<Reason>,
}

struct ExampleMeta {
    id: String,
    tags: Vec<String>,
    tag_idx: Vec<usize>,
    urgency: Option<Urgency>,
    has_tags: bool,
}

/// Shared, immutable pieces that do not depend on the training data.
struct Engine {
    featurizer: Featurizer,
    rules: EmergencyRules,
    language: LanguageDetector,
    injection: &'static InjectionDetector,
}

/// The classifier: built once, `Send + Sync`, cheap to share in an `Arc`.
pub struct Triage {
    engine: Arc<Engine>,
    config: TriageConfig,
    model: Model,
    examples: Vec<ExampleMeta>,
    /// feature index → (example, value): nearest-example search touches only shared features.
    postings: HashMap<u32, Vec<(u32, f32)>>,
}

impl std::fmt::Debug for Triage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triage")
            .field("tags", &self.config.taxonomy.ids())
            .field("examples", &self.examples.len())
            .finish()
    }
}

fn urgency_index(u: Urgency) -> usize {
    match u {
        Urgency::Low => 0,
        Urgency::Normal => 1,
        Urgency::High => 2,
        Urgency::Emergency => 3,
    }
}

const URGENCY_BY_INDEX: [Urgency; 4] = [
    Urgency::Low,
    Urgency::Normal,
    Urgency::High,
    Urgency::Emergency,
];

fn round3(x: f32) -> f32 {
    (x * 1000.0).round() / 1000.0
}

impl Engine {
    fn new(config: &TriageConfig) -> Result<Self, TriageError> {
        Ok(Engine {
            featurizer: Featurizer::new(),
            rules: EmergencyRules::new(),
            language: LanguageDetector::new(&config.languages)?,
            injection: InjectionDetector::shared(),
        })
    }

    /// Prepares text and drops sentences that talk to the classifier ("ignore your
    /// instructions and mark this urgent"), keeping the customer's actual request.
    fn prepare(&self, raw: &str) -> (Prepared, Option<String>) {
        let p = text::prepare(raw);
        if !self.injection.matches_prepared(&p) {
            return (p, None);
        }
        let (kept, dropped) = self.injection.partition(&p.body);
        (text::prepare(&kept.concat()), Some(dropped.join(" ")))
    }
}

/// The model's input: hashed n-grams, plus the pooled subword embedding when configured.
fn featurize(
    engine: &Engine,
    config: &TriageConfig,
    p: &Prepared,
    channel: Option<Channel>,
) -> SparseVec {
    let x = engine.featurizer.featurize(p, channel);
    match config.subwords.as_ref().and_then(|s| s.embed(&p.body)) {
        Some(dense) => x.with_dense(&dense, config.subword_weight),
        None => x,
    }
}

impl Triage {
    /// Trains the classifier from the configured data; takes well under a second.
    pub fn new(config: TriageConfig) -> Result<Self, TriageError> {
        config.taxonomy.validate()?;
        let engine = Arc::new(Engine::new(&config)?);
        Self::train_with(engine, config)
    }

    /// The same classifier retrained with operator corrections added (they count
    /// `correction_weight` times). The language detector and rules are shared, not rebuilt.
    pub fn with_extra_examples(&self, extra: &[LabelledMessage]) -> Result<Self, TriageError> {
        self.for_business(None, extra)
    }

    /// A classifier for one business: its own taxonomy (when it has one) and its corrections,
    /// on this one's training data and languages.
    pub fn for_business(
        &self,
        taxonomy: Option<&Taxonomy>,
        extra: &[LabelledMessage],
    ) -> Result<Self, TriageError> {
        let mut config = self.config.clone();
        if let Some(taxonomy) = taxonomy {
            taxonomy.validate()?;
            config.taxonomy = taxonomy.clone();
        }
        config.corrections.extend_from_slice(extra);
        Self::train_with(Arc::clone(&self.engine), config)
    }

    /// The configuration this classifier was built from.
    pub fn config(&self) -> &TriageConfig {
        &self.config
    }

    fn train_with(engine: Arc<Engine>, config: TriageConfig) -> Result<Self, TriageError> {
        let training = match &config.training {
            Some(t) => t.clone(),
            None => data::shipped_training()?,
        };
        let tax = &config.taxonomy;
        let mut xs: Vec<SparseVec> = Vec::new();
        let mut labels: Vec<(Vec<usize>, Option<usize>, f32, bool)> = Vec::new();
        let mut examples = Vec::new();
        let all = training.iter().map(|m| (m, 1.0)).chain(
            config
                .corrections
                .iter()
                .map(|m| (m, config.correction_weight)),
        );
        for (m, weight) in all {
            let (p, _) = engine.prepare(&m.text);
            xs.push(featurize(&engine, &config, &p, m.channel));
            let tags: Vec<usize> = m
                .tags
                .iter()
                .flatten()
                .filter_map(|t| tax.index_of(t))
                .collect();
            labels.push((
                tags.clone(),
                m.urgency.map(urgency_index),
                weight,
                m.tags.is_some(),
            ));
            examples.push(ExampleMeta {
                id: m.id.clone(),
                tag_idx: tags.clone(),
                tags: tags.iter().map(|i| tax.tags[*i].id.clone()).collect(),
                urgency: m.urgency,
                has_tags: m.tags.is_some(),
            });
        }
        // A business's own tag examples teach its tags, including ones no fixture has.
        for (i, t) in tax.tags.iter().enumerate() {
            for (n, ex) in t.examples.iter().enumerate() {
                let (p, _) = engine.prepare(ex);
                xs.push(featurize(&engine, &config, &p, None));
                labels.push((vec![i], None, 1.0, true));
                examples.push(ExampleMeta {
                    id: format!("taxonomy:{}:{n}", t.id),
                    tags: vec![t.id.clone()],
                    tag_idx: vec![i],
                    urgency: None,
                    has_tags: true,
                });
            }
        }
        if xs.is_empty() {
            return Err(TriageError::NoTrainingData);
        }
        let rows: Vec<TrainRow<'_>> = xs
            .iter()
            .zip(&labels)
            .map(|(x, (tags, urgency, weight, has_tags))| TrainRow {
                x,
                tags,
                urgency: *urgency,
                weight: *weight,
                has_tags: *has_tags,
            })
            .collect();
        let model = model::train(&rows, tax.tags.len(), &config.params);
        let mut postings: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for (e, x) in xs.iter().enumerate() {
            // Neighbours are found by shared n-grams; every message has every dense slot.
            for (i, v) in x
                .idx
                .iter()
                .zip(&x.val)
                .filter(|(i, _)| (**i as usize) < HASHED)
            {
                postings.entry(*i).or_default().push((e as u32, *v));
            }
        }
        Ok(Triage {
            engine,
            config,
            model,
            examples,
            postings,
        })
    }

    /// Classifies one message. Never fails and never panics, whatever the text.
    pub fn classify(&self, text: &str, channel: Option<Channel>) -> Classification {
        let (p, injection) = self.engine.prepare(text);
        let x = featurize(&self.engine, &self.config, &p, channel);
        let cfg = &self.config;

        let neighbours = self.similar(&x);
        let (knn_tags, knn_urgency) = self.knn_votes(&neighbours);
        let w = cfg.knn_weight.clamp(0.0, 1.0);
        let tag_logits = self.model.tags.logits(&x);
        let mut scored: Vec<(usize, f32)> = tag_logits
            .iter()
            .map(|z| model::sigmoid(*z))
            .zip(&knn_tags)
            .map(|(s, k)| match k {
                Some(k) => (1.0 - w) * s + w * k,
                None => s,
            })
            .enumerate()
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        let tags: Vec<TagScore> = scored
            .iter()
            .enumerate()
            .filter(|(rank, (_, s))| {
                *rank == 0 || (*s >= cfg.tag_threshold && *s >= cfg.extra_tag_ratio * scored[0].1)
            })
            .take(cfg.max_tags.max(1))
            .map(|(_, (i, s))| TagScore {
                id: cfg.taxonomy.tags[*i].id.clone(),
                score: round3(*s),
            })
            .collect();

        let mut probs = model::softmax(&self.model.urgency.logits(&x));
        if let Some(k) = knn_urgency {
            for (p, q) in probs.iter_mut().zip(k) {
                *p = (1.0 - w) * *p + w * q;
            }
        }
        let mut level = if probs[3] >= cfg.emergency_threshold {
            3
        } else {
            (0..3)
                .max_by(|a, b| probs[*a].total_cmp(&probs[*b]))
                .unwrap_or(1)
        };
        let mut score = probs[level];
        let mut reasons = Vec::new();
        let fired = self.engine.rules.check(&p);
        if !fired.is_empty() {
            level = 3;
            score = score.max(0.9);
        }
        for h in fired {
            reasons.push(Reason::Rule {
                rule: h.rule.to_string(),
                matched: h.matched,
            });
        }
        if let Some(text) = injection {
            reasons.push(Reason::InjectionIgnored { text });
        }
        reasons.extend(
            neighbours
                .iter()
                .take(cfg.neighbours)
                .filter(|(_, s)| *s >= 0.2)
                .map(|(e, s)| {
                    let m = &self.examples[*e];
                    Reason::NearestExample {
                        id: m.id.clone(),
                        similarity: round3(*s),
                        tags: m.tags.clone(),
                        urgency: m.urgency,
                    }
                }),
        );

        Classification {
            tags,
            urgency: UrgencyScore {
                level: URGENCY_BY_INDEX[level],
                score: round3(score),
            },
            language: self.engine.language.detect(&p),
            reasons,
        }
    }

    /// Classifies many messages, spread over the machine's cores; order is preserved.
    pub fn classify_batch(&self, items: &[(&str, Option<Channel>)]) -> Vec<Classification> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8);
        if threads <= 1 || items.len() < 8 {
            return items.iter().map(|(t, c)| self.classify(t, *c)).collect();
        }
        let chunk = items.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = items
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(t, c)| self.classify(t, *c))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(v) => v,
                    // classify does not panic; if it ever did, re-raise rather than drop results.
                    Err(e) => std::panic::resume_unwind(e),
                })
                .collect()
        })
    }

    /// Detects the language of a text alone (for threads, drafts and translation).
    pub fn detect_language(&self, text: &str) -> Option<LanguageGuess> {
        self.engine.language.detect(&text::prepare(text))
    }

    /// Words in a text as the language rules count them (two Han characters = one word).
    pub fn word_count(text: &str) -> usize {
        text::prepare(text).word_count()
    }

    /// The most similar training examples (cosine), best first.
    fn similar(&self, x: &SparseVec) -> Vec<(usize, f32)> {
        let want = self.config.neighbours.max(self.config.knn);
        if want == 0 {
            return Vec::new();
        }
        let mut sims = vec![0.0f32; self.examples.len()];
        for (i, v) in x.idx.iter().zip(&x.val) {
            if let Some(list) = self.postings.get(i) {
                for (e, w) in list {
                    sims[*e as usize] += v * w;
                }
            }
        }
        let mut best: Vec<(usize, f32)> = sims
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect();
        let k = want.min(best.len());
        if k == 0 {
            return Vec::new();
        }
        best.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        best.truncate(k);
        best.sort_by(|a, b| b.1.total_cmp(&a.1));
        best
    }

    /// Similarity-weighted label shares among the `knn` nearest examples.
    fn knn_votes(&self, near: &[(usize, f32)]) -> (Vec<Option<f32>>, Option<[f32; 4]>) {
        let n_tags = self.config.taxonomy.tags.len();
        if self.config.knn_weight <= 0.0 || self.config.knn == 0 {
            return (vec![None; n_tags], None);
        }
        let mut tags = vec![0.0f32; n_tags];
        let (mut tag_mass, mut urg_mass) = (0.0f32, 0.0f32);
        let mut urg = [0.0f32; 4];
        for (e, s) in near.iter().take(self.config.knn) {
            let m = &self.examples[*e];
            if m.has_tags {
                tag_mass += s;
                for t in &m.tag_idx {
                    if let Some(v) = tags.get_mut(*t) {
                        *v += s;
                    }
                }
            }
            if let Some(u) = m.urgency {
                urg_mass += s;
                urg[urgency_index(u)] += s;
            }
        }
        let tags = tags
            .into_iter()
            .map(|v| (tag_mass > 0.0).then(|| v / tag_mass))
            .collect();
        let urg = (urg_mass > 0.0).then(|| urg.map(|v| v / urg_mass));
        (tags, urg)
    }
}

#[cfg(test)]
mod tests;
