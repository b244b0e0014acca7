//! Actions on several jobs in one request.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JobView;

/// The most jobs one bulk request acts on.
pub const MAX_BULK_IDS: usize = 100;

/// What to do to each job: `retry` as `POST /api/v1/jobs/{id}/$retry`, `delete` as `DELETE /api/v1/jobs/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Retry,
    Delete,
}

/// `POST /api/v1/jobs/$bulk`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub action: BulkAction,
    /// The jobs, 1 to 100 ids, each acted on once, in this order.
    #[schema(min_items = 1, max_items = 100)]
    pub ids: Vec<String>,
}

/// What each job's action gave, in the order of the request's ids.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkResponse {
    pub results: Vec<BulkResult>,
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
