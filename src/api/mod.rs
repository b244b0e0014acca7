//! HTTP only. This file holds the whole route table and the extractor set-up; one file per resource holds its
//! handlers, which parse, call `store`/`engine`, and map to the bodies of [`crate::wire`].
pub mod audit;
pub mod auth;
pub mod bulk;
pub mod functions;
pub mod health;
pub mod input;
pub mod job_artifacts;
pub mod jobs;
pub mod metrics;
pub mod nodes;
pub mod notifications;
pub mod query;
pub mod schedules;
pub mod schema;
pub mod sse;
pub mod stats;
pub mod tasks;
pub mod trace;

use std::time::Duration;

use actix_web::error::JsonPayloadError;
use actix_web::middleware::from_fn;
use actix_web::{HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::domain::{JobId, TaskId};
use crate::engine::Engine;
use crate::error::{ApiError, ErrorCode};

/// What every handler can reach.
pub struct AppState {
    pub engine: Engine,
    pub keys: crate::access::Keyring,
    pub sse_keepalive: Duration,
    /// `/metrics` is served without an API key.
    pub metrics_public: bool,
}

/// The route table. `$orphaned` and `$bulk` are registered before `{id}` so they are not taken for an id.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(from_fn(auth::require_api_key))
            .service(web::resource("/tasks").get(tasks::list).post(tasks::create))
            .service(web::resource("/tasks/$orphaned").get(tasks::orphaned))
            .service(
                web::resource("/tasks/{id}")
                    .get(tasks::get)
                    .put(tasks::update)
                    .patch(tasks::update)
                    .delete(tasks::delete),
            )
            .service(web::resource("/tasks/{id}/$execute").post(tasks::execute))
            .service(web::resource("/tasks/{id}/$schedule").get(schedules::of_task))
            .service(web::resource("/schedules/$preview").post(schedules::of_spec))
            .service(web::resource("/jobs").get(jobs::list))
            .service(web::resource("/jobs/$bulk").post(bulk::bulk))
            .service(web::resource("/jobs/{id}").get(jobs::get).delete(jobs::delete))
            .service(web::resource("/jobs/{id}/$cancel").post(jobs::cancel_action))
            .service(web::resource("/jobs/{id}/$retry").post(jobs::retry))
            .service(web::resource("/jobs/{id}/output").get(jobs::output))
            .service(web::resource("/jobs/{id}/$stream").get(jobs::stream))
            .service(web::resource("/jobs/{id}/artifacts").get(job_artifacts::list))
            .service(web::resource("/jobs/{id}/artifacts/{name:.+}").get(job_artifacts::download))
            .service(web::resource("/nodes").get(nodes::list))
            .service(web::resource("/audit").get(audit::list))
            .service(web::resource("/notifications").get(notifications::list))
            .service(web::resource("/notifications/{id}").get(notifications::get))
            .service(web::resource("/functions").get(functions::list))
            .service(web::resource("/functions/{name}").get(functions::get))
            .service(web::resource("/functions/{name}/$execute").post(functions::execute))
            .service(web::resource("/artifacts/{id}").get(functions::artifact))
            .service(web::resource("/stats/finished").get(stats::finished)),
    )
    .service(web::resource("/health").get(health::health))
    .service(web::resource("/metrics").wrap(from_fn(auth::require_api_key_for_metrics)).get(metrics::metrics));
}

/// Extractor configuration: bounded bodies, and every extractor error answered as problem+json (query strings go
/// through [`query::Query`], which answers in that form itself).
pub fn extractor_config(max_body_bytes: usize) -> (web::JsonConfig, web::PayloadConfig) {
    let json = web::JsonConfig::default().limit(max_body_bytes).error_handler(|err, _req| json_error(err).into());
    (json, web::PayloadConfig::new(max_body_bytes))
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is {length} bytes; this server accepts at most {limit}"),
        ),
        JsonPayloadError::Overflow { limit } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than this server accepts ({limit} bytes)"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with the header Content-Type: application/json",
        ),
        JsonPayloadError::Deserialize(e) => serde_error(&e),
        other => ApiError::new(ErrorCode::BadRequest, other.to_string()),
    }
}

fn serde_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => ApiError::new(ErrorCode::InvalidBody, e.to_string()),
        _ => ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {e}")),
    }
}

/// An optional JSON body: empty or `null` means `None`. A non-empty body needs a JSON content type, as everywhere
/// else.
pub fn json_body<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
    if !is_json {
        return Err(json_error(JsonPayloadError::ContentType));
    }
    let object: Option<crate::wire::Object<T>> = serde_json::from_slice(body).map_err(|e| serde_error(&e))?;
    Ok(object.map(crate::wire::Object::into_inner))
}

pub fn task_id(s: &str) -> Result<TaskId, ApiError> {
    Ok(s.parse()?)
}

pub fn job_id(s: &str) -> Result<JobId, ApiError> {
    Ok(s.parse()?)
}
