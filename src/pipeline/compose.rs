//! Drafting: thread + goal → prompt → model → guardrails → (one repair) → draft.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use super::facts;
use super::guardrails::{self, DraftContext, Violation};
use super::patch;
use super::question;
use super::subject;
use crate::domain::{Channel, Direction, VoiceSettings};
use crate::llm::{begun_reply, ChatMessage, GenerateEvent, GenerateRequest, LlmBackend, LlmError};
use crate::prompts::context::{
    ComposeContext, CustomerView, FactSentenceContext, LanguageView, TurnView,
};
use crate::prompts::{self, PromptError, PromptName, TurnRole};
use crate::triage::InjectionDetector;

/// Names a text's language (ISO 639-1), or `None` when it cannot tell.
pub type LanguageDetector = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// One message of the conversation being answered.
#[derive(Debug, Clone)]
pub struct ThreadTurn {
    pub direction: Direction,
    pub channel: Channel,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// Everything a draft is written from.
#[derive(Debug, Clone)]
pub struct ComposeInput {
    pub business: VoiceSettings,
    pub customer_name: String,
    pub thread: Vec<ThreadTurn>,
    pub goal: String,
    /// Target language; `None` means the thread's language.
    pub language: Option<String>,
    pub templates: DraftTemplates,
    pub route: Route,
}

/// The template texts a draft renders (each a business's override or the default).
#[derive(Debug, Clone, Default)]
pub struct DraftTemplates {
    /// The reply itself.
    pub compose: String,
    /// One part of the goal as one sentence, for putting back facts a draft left out.
    pub fact_sentence: String,
    /// Carries a sentence into the customer's language, keeping its facts.
    pub translate: String,
}

/// How a reply in a language other than English gets written.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Route {
    /// In the target language, by the compose prompt alone.
    #[default]
    Direct,
    /// In English first (where small models follow instructions best), then translated; the
    /// translation keeps the English draft's facts (`translate`).
    ViaEnglish,
}

/// A finished draft and what is still wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct Composed {
    pub text: String,
    pub language: String,
    /// Checks the draft still fails after its repair attempt; empty when it passed.
    pub flags: Vec<Violation>,
    pub attempts: u32,
    pub latency_ms: u64,
}

/// What a draft stream yields.
#[derive(Debug, Clone)]
pub enum ComposeEvent {
    Token(String),
    /// The first attempt failed a check and is being rewritten; discard the tokens so far.
    Retry(Vec<Violation>),
    Done(Composed),
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Llm(#[from] LlmError),
}

/// The last messages that fit the prompt: at most this many, each cut to `MAX_TURN_CHARS`.
const MAX_TURNS: usize = 6;
const MAX_TURN_CHARS: usize = 600;

/// English names for the prompt; the model follows "in Spanish" better than "in es".
pub fn language_name(code: &str) -> &'static str {
    match code {
        "en" => "English",
        "es" => "Spanish",
        "vi" => "Vietnamese",
        "zh" => "Simplified Chinese",
        "tl" => "Tagalog",
        "ko" => "Korean",
        "fr" => "French",
        "pt" => "Portuguese",
        "ru" => "Russian",
        "ar" => "Arabic",
        "de" => "German",
        "it" => "Italian",
        "ja" => "Japanese",
        "hi" => "Hindi",
        _ => "English",
    }
}

/// Languages a draft can be written in.
pub const SUPPORTED_LANGUAGES: &[&str] = &[
    "en", "es", "vi", "zh", "tl", "ko", "fr", "pt", "ru", "ar", "de", "it", "ja", "hi",
];

/// The thread's language: the language of the customer's longest messages, English when none
/// can be told.
pub fn thread_language(thread: &[ThreadTurn], detect: &LanguageDetector) -> String {
    let mut inbound: Vec<&ThreadTurn> = thread
        .iter()
        .filter(|t| t.direction == Direction::Inbound)
        .collect();
    inbound.sort_by_key(|t| std::cmp::Reverse(t.text.chars().count()));
    inbound
        .iter()
        .take(3)
        .find_map(|t| detect(&t.text))
        .unwrap_or_else(|| "en".to_string())
}

