//! `/api/v1/functions`: the registered functions, executing one by name; `/api/v1/artifacts/{id}`: the result
//! record of a finished function job.
use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::query::{NoQuery, Query};
use super::{AppState, json_body};
use crate::domain::Params;
use crate::engine::{Submission, Submitted};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::functions::Registered;
use crate::store::StoreError;
use crate::wire::{ArtifactView, ExecuteFunction, ExecuteResponse, FunctionView};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FunctionsQuery {
    /// Comma-separated tags: only functions having ALL of them.
    pub tags: Option<String>,
}

fn view(function: &Registered, nodes: &mut HashMap<String, Vec<String>>) -> FunctionView {
    let f = &function.function;
    FunctionView {
        name: f.name().to_string(),
        description: f.description().to_string(),
        tags: f.tag_list().to_vec(),
        parameters: f.schema().clone(),
        nodes: nodes.remove(f.name()).unwrap_or_default(),
    }
}

/// The functions this server registers, by name; with `tags`, those having all of them.
#[utoipa::path(get, path = "/api/v1/functions", tag = "functions", operation_id = "list_functions", params(FunctionsQuery),
    responses((status = 200, description = "Functions, by name", body = Vec<FunctionView>)))]
pub async fn list(state: web::Data<AppState>, query: Query<FunctionsQuery>) -> Result<HttpResponse, ApiError> {
    let wanted: Vec<&str> =
        query.tags.as_deref().unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    let mut nodes = state.engine.function_nodes().await?;
    let views: Vec<FunctionView> = state
        .engine
        .functions()
        .iter()
        .filter(|f| wanted.iter().all(|t| f.function.tag_list().iter().any(|have| have == t)))
        .map(|f| view(f, &mut nodes))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

fn registered<'a>(state: &'a AppState, name: &str) -> Result<&'a Registered, ApiError> {
    state.engine.functions().get(name).map(|f| &**f).ok_or_else(|| {
        ApiError::new(ErrorCode::FunctionNotFound, format!("no function named '{name}' is registered on this server"))
    })
}

/// One function: its description, tags, params schema and the live nodes that register it.
#[utoipa::path(get, path = "/api/v1/functions/{name}", tag = "functions", operation_id = "get_function",
    params(("name" = String, Path, description = "Function name")),
    responses((status = 200, description = "The function", body = FunctionView),
        (status = 404, description = "No such function", body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    state: web::Data<AppState>,
    name: web::Path<String>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let function = registered(&state, &name)?;
    let mut nodes = state.engine.function_nodes().await?;
    Ok(HttpResponse::Ok().json(view(function, &mut nodes)))
}

/// Run a function by name with `params` (over its defaults), as a job of the task of the same name (created the
/// first time). The params are checked against the function's schema; each problem is named.
#[utoipa::path(post, path = "/api/v1/functions/{name}/$execute", tag = "functions", operation_id = "execute_function",
    request_body(content = Option<ExecuteFunction>),
    params(("name" = String, Path, description = "Function name")),
    responses(
        (status = 202, description = "Job queued", body = ExecuteResponse,
            headers(("Location" = String, description = "/api/v1/jobs/{job_id}"))),
        (status = 400, description = "Missing or ill-typed params", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such function", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A task of that name runs something else, or is disabled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn execute(
    state: web::Data<AppState>,
    name: web::Path<String>,
    _query: Query<NoQuery>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    registered(&state, &name)?;
    let request: ExecuteFunction = json_body(&req, &body)?.unwrap_or_default();
    let params = Params::parse(request.params)?;
    let task = state.engine.function_task(&name).await?;
    let job = match state.engine.submit(&task, Submission { params, ..Default::default() }).await? {
        Submitted::Queued(job) | Submitted::Existing(job) => job,
    };
    Ok(HttpResponse::Accepted().insert_header((header::LOCATION, format!("/api/v1/jobs/{}", job.id))).json(
        ExecuteResponse {
            job_id: job.id.to_string(),
            message: format!("Function submitted for execution. Job ID: {}", job.id),
        },
    ))
}

/// The result record of a finished function job: its params, result or error, and when it ended.
#[utoipa::path(get, path = "/api/v1/artifacts/{id}", tag = "functions", operation_id = "get_artifact",
    params(("id" = inline(crate::domain::ArtifactId), Path, description = "Artifact id (a job's `artifact_id`)")),
    responses((status = 200, description = "The record", body = ArtifactView),
        (status = 400, description = "Not an id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such artifact", body = Problem, content_type = "application/problem+json")))]
pub async fn artifact(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let id: crate::domain::ArtifactId = id.parse()?;
    let missing = || ApiError::new(ErrorCode::ArtifactNotFound, format!("no artifact with id {id}"));
    let job = state.engine.store().jobs().by_artifact(id).await.map_err(|e| match e {
        StoreError::NotFound => missing(),
        other => other.into(),
    })?;
    Ok(HttpResponse::Ok().json(ArtifactView::of(&job).ok_or_else(missing)?))
}
