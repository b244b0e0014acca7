//! Registered functions on the wire: their metadata, the body that executes one by name, and the result record
//! (artifact) of a finished function job.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::{Job, Outcome, format_ms};

/// A registered function as `GET /api/v1/functions` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FunctionView {
    /// Unique, URL-safe (`^[A-Za-z0-9_-]+$`).
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    /// JSON Schema (draft 2020-12) of its params, derived from their Rust type: types, defaults, required.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// Ids of the live nodes that register it.
    pub nodes: Vec<String>,
}

/// Body of `POST /api/v1/functions/{name}/$execute` (optional).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteFunction {
    /// The function's params, over its defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
}

/// Why a function job did not produce a result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArtifactError {
    /// The job's outcome: `error`, `panic`, `timeout`, `canceled`, `lost`, `interrupted`.
    #[serde(rename = "type")]
    pub kind: Outcome,
    pub message: String,
}

/// The result record of a finished function job (chapkit's artifact).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArtifactView {
    /// Artifact id (ULID).
    pub id: String,
    pub job_id: String,
    /// The task id of the job.
    pub task: String,
    pub function: String,
    #[schema(value_type = Object)]
    pub params: Value,
    /// What the function returned; null when it failed.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Why it failed; null when it completed.
    pub error: Option<ArtifactError>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl ArtifactView {
    /// The record of `job`, when it is a finished function job.
    pub fn of(job: &Job) -> Option<ArtifactView> {
        let (id, function, at) = (job.artifact_id?, job.function.clone()?, job.finished_at?);
        let error = match job.outcome {
            Some(Outcome::Success) | None => None,
            Some(kind) => Some(ArtifactError { kind, message: job.error.clone().unwrap_or_default() }),
        };
        Some(ArtifactView {
            id: id.to_string(),
            job_id: job.id.to_string(),
            task: job.task_id.to_string(),
            function,
            params: job.params.as_ref().map_or_else(|| Value::Object(Map::new()), |p| p.to_json()),
            result: job.result.clone(),
            error,
            created_at: format_ms(at),
        })
    }
}