/// How a reply customarily opens in `language`, addressed to `first` (or unaddressed when
/// the name is unknown).
pub fn greeting(language: &str, first: &str) -> String {
    if first.is_empty() {
        return match language {
            "es" => "¡Hola!",
            "vi" => "Chào anh/chị,",
            "zh" => "您好！",
            "tl" => "Magandang araw po!",
            "ko" => "안녕하세요.",
            "fr" => "Bonjour,",
            "pt" => "Olá!",
            "ru" => "Здравствуйте!",
            "ar" => "مرحباً،",
            "de" => "Hallo,",
            "it" => "Buongiorno,",
            "ja" => "こんにちは。",
            "hi" => "नमस्ते,",
            _ => "Hi there,",
        }
        .to_string();
    }
    match language {
        "es" => format!("Hola {first},"),
        "vi" => format!("Chào {first},"),
        "zh" => format!("{first}，您好！"),
        "tl" => format!("Hi {first}, magandang araw po!"),
        // A space before the honorific keeps a foreign name a separate word.
        "ko" => format!("{first} 님, 안녕하세요."),
        "fr" => format!("Bonjour {first},"),
        "pt" => format!("Olá {first},"),
        "ru" => format!("Здравствуйте, {first}!"),
        "ar" => format!("مرحباً {first}،"),
        "de" => format!("Hallo {first},"),
        "it" => format!("Ciao {first},"),
        "ja" => format!("{first} 様、こんにちは。"),
        "hi" => format!("नमस्ते {first},"),
        _ => format!("Hi {first},"),
    }
}

/// The separate things a goal asks for: operators chain them with semicolons, new lines or
/// sentences ("yes, warranty until 2031; labor has expired; offer a diagnostic at $99").
pub fn goal_points(goal: &str) -> Vec<String> {
    goal.split([';', '\n'])
        .flat_map(|part| part.split(". "))
        .map(|p| p.trim().trim_end_matches('.').trim())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn first_name(full: &str) -> String {
    full.split_whitespace().next().unwrap_or("").to_string()
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

fn today(voice: &VoiceSettings) -> String {
    let now = Utc::now();
    match voice.time_zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => now.with_timezone(&tz).format("%A, %B %-d, %Y").to_string(),
        Err(_) => now.format("%A, %B %-d, %Y").to_string(),
    }
}

fn when(at: DateTime<Utc>, voice: &VoiceSettings) -> String {
    match voice.time_zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at
            .with_timezone(&tz)
            .format("%a %b %-d, %-I:%M %p")
            .to_string(),
        Err(_) => at.format("%a %b %-d, %-I:%M %p UTC").to_string(),
    }
}

/// The rendered prompt and what the guardrails need to judge its answer.
struct Prepared {
    messages: Vec<ChatMessage>,
    instructions: String,
    /// The reply's opening when the template begins it; the model writes the rest.
    opening: Option<String>,
    language: String,
    inbound: Vec<String>,
    /// What the thread's messages told an AI to do; see `DraftContext::instructed`.
    instructed: Vec<String>,
    first_name: String,
    sms: bool,
    max_tokens: u32,
    /// The operator's text: the goal and the voice settings (see `DraftContext::sanctioned`).
    sanctioned: String,
}

fn prepare(input: &ComposeInput, detect: &LanguageDetector) -> Result<Prepared, ComposeError> {
    if input.goal.trim().is_empty() {
        return Err(ComposeError::Invalid("`goal` must not be empty".into()));
    }
    render_prompt(input, detect)
}

