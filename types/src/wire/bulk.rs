//! Actions on several jobs in one request.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JobView;
use crate::domain::JobStatus;

/// The most jobs one bulk request acts on.
pub const MAX_BULK_IDS: usize = 100;

/// What to do to each job: `retry` as `POST /api/v1/jobs/{id}/$retry`, `delete` as `DELETE /api/v1/jobs/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Retry,
    Delete,
}

/// `POST /api/v1/jobs/$bulk`: `ids`, or a `filter` (with `after` for the next ones), not both.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub action: BulkAction,
    /// The jobs, 1 to 100 ids, each acted on once, in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub ids: Vec<String>,
    /// Instead of `ids`: the newest 100 jobs that match (all of the filters given), newest first.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "super::object::optional")]
    pub filter: Option<BulkFilter>,
    /// With `filter`: only jobs older than this job id, as the previous answer's `next` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::JobId>)]
    pub after: Option<String>,
}

/// The jobs a bulk request acts on when it names no ids: the filters of `GET /api/v1/jobs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    /// Only jobs in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// Only jobs of this task (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::TaskId>)]
    pub task_id: Option<String>,
    /// Only jobs of tasks that have all of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 32)]
    pub tags: Vec<String>,
    /// Only jobs submitted at or after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// Only jobs submitted before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

/// What each job's action gave, in the order of the request's ids.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkResponse {
    pub results: Vec<BulkResult>,
    /// With `filter`, when more jobs match than this answer acted on: send it as `after` for the next ones.
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::JobId>)]
    pub next: Option<String>,
}

/// One job's result: the status the single request would have answered, and its body's essentials.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    pub id: String,
    /// 202 (retried: `job` is the new job; or, for `delete` of a job that had not finished, canceled: `job` is
    /// it), 204 (deleted), or the error's status.
    pub status: u16,
    /// The error's code, when it failed.
    pub code: Option<String>,
    /// The error in words, when it failed.
    pub detail: Option<String>,
    pub job: Option<JobView>,
}
