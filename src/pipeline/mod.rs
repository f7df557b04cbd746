//! The story of a message and a draft, one stage per module:
//! triage(message) = detect language → classify → store;
//! draft(thread, goal) = load → render prompt → generate → check → store.

pub mod compose;
pub mod drafting;
pub mod facts;
pub mod guardrails;
pub mod job;
pub mod patch;
pub mod points;
pub mod question;
pub mod sentences;
pub mod subject;
pub mod templates;
pub mod translate;
pub mod triage;
