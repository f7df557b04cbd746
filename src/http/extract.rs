//! Request extractors that answer bad input in the contract's error format: JSON bodies, query
//! strings and the bearer key.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorKind};
use super::AppState;
use crate::domain::Role;
use crate::store::Principal;

/// `Json<T>` whose rejections are `ApiError`s.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::validation(format!(
            "invalid request body: {}",
            std::error::Error::source(&e).map_or_else(|| e.body_text(), |s| s.to_string())
        )),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(format!(
            "malformed JSON: {}",
            std::error::Error::source(&e).map_or_else(|| e.body_text(), |s| s.to_string())
        )),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Validation,
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKind::PayloadTooLarge,
                "request body is too large",
            )
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// `Query<T>` whose rejections are `ApiError`s.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(AppQuery(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(
                format!("invalid query string: {}", e.body_text()),
            )),
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// The authenticated caller: any valid key.
pub struct Auth(pub Principal);

impl<S> FromRequestParts<S> for Auth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing `Authorization: Bearer <key>` header")
        })?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <key>`"))?;
        match state.store.authenticate(key).await? {
            Some(principal) => Ok(Auth(principal)),
            None => Err(ApiError::unauthorized("unknown API key")),
        }
    }
}

/// The authenticated caller, who must hold an operator key.
pub struct Operator(pub Principal);

impl<S> FromRequestParts<S> for Operator
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        if principal.role != Role::Operator {
            return Err(ApiError::forbidden("this endpoint needs an operator key"));
        }
        Ok(Operator(principal))
    }
}
