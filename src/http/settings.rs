//! The business's drafting voice and its triage taxonomy.

use axum::extract::State;
use axum::Json;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, Auth, Operator};
use super::{check_len, AppState};
use crate::domain::VoiceSettings;
use crate::pipeline::triage::RelearnError;
use crate::triage::Taxonomy;

#[utoipa::path(get, path = "/v1/settings/voice", tag = "operator",
    responses((status = 200, body = VoiceSettings)))]
pub async fn get_voice(
    State(state): State<AppState>,
    Auth(who): Auth,
) -> Result<Json<VoiceSettings>, ApiError> {
    Ok(Json(state.store.voice(&who.tenant_id).await?))
}

fn validate(v: &VoiceSettings) -> Result<(), ApiError> {
    for (field, value, max) in [
        ("name", &v.name, 200),
        ("tone", &v.tone, 200),
        ("sign_off", &v.sign_off, 200),
        ("service_area", &v.service_area, 500),
        ("hours", &v.hours, 200),
        ("time_zone", &v.time_zone, 64),
    ] {
        check_len(field, value, max)?;
    }
    for (field, list) in [
        ("technicians", &v.technicians),
        ("avoid_words", &v.avoid_words),
    ] {
        if list.len() > 50 {
            return Err(ApiError::validation(format!(
                "`{field}` has more than 50 entries"
            )));
        }
        for item in list {
            check_len(field, item, 100)?;
        }
    }
    if !v.time_zone.is_empty() && v.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::validation(format!(
            "`time_zone` `{}` is not an IANA time zone (e.g. America/Chicago)",
            v.time_zone
        )));
    }
    Ok(())
}

/// Replace the voice settings (operator only).
#[utoipa::path(put, path = "/v1/settings/voice", tag = "operator", request_body = VoiceSettings,
    responses((status = 200, body = VoiceSettings), (status = 422, body = ErrorBody)))]
pub async fn put_voice(
    State(state): State<AppState>,
    Operator(who): Operator,
    AppJson(voice): AppJson<VoiceSettings>,
) -> Result<Json<VoiceSettings>, ApiError> {
    validate(&voice)?;
    Ok(Json(state.store.set_voice(&who.tenant_id, &voice).await?))
}

#[utoipa::path(get, path = "/v1/settings/taxonomy", tag = "operator",
    responses((status = 200, body = Taxonomy)))]
pub async fn get_taxonomy(
    State(state): State<AppState>,
    Auth(who): Auth,
) -> Result<Json<Taxonomy>, ApiError> {
    Ok(Json(
        state
            .store
            .taxonomy(&who.tenant_id)
            .await?
            .unwrap_or_default(),
    ))
}

const MAX_TAGS: usize = 50;
const MAX_EXAMPLES: usize = 50;

/// What the classifier cannot check: sizes, and that every tag has something to learn from
/// (the shipped data through its id or an alias, or examples of its own).
fn check_taxonomy(t: &Taxonomy) -> Result<(), ApiError> {
    if t.tags.len() > MAX_TAGS {
        return Err(ApiError::validation(format!(
            "a taxonomy has at most {MAX_TAGS} tags"
        )));
    }
    let shipped = Taxonomy::default();
    let mut claimed: Vec<&str> = Vec::new();
    for tag in &t.tags {
        check_len("description", &tag.description, 500)?;
        if tag.examples.len() > MAX_EXAMPLES {
            return Err(ApiError::validation(format!(
                "tag `{}` has more than {MAX_EXAMPLES} examples",
                tag.id
            )));
        }
        for example in &tag.examples {
            check_len("examples", example, 1_000)?;
        }
        for alias in &tag.aliases {
            if shipped.tags.iter().all(|s| s.id != *alias) {
                return Err(ApiError::validation(format!(
                    "tag `{}`: alias `{}` is not a shipped tag ({})",
                    tag.id,
                    alias.chars().take(64).collect::<String>(),
                    shipped.ids().join(", ")
                )));
            }
            if claimed.contains(&alias.as_str()) || t.tags.iter().any(|o| o.id == *alias) {
                return Err(ApiError::validation(format!(
                    "shipped tag `{alias}` is taken by more than one tag"
                )));
            }
            claimed.push(alias);
        }
        let learns_from_data =
            shipped.tags.iter().any(|s| s.id == tag.id) || !tag.aliases.is_empty();
        if !learns_from_data && tag.examples.iter().all(|e| e.trim().is_empty()) {
            return Err(ApiError::validation(format!(
                "tag `{}` is new: give it `examples` (messages that carry it) or `aliases` \
                 (shipped tags it replaces)",
                tag.id
            )));
        }
    }
    Ok(())
}

/// Replace the business's taxonomy (operator only). The classifier is retrained with it before
/// this answers; a taxonomy it cannot train on is a 422 and the old one stays live.
#[utoipa::path(put, path = "/v1/settings/taxonomy", tag = "operator", request_body = Taxonomy,
    responses((status = 200, body = Taxonomy), (status = 422, body = ErrorBody)))]
pub async fn put_taxonomy(
    State(state): State<AppState>,
    Operator(who): Operator,
    AppJson(taxonomy): AppJson<Taxonomy>,
) -> Result<Json<Taxonomy>, ApiError> {
    taxonomy
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    check_taxonomy(&taxonomy)?;
    match state
        .triage
        .set_taxonomy(&state.store, &who.tenant_id, taxonomy.clone())
        .await
    {
        Ok(()) => Ok(Json(taxonomy)),
        Err(RelearnError::Triage(e)) => Err(ApiError::validation(e.to_string())),
        Err(RelearnError::Store(e)) => Err(e.into()),
        Err(RelearnError::Task(e)) => {
            tracing::error!(error = %e, "taxonomy retraining failed");
            Err(ApiError::internal())
        }
    }
}
