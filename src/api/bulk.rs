//! `POST /api/v1/jobs/$bulk`: retry or delete up to 100 jobs in one request, named by id or by the filters of the
//! jobs list, each as its own request would, with a result per job.
use actix_web::{HttpResponse, web};

use super::jobs::{delete_job, retry_job};
use super::query::{NoQuery, Query, tag_list, time};
use super::{AppState, job_id};
use crate::domain::IdError;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::store::{JobFilter, Keyset};
use crate::wire::Object;
use crate::wire::{BulkAction, BulkFilter, BulkRequest, BulkResponse, BulkResult, JobView, MAX_BULK_IDS};

/// Retry or delete several jobs: each is acted on in turn, exactly as `POST /api/v1/jobs/{id}/$retry` or
/// `DELETE /api/v1/jobs/{id}` would, and one failing does not stop the others. The answer is 200 with a result
/// per job, in order. The jobs are 1 to 100 `ids`, or a `filter` (the filters of `GET /api/v1/jobs`): then the
/// newest 100 that match, and `next` when more match; sending it back as `after` acts on the next (older) ones,
/// so a retry by filter never takes the same job twice.
#[utoipa::path(post, path = "/api/v1/jobs/$bulk", operation_id = "bulk_jobs", tag = "jobs",
    request_body = BulkRequest,
    responses(
        (status = 200, description = "A result per id", body = BulkResponse),
        (status = 422, description = "No ids and no filter, both, more than 100 ids, or a filter value that does not parse", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn bulk(
    state: web::Data<AppState>,
    body: web::Json<Object<BulkRequest>>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let BulkRequest { action, ids, filter, after } = body.into_inner().into_inner();
    let (ids, next) = match (ids.is_empty(), filter) {
        (false, None) if after.is_some() => return Err(invalid("after: only with a filter")),
        (false, None) if ids.len() > MAX_BULK_IDS => {
            return Err(invalid(format!("ids: give 1 to {MAX_BULK_IDS} job ids, not {}", ids.len())));
        }
        (false, None) => (ids, None),
        (true, Some(filter)) => matching(&state, filter, after).await?,
        (false, Some(_)) => return Err(invalid("give ids or a filter, not both")),
        (true, None) => return Err(invalid(format!("ids: give 1 to {MAX_BULK_IDS} job ids, or a filter"))),
    };
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
    Ok(HttpResponse::Ok().json(BulkResponse { results, next }))
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, detail)
}

/// The ids of the newest [`MAX_BULK_IDS`] jobs that match `filter` (older than `after`), and the `next` to send
/// back when more match.
async fn matching(
    state: &AppState,
    filter: BulkFilter,
    after: Option<String>,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    // The checks' messages start with the parameter's name; in a body, it is a field of `filter`.
    let field = |e: ApiError| invalid(format!("filter.{}", e.detail));
    let filter = JobFilter {
        status: filter.status,
        task_id: filter
            .task_id
            .as_deref()
            .map(|t| t.parse())
            .transpose()
            .map_err(|e: IdError| invalid(format!("filter.task_id: {e}")))?,
        tags: tag_list(&(!filter.tags.is_empty()).then(|| filter.tags.join(","))).map_err(field)?,
        since: time("since", &filter.since).map_err(field)?,
        until: time("until", &filter.until).map_err(field)?,
    };
    let after = after.as_deref().map(|a| a.parse()).transpose().map_err(|e: IdError| invalid(format!("after: {e}")))?;
    let slice = state.engine.store().jobs().after(filter, Keyset { after, limit: MAX_BULK_IDS as u64 }).await?;
    let next = slice.more.then(|| slice.items.last().map(|j| j.id.to_string())).flatten();
    Ok((slice.items.iter().map(|j| j.id.to_string()).collect(), next))
}
