//! Parley: the AI engine behind a customer-messaging inbox for home-service businesses.
//!
//! The flow reads top to bottom: a message arrives (`http`), is stored (`store`) and triaged
//! (`triage`), and an operator's goal becomes a draft (`llm`, `prompts`, `pipeline`).

pub mod domain;
pub mod triage;
