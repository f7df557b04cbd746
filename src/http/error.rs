//! The one place errors become HTTP: a stable `type` clients can match, a message for a person,
//! and no internals on 5xx.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

/// The error `type` values of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Validation,
    Unauthorized,
    NotFound,
    Conflict,
    PayloadTooLarge,
    Overloaded,
    Upstream,
    Internal,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorKind,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

/// `{"error": {"type", "message"}}`
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Validation,
            message,
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::Validation, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorKind::Unauthorized, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, message)
    }

    pub fn overloaded(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Overloaded,
                "the service is busy; retry shortly",
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal,
            "internal error; it has been logged",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, ErrorKind::Conflict, m),
            StoreError::Invalid(m) => ApiError::validation(m),
            StoreError::Cursor(e) => ApiError::bad_request(e.to_string()),
            StoreError::Closed => ApiError::overloaded(1),
            StoreError::Database(sqlx::Error::PoolTimedOut) => ApiError::overloaded(1),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::llm::LlmError> for ApiError {
    fn from(err: crate::llm::LlmError) -> Self {
        use crate::llm::LlmError;
        match &err {
            LlmError::Overloaded { retry_after } => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                ..ApiError::overloaded(retry_after.as_secs().max(1))
            },
            LlmError::InvalidRequest(m) => ApiError::validation(m.clone()),
            LlmError::ModelUnavailable(_) => ApiError::overloaded(10),
            LlmError::Upstream { .. } | LlmError::Timeout(_) => {
                tracing::warn!(error = %err, "model backend failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    ErrorKind::Upstream,
                    "the model backend failed; retry shortly",
                )
            }
            _ => {
                tracing::error!(error = %err, "generation failed");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.kind,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