/// Renders the prompt; the goal may be empty (see `prefill`).
fn render_prompt(
    input: &ComposeInput,
    detect: &LanguageDetector,
) -> Result<Prepared, ComposeError> {
    let goal = input.goal.trim();
    let language = match &input.language {
        Some(code) if SUPPORTED_LANGUAGES.contains(&code.as_str()) => code.clone(),
        Some(code) => {
            return Err(ComposeError::Invalid(format!(
                "unsupported language `{code}`; use one of {}",
                SUPPORTED_LANGUAGES.join(", ")
            )))
        }
        None => thread_language(&input.thread, detect),
    };
    let recent = &input.thread[input.thread.len().saturating_sub(MAX_TURNS)..];
    let channel = input
        .thread
        .iter()
        .rev()
        .find(|t| t.direction == Direction::Inbound)
        .map_or(Channel::Sms, |t| t.channel);
    let sms = !matches!(channel, Channel::Email);
    let first = first_name(&input.customer_name);
    let ctx = ComposeContext {
        business: input.business.clone(),
        customer: CustomerView {
            name: input.customer_name.clone(),
            first_name: first.clone(),
        },
        thread: recent
            .iter()
            .map(|t| TurnView {
                from: if t.direction == Direction::Inbound {
                    "customer"
                } else {
                    "business"
                },
                channel: t.channel.as_str().to_string(),
                text: clip(&t.text, MAX_TURN_CHARS),
                at: when(t.at, &input.business),
            })
            .collect(),
        goal: goal.to_string(),
        language: LanguageView {
            code: language.clone(),
            name: language_name(&language).to_string(),
        },
        channel: if sms { "sms" } else { "email" }.to_string(),
        today: today(&input.business),
        greeting: greeting(&language, &first),
        must_include: facts::extract(goal, &input.business.technicians)
            .iter()
            .map(|f| f.spelled(&language))
            .collect(),
    };
    let turns = prompts::render(PromptName::Compose, &input.templates.compose, &ctx)?;
    let instructions = turns
        .iter()
        .filter(|t| t.role == TurnRole::System)
        .map(|t| t.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let messages: Vec<ChatMessage> = turns.into_iter().map(ChatMessage::from).collect();
    let opening = begun_reply(&messages).map(|(_, begun)| begun.to_string());
    Ok(Prepared {
        messages,
        opening,
        instructions,
        language,
        inbound: recent
            .iter()
            .filter(|t| t.direction == Direction::Inbound)
            .map(|t| t.text.clone())
            .collect(),
        instructed: instructed(&input.thread),
        first_name: first,
        sms,
        // CJK scripts spend more tokens per word; room for ~90 words either way.
        max_tokens: if sms { 120 } else { 260 },
        sanctioned: sanctioned_text(input),
    })
}

/// Every inbound message's instruction to an AI, over the whole thread: an injection sent a
/// while ago still must not be carried out.
fn instructed(thread: &[ThreadTurn]) -> Vec<String> {
    let detector = InjectionDetector::shared();
    thread
        .iter()
        .filter(|t| t.direction == Direction::Inbound)
        .filter_map(|t| detector.instructed_tail(&t.text))
        .map(str::to_string)
        .collect()
}

fn request(messages: Vec<ChatMessage>, max_tokens: u32) -> GenerateRequest {
    let mut req = GenerateRequest::chat(messages, max_tokens);
    // A reply ends where the model starts another turn or another instruction block.
    req.stop = vec!["\nInstruction:".into(), "\n--- ".into(), "\n\n\n".into()];
    req
}

/// Streams one generation into `events`, after the reply's `opening` when the prompt gives
/// one; returns the whole text, or `None` when the client left.
async fn stream_attempt(
    backend: &dyn LlmBackend,
    req: GenerateRequest,
    opening: Option<&str>,
    events: &mpsc::Sender<Result<ComposeEvent, ComposeError>>,
) -> Result<Option<String>, ComposeError> {
    let mut stream = backend.generate(req).await?;
    let mut text = String::new();
    if let Some(opening) = opening {
        text.push_str(opening);
        if events
            .send(Ok(ComposeEvent::Token(opening.to_string())))
            .await
            .is_err()
        {
            return Ok(None);
        }
    }
    while let Some(event) = stream.next().await {
        match event? {
            GenerateEvent::Token(t) => {
                text.push_str(&t);
                if events.send(Ok(ComposeEvent::Token(t))).await.is_err() {
                    return Ok(None);
                }
            }
            GenerateEvent::Done(c) => {
                return Ok(Some(format!("{}{}", opening.unwrap_or(""), c.text)))
            }
        }
    }
    Ok(Some(text))
}

/// The guardrails' verdict on a draft of `prepared`'s prompt.
fn verdict(
    text: &str,
    input: &ComposeInput,
    prepared: &Prepared,
    detect: &LanguageDetector,
) -> Vec<Violation> {
    guardrails::check(text, &draft_context(input, prepared), &|t: &str| detect(t))
}

/// The operator's own text: the only source of phone numbers, emails and links a draft may
/// give out.
fn sanctioned_text(input: &ComposeInput) -> String {
    let b = &input.business;
    format!(
        "{}\n{}\n{}\n{}\n{}",
        input.goal, b.name, b.sign_off, b.hours, b.service_area
    )
}

fn draft_context<'a>(input: &'a ComposeInput, prepared: &'a Prepared) -> DraftContext<'a> {
    DraftContext {
        goal: &input.goal,
        language: &prepared.language,
        inbound: &prepared.inbound,
        instructed: &prepared.instructed,
        instructions: &prepared.instructions,
        first_name: &prepared.first_name,
        technicians: &input.business.technicians,
        sms: prepared.sms,
        sanctioned: &prepared.sanctioned,
    }
}

fn repair_instruction(violations: &[Violation], language: &str) -> String {
    let problems: Vec<String> = violations
        .iter()
        .map(|v| format!("- {}", v.detail))
        .collect();
    format!(
        "That reply has problems:\n{}\nWrite the reply again in {}, fixing them. Output only the message.",
        problems.join("\n"),
        language_name(language)
    )
}

/// Drafts a reply, streaming tokens as they are generated. The stream ends with `Done`, or an
/// error; dropping the receiver cancels the generation.
pub fn compose(
    backend: Arc<dyn LlmBackend>,
    detect: LanguageDetector,
    input: ComposeInput,
) -> Result<mpsc::Receiver<Result<ComposeEvent, ComposeError>>, ComposeError> {
    let prepared = prepare(&input, &detect)?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let started = Instant::now();
        let result = run(&*backend, &detect, &input, prepared, &tx, started).await;
        match result {
            Ok(Some(done)) => {
                let _ = tx.send(Ok(ComposeEvent::Done(done))).await;
            }
            Ok(None) => {}
            Err(e) => {
                let _ = tx.send(Err(e)).await;
            }
        }
    });
    Ok(rx)
}

