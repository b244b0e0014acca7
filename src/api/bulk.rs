//! `POST /api/v1/jobs/$bulk`: retry or delete up to 100 jobs in one request, each as its own request would,
//! with a result per job.
use actix_web::{HttpResponse, web};

use super::jobs::{delete_job, retry_job};
use super::query::{NoQuery, Query};
use super::{AppState, job_id};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::wire::{BulkAction, BulkRequest, BulkResponse, BulkResult, JobView, MAX_BULK_IDS};

/// Retry or delete several jobs: each id is acted on in turn, exactly as `POST /api/v1/jobs/{id}/$retry` or
/// `DELETE /api/v1/jobs/{id}` would, and one failing does not stop the others. The answer is 200 with a result
/// per id, in order. 1 to 100 ids per request; to act on a filter, list the matching ids
/// (`GET /api/v1/jobs?status=failed&size=100`) and send them.
#[utoipa::path(post, path = "/api/v1/jobs/$bulk", operation_id = "bulk_jobs", tag = "jobs",
    request_body = BulkRequest,
    responses(
        (status = 200, description = "A result per id", body = BulkResponse),
        (status = 422, description = "No ids, or more than 100", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn bulk(
    state: web::Data<AppState>,
    body: web::Json<BulkRequest>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let BulkRequest { action, ids } = body.into_inner();
    if ids.is_empty() || ids.len() > MAX_BULK_IDS {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!("ids: give 1 to {MAX_BULK_IDS} job ids, not {}", ids.len()),
        ));
    }
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let outcome = match job_id(&id) {
            Err(e) => Err(e),
            Ok(jid) => match action {
                BulkAction::Retry => retry_job(&state, jid, None).await.map(|job| (202, Some(job))),
                BulkAction::Delete => {
                    delete_job(&state, jid).await.map(|job| (if job.is_some() { 202 } else { 204 }, job))
                }
            },
        };
        results.push(match outcome {
            Ok((status, job)) => {
                BulkResult { id, status, code: None, detail: None, job: job.as_ref().map(JobView::from) }
            }
            Err(e) => BulkResult {
                id,
                status: e.code.status().as_u16(),
                code: Some(e.code.as_str().to_string()),
                detail: Some(e.detail),
                job: None,
            },
        });
    }
    Ok(HttpResponse::Ok().json(BulkResponse { results }))
}
