//! Prompt templates, for operators: read, replace (validated), roll back, reset, preview.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, Auth, Operator};
use super::{check_len, AppState};
use crate::pipeline::templates::live_template;
use crate::prompts::{self, ChatTurn, PromptError, PromptName};
use crate::store::PromptVersion;

/// Largest template accepted.
const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateSummary {
    pub name: PromptName,
    /// `default-<hash>` for the shipped text, `v<N>` for the business's own version.
    pub version: String,
    pub custom: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    pub templates: Vec<TemplateSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateDetail {
    pub name: PromptName,
    pub version: String,
    pub custom: bool,
    pub source: String,
    /// The business's versions, newest first; a null source is a reset to the default.
    pub history: Vec<PromptVersion>,
}

fn parse_name(name: &str) -> Result<PromptName, ApiError> {
    name.parse()
        .map_err(|e: crate::domain::UnknownVariant| ApiError::not_found(e.to_string()))
}

fn invalid(e: PromptError) -> ApiError {
    ApiError::validation(e.to_string())
}

async fn detail(
    state: &AppState,
    tenant: &str,
    name: PromptName,
) -> Result<TemplateDetail, ApiError> {
    let live = live_template(&state.store, &state.prompts, tenant, name).await?;
    Ok(TemplateDetail {
        name,
        version: live.version,
        custom: live.custom,
        source: live.source,
        history: state.store.prompt_history(tenant, name.as_str()).await?,
    })
}

#[utoipa::path(get, path = "/v1/templates", tag = "operator",
    responses((status = 200, body = TemplateList), (status = 403, body = ErrorBody)))]
pub async fn list_templates(
    State(state): State<AppState>,
    Operator(who): Operator,
) -> Result<Json<TemplateList>, ApiError> {
    let mut templates = Vec::new();
    for name in PromptName::ALL {
        let live = live_template(&state.store, &state.prompts, &who.tenant_id, name).await?;
        templates.push(TemplateSummary {
            name,
            version: live.version,
            custom: live.custom,
        });
    }
    Ok(Json(TemplateList { templates }))
}

#[utoipa::path(get, path = "/v1/templates/{name}", tag = "operator",
    responses((status = 200, body = TemplateDetail), (status = 404, body = ErrorBody)))]
pub async fn get_template(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(name): Path<String>,
) -> Result<Json<TemplateDetail>, ApiError> {
    let name = parse_name(&name)?;
    Ok(Json(detail(&state, &who.tenant_id, name).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PutTemplate {
    pub source: String,
}

/// Replace a template. It is compiled and rendered against sample data first: a broken
/// template is a 422 naming the line, and the live version does not change.
#[utoipa::path(put, path = "/v1/templates/{name}", tag = "operator", request_body = PutTemplate,
    responses((status = 200, body = TemplateDetail), (status = 422, body = ErrorBody)))]
pub async fn put_template(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(name): Path<String>,
    AppJson(req): AppJson<PutTemplate>,
) -> Result<Json<TemplateDetail>, ApiError> {
    let name = parse_name(&name)?;
    check_len("source", &req.source, MAX_TEMPLATE_BYTES)?;
    prompts::validate(name, &req.source).map_err(invalid)?;
    state
        .store
        .put_prompt(&who.tenant_id, name.as_str(), Some(&req.source))
        .await?;
    Ok(Json(detail(&state, &who.tenant_id, name).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Rollback {
    pub version: i64,
}

/// Make an earlier version live again (as a new version, so history only grows).
#[utoipa::path(post, path = "/v1/templates/{name}/rollback", tag = "operator",
    request_body = Rollback,
    responses((status = 200, body = TemplateDetail), (status = 404, body = ErrorBody)))]
pub async fn rollback_template(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(name): Path<String>,
    AppJson(req): AppJson<Rollback>,
) -> Result<Json<TemplateDetail>, ApiError> {
    let name = parse_name(&name)?;
    let history = state
        .store
        .prompt_history(&who.tenant_id, name.as_str())
        .await?;
    let target = history
        .iter()
        .find(|v| v.version == req.version)
        .ok_or_else(|| ApiError::not_found(format!("{name} has no version {}", req.version)))?;
    if let Some(source) = &target.source {
        // The shipped default may have moved on since; an old override must still render.
        prompts::validate(name, source).map_err(invalid)?;
    }
    state
        .store
        .put_prompt(&who.tenant_id, name.as_str(), target.source.as_deref())
        .await?;
    Ok(Json(detail(&state, &who.tenant_id, name).await?))
}

/// Go back to the shipped default (recorded as a new version).
#[utoipa::path(delete, path = "/v1/templates/{name}", tag = "operator",
    responses((status = 200, body = TemplateDetail), (status = 404, body = ErrorBody)))]
pub async fn reset_template(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(name): Path<String>,
) -> Result<Json<TemplateDetail>, ApiError> {
    let name = parse_name(&name)?;
    state
        .store
        .put_prompt(&who.tenant_id, name.as_str(), None)
        .await?;
    Ok(Json(detail(&state, &who.tenant_id, name).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PreviewRequest {
    /// Template text to try; omit to preview the live version.
    pub source: Option<String>,
    /// Variables to render with; omit for the built-in sample conversation.
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub turns: Vec<ChatTurn>,
}

/// Render a template without calling a model.
#[utoipa::path(post, path = "/v1/templates/{name}/preview", tag = "operator",
    request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 422, body = ErrorBody)))]
pub async fn preview_template(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(name): Path<String>,
    AppJson(req): AppJson<PreviewRequest>,
) -> Result<Json<Preview>, ApiError> {
    let name = parse_name(&name)?;
    let source = match req.source {
        Some(s) => {
            check_len("source", &s, MAX_TEMPLATE_BYTES)?;
            s
        }
        None => {
            live_template(&state.store, &state.prompts, &who.tenant_id, name)
                .await?
                .source
        }
    };
    let turns = match req.context {
        Some(ctx) => prompts::render(name, &source, &ctx),
        None => prompts::validate(name, &source),
    }
    .map_err(invalid)?;
    Ok(Json(Preview { turns }))
}