async fn run(
    backend: &dyn LlmBackend,
    detect: &LanguageDetector,
    input: &ComposeInput,
    prepared: Prepared,
    tx: &mpsc::Sender<Result<ComposeEvent, ComposeError>>,
    started: Instant,
) -> Result<Option<Composed>, ComposeError> {
    if input.route == Route::ViaEnglish && prepared.language != "en" {
        return via_english(backend, detect, input, prepared, tx, started).await;
    }
    run_direct(backend, detect, input, prepared, tx, started).await
}

async fn run_direct(
    backend: &dyn LlmBackend,
    detect: &LanguageDetector,
    input: &ComposeInput,
    prepared: Prepared,
    tx: &mpsc::Sender<Result<ComposeEvent, ComposeError>>,
    started: Instant,
) -> Result<Option<Composed>, ComposeError> {
    let judge = |text: &str| verdict(text, input, &prepared, detect);
    let goal_facts = facts::extract(&input.goal, &input.business.technicians);
    let clean = |raw: &str| facts::mend(&guardrails::tidy(raw), &goal_facts, &prepared.language);
    let req = request(prepared.messages.clone(), prepared.max_tokens);
    let opening = prepared.opening.as_deref();
    let Some(raw) = stream_attempt(backend, req, opening, tx).await? else {
        return Ok(None);
    };
    let mut text = clean(&raw);
    let mut flags = judge(&text);
    tracing::debug!(?flags, %raw, "first attempt");
    let mut attempts = 1;
    // A left-out fact, question or instruction is patched in below; a full rewrite tends to
    // drop it again.
    let only_facts_missing = |flags: &[Violation]| {
        !flags.is_empty()
            && flags.iter().all(|v| {
                matches!(
                    v.check,
                    "missing_fact" | "missing_question" | "missing_point"
                )
            })
    };
    // A draft that parrots the customer, echoes the instruction or refuses goes straight to the
    // scrub and the rebuild below: the repair turn tends to give the same text back (dev-001
    // parroted the customer twice), at the cost of a whole generation.
    let from_goal = flags
        .iter()
        .any(|v| matches!(v.check, "echo" | "parrot" | "refusal"));
    if !flags.is_empty() && !only_facts_missing(&flags) && !from_goal {
        attempts += 1;
        if tx
            .send(Ok(ComposeEvent::Retry(flags.clone())))
            .await
            .is_err()
        {
            return Ok(None);
        }
        let mut messages = prepared.messages.clone();
        if opening.is_some() {
            messages.pop();
        }
        messages.push(ChatMessage::assistant(text.clone()));
        messages.push(ChatMessage::user(repair_instruction(
            &flags,
            &prepared.language,
        )));
        if let Some(opening) = opening {
            messages.push(ChatMessage::assistant(opening));
        }
        let req = request(messages, prepared.max_tokens);
        let Some(raw) = stream_attempt(backend, req, opening, tx).await? else {
            return Ok(None);
        };
        let repaired = clean(&raw);
        let repaired_flags = judge(&repaired);
        // Keep whichever attempt fails fewer checks.
        if repaired_flags.len() <= flags.len() {
            text = repaired;
            flags = repaired_flags;
        }
    }
    // Safety first: what an injection asked for never reaches the operator, even at the cost
    // of a thinner draft. English sentences in a reply that is not English go too; the patch
    // below writes their facts again in the customer's language.
    if flags.iter().any(|v| {
        matches!(
            v.check,
            "contact_info" | "parrot" | "obeys_injection" | "mixed_language"
        )
    }) {
        let ctx = draft_context(input, &prepared);
        if let Some(scrubbed) = guardrails::scrub(&text, opening, &ctx, &|t: &str| detect(t)) {
            flags = judge(&scrubbed);
            text = scrubbed;
            if !replace_streamed(tx, &flags, &text).await {
                return Ok(None);
            }
        }
    }
    // A draft that says nothing of the goal (a refusal, an echo, or what the scrub left) is
    // rebuilt from the goal; one that leaves facts out (the rebuilt one too) gets them put back.
    let hollow = is_hollow(&text, opening, &flags);
    tracing::debug!(?flags, hollow, %text, "draft before the rebuild and patch");
    if hollow {
        if let Some(rebuilt) = rebuild(backend, detect, input, &prepared).await? {
            let rebuilt_flags = judge(&rebuilt);
            if rebuilt_flags.len() <= flags.len() {
                attempts += 1;
                (text, flags) = (rebuilt, rebuilt_flags);
                if !replace_streamed(tx, &flags, &text).await {
                    return Ok(None);
                }
            }
        }
    }
    // A draft still over two SMS segments after its repair gets its left-out facts all the
    // same: in Portuguese or Vietnamese a single accent makes a segment 70 characters, and a
    // reply without the technician's name is worse than a long one (test-047).
    let patchable = |flags: &[Violation]| {
        let rest: Vec<Violation> = flags
            .iter()
            .filter(|v| v.check != "too_long")
            .cloned()
            .collect();
        only_facts_missing(&rest)
    };
    if patchable(&flags) {
        if let Some(mut patched) = patch_gap(backend, detect, input, &prepared, &text).await? {
            let mut patched_flags = judge(&patched);
            tracing::debug!(?patched_flags, %patched, "patched draft");
            // The added sentence can tip an SMS over two segments: drop a pleasantry instead.
            // A draft that was too long already keeps its sentences: what fitting drops first
            // may be a part of the goal no check reads ("sem custo", test-047).
            let too_long = |flags: &[Violation]| flags.iter().any(|v| v.check == "too_long");
            if too_long(&patched_flags) && !too_long(&flags) {
                let fitted =
                    patch::fit_sms(&patched, opening, &input.goal, &input.business.technicians);
                if let Some(fitted) = fitted {
                    (patched_flags, patched) = (judge(&fitted), fitted);
                }
            }
            if patched_flags.len() < flags.len() {
                attempts += 1;
                (text, flags) = (patched, patched_flags);
                if !replace_streamed(tx, &flags, &text).await {
                    return Ok(None);
                }
            }
        }
    }
    Ok(Some(Composed {
        text,
        language: prepared.language,
        flags,
        attempts,
        latency_ms: started.elapsed().as_millis() as u64,
    }))
}

