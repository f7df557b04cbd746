//! Which template text is live for a business: its newest override, else the shipped default.

use super::compose::DraftTemplates;
use crate::prompts::{PromptLibrary, PromptName};
use crate::store::{Store, StoreError};

/// The text of a template and a label saying which version it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTemplate {
    pub source: String,
    /// `default-<hash>` or `v<N>` for a business's own version.
    pub version: String,
    pub custom: bool,
}

pub async fn live_template(
    store: &Store,
    library: &PromptLibrary,
    tenant_id: &str,
    name: PromptName,
) -> Result<LiveTemplate, StoreError> {
    let history = store.prompt_history(tenant_id, name.as_str()).await?;
    match history.first() {
        Some(newest) if newest.source.is_some() => Ok(LiveTemplate {
            source: newest.source.clone().unwrap_or_default(),
            version: format!("v{}", newest.version),
            custom: true,
        }),
        _ => {
            let default = library.get(name);
            Ok(LiveTemplate {
                source: default.source,
                version: default.version,
                custom: false,
            })
        }
    }
}

/// The live templates a business's drafts render.
pub async fn draft_templates(
    store: &Store,
    library: &PromptLibrary,
    tenant_id: &str,
) -> Result<DraftTemplates, StoreError> {
    let live = |name| live_template(store, library, tenant_id, name);
    Ok(DraftTemplates {
        compose: live(PromptName::Compose).await?.source,
        fact_sentence: live(PromptName::FactSentence).await?.source,
        translate: live(PromptName::Translate).await?.source,
    })
}
