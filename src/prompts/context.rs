//! What each template can use, and the sample data templates are validated and previewed with.

use serde::Serialize;

use crate::domain::VoiceSettings;

/// One earlier message, as the compose template sees it.
#[derive(Debug, Clone, Serialize)]
pub struct TurnView {
    /// `customer` or `business`: clearer to a model than inbound/outbound.
    pub from: &'static str,
    pub channel: String,
    pub text: String,
    /// Human-readable local time, e.g. "Mon Nov 23, 6:47 AM".
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    pub name: String,
    pub first_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LanguageView {
    /// ISO 639-1.
    pub code: String,
    /// English name, e.g. "Spanish".
    pub name: String,
}

/// Context of `compose`.
#[derive(Debug, Clone, Serialize)]
pub struct ComposeContext {
    pub business: VoiceSettings,
    pub customer: CustomerView,
    pub thread: Vec<TurnView>,
    pub goal: String,
    pub language: LanguageView,
    /// The channel the reply goes out on; SMS replies are kept short.
    pub channel: String,
    /// e.g. "Monday, November 23, 2026".
    pub today: String,
    /// The customary opening of a reply in the target language, e.g. "Hola Marta,". Ending
    /// the template with it as a begun `--- assistant ---` turn keeps small models on task.
    pub greeting: String,
    /// The goal's concrete facts (names, days, times, prices) as the reply should write them
    /// in the target language, e.g. ["Mike", "3 PM"]; the guardrails check each is present.
    pub must_include: Vec<String>,
}

/// Context of `fact_sentence`.
#[derive(Debug, Clone, Serialize)]
pub struct FactSentenceContext {
    pub business: VoiceSettings,
    pub customer: CustomerView,
    /// The goal's part the sentence must say, e.g. "Trey arrives in 30 minutes".
    pub note: String,
    /// The note's facts as the sentence should write them (see `ComposeContext::must_include`).
    pub must_include: Vec<String>,
    pub language: LanguageView,
}

/// Context of `translate`.
#[derive(Debug, Clone, Serialize)]
pub struct TranslateContext {
    pub text: String,
    pub source: LanguageView,
    pub target: LanguageView,
    /// What a first translation lost (numbers, times, prices), as the target language writes
    /// them; empty on the first try.
    pub must_keep: Vec<String>,
}

/// Context of `job_summary`.
#[derive(Debug, Clone, Serialize)]
pub struct JobContext {
    pub business: VoiceSettings,
    pub customer: CustomerView,
    pub thread: Vec<TurnView>,
    pub urgency: String,
}

fn sample_business() -> VoiceSettings {
    VoiceSettings {
        name: "Acme Heating & Air".into(),
        tone: "friendly and concise".into(),
        sign_off: "- Dana, Acme Heating & Air".into(),
        technicians: vec!["Mike".into(), "Luis".into()],
        service_area: "Austin, Round Rock, Pflugerville".into(),
        hours: "Mon-Sat 7 AM - 7 PM".into(),
        avoid_words: vec!["cheap".into()],
        time_zone: "America/Chicago".into(),
    }
}

fn sample_thread() -> Vec<TurnView> {
    vec![
        TurnView {
            from: "customer",
            channel: "sms".into(),
            text: "Hi, AC stopped working overnight and it's 90 in here, two kids at home. Can someone come today?".into(),
            at: "Mon Nov 23, 6:47 AM".into(),
        },
        TurnView {
            from: "business",
            channel: "sms".into(),
            text: "So sorry Maria! Checking the schedule now.".into(),
            at: "Mon Nov 23, 6:52 AM".into(),
        },
    ]
}

fn sample_customer() -> CustomerView {
    CustomerView {
        name: "Maria Lopez".into(),
        first_name: "Maria".into(),
    }
}

pub fn sample_compose() -> ComposeContext {
    ComposeContext {
        business: sample_business(),
        customer: sample_customer(),
        thread: sample_thread(),
        goal: "Mike can be there at 3 PM today".into(),
        language: LanguageView {
            code: "en".into(),
            name: "English".into(),
        },
        channel: "sms".into(),
        today: "Monday, November 23, 2026".into(),
        greeting: "Hi Maria,".into(),
        must_include: vec!["Mike".into(), "3 PM".into()],
    }
}

pub fn sample_fact_sentence() -> FactSentenceContext {
    FactSentenceContext {
        business: sample_business(),
        customer: sample_customer(),
        note: "Mike can be there at 3 PM today".into(),
        must_include: vec!["Mike".into(), "3 PM".into(), "today".into()],
        language: LanguageView {
            code: "en".into(),
            name: "English".into(),
        },
    }
}

pub fn sample_translate() -> TranslateContext {
    TranslateContext {
        text: "Mike can be there at 3 PM today; the diagnostic is $89.".into(),
        source: LanguageView {
            code: "en".into(),
            name: "English".into(),
        },
        target: LanguageView {
            code: "es".into(),
            name: "Spanish".into(),
        },
        must_keep: vec!["3 PM".into()],
    }
}

pub fn sample_job() -> JobContext {
    JobContext {
        business: sample_business(),
        customer: sample_customer(),
        thread: sample_thread(),
        urgency: "emergency".into(),
    }
}