/// Tells the client to drop what was streamed and take `text` instead; `false` when the
/// client left.
async fn replace_streamed(
    tx: &mpsc::Sender<Result<ComposeEvent, ComposeError>>,
    flags: &[Violation],
    text: &str,
) -> bool {
    tx.send(Ok(ComposeEvent::Retry(flags.to_vec())))
        .await
        .is_ok()
        && tx
            .send(Ok(ComposeEvent::Token(text.to_string())))
            .await
            .is_ok()
}

/// Whether a draft carries nothing of the goal: a refusal, an echo of the instruction, a copy
/// of the customer that the scrub could not cut out (a sentence only half copied, as
/// unpunctuated Arabic runs on), or at most a couple of words after its greeting.
fn is_hollow(text: &str, opening: Option<&str>, flags: &[Violation]) -> bool {
    let body = opening.and_then(|o| text.strip_prefix(o)).unwrap_or(text);
    flags
        .iter()
        .any(|v| matches!(v.check, "refusal" | "echo" | "empty" | "parrot"))
        || body.split_whitespace().count() < 3
}

/// What the fact-sentence prompt writes for `note`: one part of the goal, or all of it. Empty
/// when the model could not write it as a sentence in the customer's language.
async fn fact_sentence(
    backend: &dyn LlmBackend,
    detect: &LanguageDetector,
    input: &ComposeInput,
    prepared: &Prepared,
    note: String,
) -> Result<String, ComposeError> {
    let target = prepared.language.as_str();
    let note_facts = facts::extract(&note, &input.business.technicians);
    let (written, found, fallback) =
        match sentence_in(backend, input, prepared, &note, &note_facts, target).await? {
            Some(written) => {
                let found = detect(&written).filter(|found| found != target);
                (written, found, false)
            }
            // Asked twice, the model only listed the facts (test-047: "Brian, amanhã, 8:00.").
            // In English, the note's own language, it still writes the sentence, and the
            // translation below carries it over.
            None if target != "en" => {
                match sentence_in(backend, input, prepared, &note, &note_facts, "en").await? {
                    Some(english) => (english, Some("en".to_string()), true),
                    None => return Ok(String::new()),
                }
            }
            None => return Ok(String::new()),
        };
    // Given an English note, small models often hand the sentence back in English; the
    // translation prompt carries it over and checks that its facts survived.
    let Some(found) = found else {
        return Ok(written);
    };
    let translated = super::translate::translate(
        backend,
        detect,
        &input.templates.translate,
        &written,
        Some(&found),
        target,
    )
    .await?;
    let text = facts::mend(&guardrails::tidy(&translated.text), &note_facts, target);
    let must_include: Vec<String> = note_facts.iter().map(|f| f.spelled(target)).collect();
    // The English fallback's translation must carry every fact of the note, names and days
    // too (names only in a Latin script): it is the whole of what the draft says.
    let whole = |text: &str| {
        note_facts.iter().all(|f| {
            (matches!(f, facts::Fact::Name(_)) && !guardrails::latin_script(target))
                || facts::present(f, text)
        })
    };
    let fixed = translated.missing.is_empty()
        && detect(&text).is_none_or(|l| l == target)
        && !only_lists_facts(&text, &must_include)
        && (!fallback || whole(&text));
    tracing::debug!(fixed, %text, "fact sentence translated");
    Ok(if fixed && !text.is_empty() {
        text
    } else if fallback {
        // The English sentence was never the customer's language.
        String::new()
    } else {
        written
    })
}

