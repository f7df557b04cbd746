//! Parley: the AI engine behind a customer-messaging inbox for home-service businesses.
//!
//! The flow reads top to bottom: a message arrives (`http`), is stored (`store`) and triaged
//! (`triage`), and an operator's goal becomes a draft (`llm`, `prompts`, `pipeline`).

pub mod config;
pub mod contact;
pub mod domain;
pub mod eval;
pub mod http;
pub mod llm;
pub mod pipeline;
pub mod prompts;
pub mod store;
pub mod triage;
