//! Drafts on stored threads: load what a draft needs from the store, and warm the model with a
//! thread as soon as a customer message lands so the operator's draft starts fast.

use std::sync::Arc;

use super::compose::{self, ComposeInput, DraftTemplates, LanguageDetector, ThreadTurn};
use super::templates::draft_templates;
use crate::domain::{Thread, VoiceSettings};
use crate::llm::LlmBackend;
use crate::prompts::PromptLibrary;
use crate::store::{Store, StoreError};

/// Messages of a thread a draft is written from (the newest, oldest first).
const CONTEXT_MESSAGES: i64 = 12;

/// A stored thread as the compose pipeline sees it.
pub struct ThreadContext {
    pub thread: Thread,
    pub turns: Vec<ThreadTurn>,
    pub voice: VoiceSettings,
    pub templates: DraftTemplates,
}

pub async fn load(
    store: &Store,
    library: &PromptLibrary,
    tenant: &str,
    thread_id: &str,
) -> Result<ThreadContext, StoreError> {
    let thread = store.get_thread(tenant, thread_id).await?;
    let page = store
        .list_messages(tenant, thread_id, None, CONTEXT_MESSAGES)
        .await?;
    let turns = page
        .messages
        .into_iter()
        // A blocked sender's messages are kept but never drafted from.
        .filter(|m| !m.sender_blocked)
        .map(|m| ThreadTurn {
            direction: m.direction,
            channel: m.channel,
            text: m.body,
            at: m.created_at,
        })
        .collect();
    let voice = store.voice(tenant).await?;
    let templates = draft_templates(store, library, tenant).await?;
    Ok(ThreadContext {
        thread,
        turns,
        voice,
        templates,
    })
}

impl ThreadContext {
    pub fn compose_input(&self, goal: String, language: Option<String>) -> ComposeInput {
        ComposeInput {
            business: self.voice.clone(),
            customer_name: self.thread.customer.name.clone().unwrap_or_default(),
            thread: self.turns.clone(),
            goal,
            language: language.or(self.thread.language.clone()),
            templates: self.templates.clone(),
            route: compose::Route::Direct,
        }
    }
}

/// Prefills the thread's draft prompt in the background; best effort (a busy model skips it).
pub fn warm_in_background(
    store: Store,
    library: Arc<PromptLibrary>,
    backend: Arc<dyn LlmBackend>,
    detect: LanguageDetector,
    tenant: String,
    thread_id: String,
) {
    tokio::spawn(async move {
        let ctx = match load(&store, &library, &tenant, &thread_id).await {
            Ok(ctx) => ctx,
            Err(e) => {
                tracing::debug!(error = %e, "no prefill: thread not loadable");
                return;
            }
        };
        let input = ctx.compose_input(String::new(), None);
        if let Err(e) = compose::prefill(&*backend, &detect, input).await {
            tracing::debug!(error = %e, "prefill skipped");
        }
    });
}