/// The fact-sentence prompt's sentence for `note` in `language`, asked a second time when the
/// first answer only lists the facts; `None` when the second does too.
async fn sentence_in(
    backend: &dyn LlmBackend,
    input: &ComposeInput,
    prepared: &Prepared,
    note: &str,
    note_facts: &[facts::Fact],
    language: &str,
) -> Result<Option<String>, ComposeError> {
    let ctx = FactSentenceContext {
        business: input.business.clone(),
        customer: CustomerView {
            name: input.customer_name.clone(),
            first_name: prepared.first_name.clone(),
        },
        must_include: note_facts.iter().map(|f| f.spelled(language)).collect(),
        note: note.to_string(),
        language: LanguageView {
            code: language.to_string(),
            name: language_name(language).to_string(),
        },
    };
    let messages: Vec<ChatMessage> = prompts::render(
        PromptName::FactSentence,
        &input.templates.fact_sentence,
        &ctx,
    )?
    .into_iter()
    .map(ChatMessage::from)
    .collect();
    let clean = |raw: &str| facts::mend(&guardrails::tidy(raw), note_facts, language);
    let done = backend
        .complete(request(messages.clone(), PATCH_MAX_TOKENS))
        .await?;
    let written = clean(&done.text);
    tracing::debug!(%written, language, "fact sentence");
    if !only_lists_facts(&written, &ctx.must_include) {
        return Ok(Some(written));
    }
    // Asked again with its list in view, the model usually writes the sentence.
    let mut again = messages;
    again.push(ChatMessage::assistant(written));
    again.push(ChatMessage::user(format!(
        "That is a list, not a sentence. Write one complete sentence to {} in {} that says the same.",
        ctx.customer.first_name, ctx.language.name
    )));
    let done = backend.complete(request(again, PATCH_MAX_TOKENS)).await?;
    let written = clean(&done.text);
    tracing::debug!(%written, language, "fact sentence, asked again for a sentence");
    Ok((!only_lists_facts(&written, &ctx.must_include)).then_some(written))
}

