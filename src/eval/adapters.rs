//! The real engine behind the eval traits: drafts come from the compose pipeline on a real
//! backend, with the template the run was asked to use.

use std::sync::Arc;

use async_trait::async_trait;

use super::error::EvalError;
use super::fixtures::DraftCase;
use super::traits::{DraftOutput, Drafter, MessageClassifier, MessagePrediction};
use crate::domain::{Channel, VoiceSettings};
use crate::llm::LlmBackend;
use crate::pipeline::compose::{
    compose_blocking, ComposeInput, DraftTemplates, LanguageDetector, Route, ThreadTurn,
};
use crate::triage::Triage;

/// The shipped classifier, as the service runs it.
pub struct TriageClassifier(pub Arc<Triage>);

impl MessageClassifier for TriageClassifier {
    fn classify(&self, text: &str, channel: Option<Channel>) -> MessagePrediction {
        let c = self.0.classify(text, channel);
        let mut p = MessagePrediction::new(
            c.tags.iter().map(|t| t.id.clone()).collect(),
            c.urgency.level,
            c.language.as_ref().map(|l| l.code.clone()),
        );
        p.tag_scores = c.tags.clone();
        p.urgency_score = Some(c.urgency.score);
        p.language_confidence = c.language.as_ref().map(|l| l.confidence);
        p.explanation = serde_json::to_string(&c.reasons).ok();
        p
    }
}

/// Drafts with `compose` exactly as the service does: the target language is left to the
/// thread (as when an operator does not override it), so the eval measures detection too.
pub struct ComposeDrafter {
    pub backend: Arc<dyn LlmBackend>,
    pub detect: LanguageDetector,
    pub templates: DraftTemplates,
    pub template_version: String,
    pub route: Route,
}

#[async_trait]
impl Drafter for ComposeDrafter {
    async fn draft(&self, case: &DraftCase) -> Result<DraftOutput, EvalError> {
        let input = ComposeInput {
            business: VoiceSettings {
                name: case.business.name.clone(),
                tone: case.business.voice.clone().unwrap_or_default(),
                technicians: case.business.technicians.clone(),
                ..VoiceSettings::default()
            },
            customer_name: case.customer.name.clone().unwrap_or_default(),
            thread: case
                .thread
                .iter()
                .map(|t| ThreadTurn {
                    direction: t.direction,
                    channel: t.channel,
                    text: t.text.clone(),
                    at: t.at.map(|at| at.to_utc()).unwrap_or_default(),
                })
                .collect(),
            goal: case.goal.clone(),
            language: None,
            templates: self.templates.clone(),
            route: self.route.clone(),
        };
        let done = compose_blocking(self.backend.clone(), self.detect.clone(), input)
            .await
            .map_err(|e| EvalError::Draft(e.to_string()))?;
        let mut out = DraftOutput::new(done.text, Some(done.language), done.latency_ms);
        out.flags = done.flags.iter().map(|f| f.check.to_string()).collect();
        Ok(out)
    }

    fn describe(&self) -> String {
        let info = self.backend.describe();
        let route = match self.route {
            Route::Direct => "",
            Route::ViaEnglish => ", via English",
        };
        format!("{}:{} greedy{route}", info.kind, info.model)
    }

    fn template_version(&self) -> Option<String> {
        Some(self.template_version.clone())
    }
}
