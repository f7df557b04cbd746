//! API keys, for operators: a new key for the caller's own business.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, Operator};
use super::AppState;
use crate::domain::Role;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// Shown once; only its hash is stored.
    pub key: String,
    pub role: Role,
}

/// Create another key for the caller's business (operator only).
#[utoipa::path(post, path = "/v1/keys", tag = "operator", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKey), (status = 403, body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    Operator(who): Operator,
    AppJson(req): AppJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let key = state
        .store
        .create_key_for_tenant(&who.tenant_id, req.role)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key,
            role: req.role,
        }),
    ))
}