/// Whether a fact sentence is only its facts ("Brian, amanhã, 8:00."): a list would pass every
/// check and still read as nonsense to the customer.
fn only_lists_facts(written: &str, must_include: &[String]) -> bool {
    let mut rest = written.to_lowercase();
    for fact in must_include {
        rest = rest.replace(&fact.to_lowercase(), " ");
    }
    rest.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .count()
        < 2
}

/// A hollow draft rebuilt: the greeting, then the whole goal as the fact-sentence prompt
/// writes it.
async fn rebuild(
    backend: &dyn LlmBackend,
    detect: &LanguageDetector,
    input: &ComposeInput,
    prepared: &Prepared,
) -> Result<Option<String>, ComposeError> {
    let written = fact_sentence(
        backend,
        detect,
        input,
        prepared,
        input.goal.trim().to_string(),
    )
    .await?;
    if written.is_empty() {
        return Ok(None);
    }
    let opening = prepared.opening.as_deref().unwrap_or("");
    Ok(Some(format!("{opening} {written}").trim().to_string()))
}

/// The draft with the goal's left-out facts put back (see `patch`), or `None` when the fact
/// sentence does not carry them either.
async fn patch_gap(
    backend: &dyn LlmBackend,
    detect: &LanguageDetector,
    input: &ComposeInput,
    prepared: &Prepared,
    draft: &str,
) -> Result<Option<String>, ComposeError> {
    let technicians = &input.business.technicians;
    let english = prepared.language == "en";
    let gap_in = |draft: &str| {
        patch::gap(
            &input.goal,
            draft,
            technicians,
            guardrails::latin_script(&prepared.language),
            english,
        )
    };
    let mut gap = gap_in(draft);
    if gap.is_empty() {
        return Ok(None);
    }
    // A left-out technician is most often a sentence's "I" or "we": naming them there needs
    // no generation.
    let named = english
        .then(|| subject::name_subjects(draft, &gap, technicians))
        .flatten();
    if let Some(named) = &named {
        tracing::debug!(%named, "left-out names written in as subjects");
        gap = gap_in(named);
        if gap.is_empty() {
            return Ok(Some(named.clone()));
        }
    }
    // what the steps without a generation made of the draft, if anything
    let mut improved = named;
    // An unasked "ask which model he bought" is put to the customer as it stands, in English:
    // the fact-sentence prompt tends to turn it into a statement about "him".
    if english && gap.question {
        let asked: Vec<String> = gap
            .points
            .iter()
            .filter_map(|p| question::put_to_customer(p))
            .collect();
        if !asked.is_empty() {
            let current = improved.as_deref().unwrap_or(draft);
            let with_question = patch::insert(current, &asked.join(" "), &input.business.sign_off);
            tracing::debug!(%with_question, "left-out questions put to the customer");
            gap = gap_in(&with_question);
            if gap.is_empty() {
                return Ok(Some(with_question));
            }
            improved = Some(with_question);
        }
    }
    let draft = improved.as_deref().unwrap_or(draft);
    let mini = fact_sentence(backend, detect, input, prepared, gap.points.join("; ")).await?;
    tracing::debug!(points = ?gap.points, %mini, "fact sentence for the left-out facts");
    Ok(patch::carrying_sentences(&mini, &gap)
        .map(|sentence| patch::insert(draft, &sentence, &input.business.sign_off))
        .or(improved))
}

