//! The business's drafting voice.

use axum::extract::State;
use axum::Json;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, Auth, Operator};
use super::{check_len, AppState};
use crate::domain::VoiceSettings;

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
