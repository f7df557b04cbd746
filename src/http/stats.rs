//! Inbox figures: how fast the business answers.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppQuery, Auth};
use super::AppState;
use crate::store::ResponseTimes;

#[derive(Debug, Deserialize, IntoParams)]
pub struct StatsQuery {
    /// Window in days, 1-365, default 30.
    pub days: Option<i64>,
}

/// Median and p90 first-response time over the last N days.
#[utoipa::path(get, path = "/v1/stats/response-times", tag = "inbox", params(StatsQuery),
    responses((status = 200, body = ResponseTimes), (status = 400, body = ErrorBody)))]
pub async fn response_times(
    State(state): State<AppState>,
    Auth(who): Auth,
    AppQuery(query): AppQuery<StatsQuery>,
) -> Result<Json<ResponseTimes>, ApiError> {
    let days = query.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::bad_request("`days` must be between 1 and 365"));
    }
    Ok(Json(
        state.store.response_times(&who.tenant_id, days).await?,
    ))
}
