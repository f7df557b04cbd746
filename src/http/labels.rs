//! Operator corrections of triage labels, and their export as eval fixtures.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, Auth, Operator};
use super::{check_len, AppState};
use crate::domain::{Channel, Message, Urgency};
use crate::store::LabelCorrection;
use crate::triage::Taxonomy;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelsRequest {
    /// The message's real tags (replacing the classifier's); omit to keep them.
    pub tags: Option<Vec<String>>,
    /// The message's real urgency; omit to keep it.
    pub urgency: Option<Urgency>,
    /// Who corrected it, for the record.
    pub author: Option<String>,
}

/// Checks tag ids against the tenant's taxonomy (aliases resolve to their tag) and drops
/// repeats.
fn canonical_tags(taxonomy: &Taxonomy, tags: &[String]) -> Result<Vec<String>, ApiError> {
    if tags.is_empty() {
        return Err(ApiError::validation(
            "`tags` must name at least one tag; omit it to keep the current tags",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let Some(i) = taxonomy.index_of(t.trim()) else {
            let known: Vec<&str> = taxonomy.tags.iter().map(|d| d.id.as_str()).collect();
            return Err(ApiError::validation(format!(
                "unknown tag `{}`; expected one of: {}",
                t.chars().take(64).collect::<String>(),
                known.join(", ")
            )));
        };
        let id = taxonomy.tags[i].id.clone();
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Correct a message's tags and/or urgency. The correction wins over the classifier, moves the
/// thread in Attention at once, and the tenant's classifier retrains on it in the background.
#[utoipa::path(put, path = "/v1/messages/{id}/labels", tag = "inbox",
    request_body = LabelsRequest,
    responses((status = 200, body = Message), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn correct_labels(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    AppJson(req): AppJson<LabelsRequest>,
) -> Result<Json<Message>, ApiError> {
    if req.tags.is_none() && req.urgency.is_none() {
        return Err(ApiError::validation(
            "give `tags`, `urgency` or both: there is nothing to correct",
        ));
    }
    let tags = match &req.tags {
        Some(t) => Some(canonical_tags(
            &state.triage.for_tenant(&who.tenant_id).config().taxonomy,
            t,
        )?),
        None => None,
    };
    let author = match req.author.as_deref().map(str::trim) {
        Some(a) if !a.is_empty() => {
            check_len("author", a, 200)?;
            Some(a.to_string())
        }
        _ => None,
    };
    let correction = LabelCorrection {
        tags,
        urgency: req.urgency,
        author,
    };
    let message = state
        .store
        .correct_labels(&who.tenant_id, &id, &correction)
        .await?;
    let triage = Arc::clone(&state.triage);
    let store = state.store.clone();
    let tenant = who.tenant_id.clone();
    tokio::spawn(async move {
        if let Err(e) = triage.relearn(&store, &tenant).await {
            tracing::error!(error = %e, tenant, "retraining on a correction failed");
        }
    });
    Ok(Json(message))
}

/// One corrected message in the eval runner's message-fixture format.
#[derive(Debug, Serialize)]
struct FixtureLine {
    id: String,
    channel: Channel,
    text: String,
    tags: Vec<String>,
    urgency: Option<Urgency>,
    language: Option<String>,
}

/// The tenant's corrected messages as JSON Lines in the eval fixture format, ready for
/// `parley eval --suite`.
#[utoipa::path(get, path = "/v1/labels/corrections", tag = "inbox",
    responses((status = 200, content_type = "application/x-ndjson", body = String),
              (status = 403, body = ErrorBody)))]
pub async fn export_corrections(
    State(state): State<AppState>,
    Operator(who): Operator,
) -> Result<impl IntoResponse, ApiError> {
    let corrected = state.store.corrections(&who.tenant_id).await?;
    let mut body = String::new();
    for c in corrected {
        let line = FixtureLine {
            id: c.message_id,
            channel: c.channel,
            text: c.text,
            tags: c.tags,
            urgency: c.urgency,
            language: c.language,
        };
        body.push_str(&serde_json::to_string(&line).map_err(|_| ApiError::internal())?);
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body))
}