/// A fact sentence is one sentence; the patch keeps only the sentences with the facts.
const PATCH_MAX_TOKENS: u32 = 60;

/// The `Route::ViaEnglish` draft: an English draft, not streamed, then its translation into
/// the target language, streamed once it is checked. Judged like a direct draft.
async fn via_english(
    backend: &dyn LlmBackend,
    detect: &LanguageDetector,
    input: &ComposeInput,
    prepared: Prepared,
    tx: &mpsc::Sender<Result<ComposeEvent, ComposeError>>,
    started: Instant,
) -> Result<Option<Composed>, ComposeError> {
    let english_input = ComposeInput {
        language: Some("en".to_string()),
        route: Route::Direct,
        ..input.clone()
    };
    let english = prepare(&english_input, detect)?;
    let (sink, mut drain) = mpsc::channel(64);
    // The English draft is an intermediate: its tokens are not the operator's reply.
    let drained = tokio::spawn(async move { while drain.recv().await.is_some() {} });
    let english_draft =
        run_direct(backend, detect, &english_input, english, &sink, started).await?;
    drop(sink);
    let _ = drained.await;
    let Some(english_draft) = english_draft else {
        return Ok(None);
    };
    let translated = super::translate::translate(
        backend,
        detect,
        &input.templates.translate,
        &english_draft.text,
        Some("en"),
        &prepared.language,
    )
    .await?;
    let text = guardrails::tidy(&translated.text);
    if tx
        .send(Ok(ComposeEvent::Token(text.clone())))
        .await
        .is_err()
    {
        return Ok(None);
    }
    let flags = verdict(&text, input, &prepared, detect);
    Ok(Some(Composed {
        text,
        language: prepared.language,
        flags,
        attempts: english_draft.attempts + 1,
        latency_ms: started.elapsed().as_millis() as u64,
    }))
}

/// Warms the model's prefix cache with everything a draft of this thread will start with — the
/// instructions, the voice and the conversation — so that when an operator asks, only the goal
/// line is left to prefill. Called when a customer message lands.
pub async fn prefill(
    backend: &dyn LlmBackend,
    detect: &LanguageDetector,
    mut input: ComposeInput,
) -> Result<(), ComposeError> {
    input.goal = String::new();
    let prepared = render_prompt(&input, detect)?;
    // The goal-less render shares every token with the real prompt up to the goal, and the
    // cache matches on the longest common prefix.
    backend
        .prefill(crate::llm::Prompt::Chat(prepared.messages))
        .await?;
    Ok(())
}

/// Drafts a reply and waits for the result.
pub async fn compose_blocking(
    backend: Arc<dyn LlmBackend>,
    detect: LanguageDetector,
    input: ComposeInput,
) -> Result<Composed, ComposeError> {
    let mut rx = compose(backend, detect, input)?;
    while let Some(event) = rx.recv().await {
        if let ComposeEvent::Done(done) = event? {
            return Ok(done);
        }
    }
    Err(ComposeError::Llm(LlmError::Cancelled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_list_of_facts_is_not_a_sentence() {
        let facts = [
            "Brian".to_string(),
            "amanhã".to_string(),
            "8:00".to_string(),
        ];
        assert!(only_lists_facts("Brian, amanhã, 8:00.", &facts));
        assert!(!only_lists_facts(
            "Brian estará aí amanhã às 8:00, sem custo.",
            &facts
        ));
    }

    #[test]
    fn goal_points_split_chained_goals() {
        assert_eq!(
            goal_points(
                "yes, 10-year parts warranty; labor has expired.  Offer a diagnostic at $99"
            ),
            vec![
                "yes, 10-year parts warranty",
                "labor has expired",
                "Offer a diagnostic at $99"
            ]
        );
        assert_eq!(
            goal_points("propose 3 PM Tuesday"),
            vec!["propose 3 PM Tuesday"]
        );
        assert_eq!(goal_points("total is $1.5k. ;;"), vec!["total is $1.5k"]);
    }
}
