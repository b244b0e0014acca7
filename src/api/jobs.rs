//! `/api/v1/jobs`: reading jobs and their output, cancel, retry, delete, and the live `$stream`.
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::query::{JobsQuery, NoQuery, OutputQuery, Paging, Query, page_reply, slice_reply};
use super::schema::StreamHeaders;
use super::{AppState, job_id, sse};
use crate::domain::{EventKind, Job, JobId, format_ms};
use crate::engine::follow::{self, Opened};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::store::StoreError;
use crate::wire::{JobView, Listing, OutputItem, OutputPage, StreamFilter};

fn not_found(id: JobId) -> impl FnOnce(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::new(ErrorCode::JobNotFound, format!("no job with id {id}")),
        other => other.into(),
    }
}

/// List jobs, newest first: at most 1,000 as an array (`after` for the next ones, as the `Link` header says), or
/// one numbered page with `page`/`size`.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", operation_id = "list_jobs", params(JobsQuery),
    responses((status = 200, description = "Jobs", body = Listing<JobView>,
        headers(("Link" = String, description = "`<…?after=ID>; rel=\"next\"` when more jobs follow (array form)")))))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<JobsQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.filter()?;
    let jobs = state.engine.store().jobs();
    Ok(match query.paging()? {
        Paging::Keyset(k) => slice_reply(&req, &jobs.after(filter, k).await?, |j| j.id, |j| JobView::from(j))?,
        Paging::Numbered(r) => page_reply(&jobs.page(filter, r).await?, r, |j| JobView::from(j)),
    })
}

/// Get a job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", operation_id = "get_job", tag = "jobs",
    params(("id" = inline(JobId), Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&id)?;
    let job = state.engine.store().jobs().get(id).await.map_err(not_found(id))?;
    Ok(HttpResponse::Ok().json(JobView::from(&job)))
}

/// Delete a finished job with its record, events and stored output (and, where jobs keep artifacts, those too):
/// 204. A job that has not finished is canceled instead, exactly as `$cancel` does (202 with the job); once its
/// final state is recorded, a second `DELETE` removes it. So `DELETE` means "make this job go away": one request
/// for a finished job, two for a running one, and never a silent removal of work that is still running.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", operation_id = "delete_job", tag = "jobs",
    params(("id" = inline(JobId), Path, description = "Job id")),
    responses(
        (status = 204, description = "The finished job and its output are deleted"),
        (status = 202, description = "The job had not finished: cancel under way (or done, for a pending job)", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    match delete_job(&state, job_id(&id)?).await? {
        Some(canceled) => Ok(HttpResponse::Accepted().json(JobView::from(&canceled))),
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

/// Deletes a finished job (None), or cancels one that has not finished (the job).
pub(super) async fn delete_job(state: &AppState, id: JobId) -> Result<Option<Job>, ApiError> {
    let jobs = state.engine.store().jobs();
    let job = jobs.get(id).await.map_err(not_found(id))?;
    if !job.status.is_terminal() {
        return Ok(Some(state.engine.cancel(id).await.map_err(store_not_found(id))?));
    }
    // Its artifact files go first; the store then deletes the job with its events, output and artifact rows in one
    // transaction. Files that cannot be deleted now keep the job, so that nothing is left behind unlisted.
    match state.engine.delete_finished(&[id]).await? {
        0 if jobs.get(id).await.is_ok() => Err(ApiError::new(
            ErrorCode::JobArtifactUnavailable,
            "the job's artifact files cannot be deleted now, so the job is kept; try again",
        )),
        0 => Err(not_found(id)(StoreError::NotFound)),
        _ => Ok(None),
    }
}

/// Runs a finished job again (the new job).
pub(super) async fn retry_job(
    state: &AppState,
    id: JobId,
    traceparent: Option<crate::domain::Traceparent>,
) -> Result<Job, ApiError> {
    state.engine.retry(id, traceparent).await.map_err(store_not_found(id))
}

/// Cancel a pending or running job (as `DELETE /api/v1/jobs/{id}` does for a job that has not finished): a running job's process group gets
/// SIGTERM, then SIGKILL after the grace period; the final state follows on its stream.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/$cancel", operation_id = "cancel_job_action", tag = "jobs",
    params(("id" = inline(JobId), Path, description = "Job id")),
    responses(
        (status = 202, description = "Cancel under way (or done, for a pending job)", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already finished", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_action(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    cancel_job(&state, &id).await
}

async fn cancel_job(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    let id = job_id(id)?;
    let job = state.engine.cancel(id).await.map_err(store_not_found(id))?;
    Ok(HttpResponse::Accepted().json(JobView::from(&job)))
}

/// Run a finished job again as it was submitted (the same command, environment, directory, timeout, retry policy
/// and sandbox, under the same task): a new job is queued and its record returned. The task must still exist and
/// be enabled, and its program still be allowed.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/$retry", operation_id = "retry_job", tag = "jobs",
    params(("id" = inline(JobId), Path, description = "Id of the finished job to run again")),
    responses(
        (status = 202, description = "The new job, queued", body = JobView,
            headers(("Location" = String, description = "/api/v1/jobs/{id of the new job}"))),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not finished, or its task was deleted or is disabled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Its program is no longer allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&id)?;
    let traceparent = super::trace::traceparent(req.headers());
    let job = retry_job(&state, id, traceparent).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/jobs/{}", job.id)))
        .json(JobView::from(&job)))
}

/// A store's "not found" from the engine is this job's.
fn store_not_found(id: JobId) -> impl FnOnce(crate::engine::EngineError) -> ApiError {
    move |e| match e {
        crate::engine::EngineError::Store(s) => not_found(id)(s),
        other => other.into(),
    }
}

/// Stored output lines, in pages.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/output", operation_id = "get_job_output", tag = "jobs",
    params(("id" = inline(JobId), Path, description = "Job id"), OutputQuery),
    responses(
        (status = 200, description = "A page of output lines", body = OutputPage),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn output(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: Query<OutputQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&id)?;
    let (after, limit) = query.range()?;
    let kinds: &[EventKind] = match query.stream.unwrap_or_default() {
        StreamFilter::Stdout => &[EventKind::Stdout],
        StreamFilter::Stderr => &[EventKind::Stderr],
        StreamFilter::Both => &[EventKind::Stdout, EventKind::Stderr],
    };
    let jobs = state.engine.store().jobs();
    jobs.get(id).await.map_err(not_found(id))?;
    let mut events = jobs.events_after(id, after, limit + 1, kinds).await?;
    let has_more = events.len() as u64 > limit;
    events.truncate(limit as usize);
    let next_after_seq = events.last().map_or(after, |e| e.seq);
    let items = events
        .into_iter()
        .map(|e| OutputItem {
            seq: e.seq,
            stream: e.kind().as_str().to_string(),
            line: e.body.into_data(),
            at: format_ms(e.at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(OutputPage { items, next_after_seq, has_more }))
}

/// Follow a job live over Server-Sent Events, across all its attempts. Unnamed events carry the job record (JSON) on
/// every state change; `stdout` and `stderr` events carry one output line each; `progress` carries
/// `{"percent", "done"?, "total"?}`; `truncated` says what the output bound dropped
/// (`{"stream", "dropped_lines", "dropped_bytes", "head_bytes", "tail_lines", "tail_bytes", "limit_bytes"}`) and
/// precedes the kept tail; `retry` says why an attempt failed and when the next runs (`{"attempt", "outcome",
/// "exit_code", "signal", "error", "next_attempt", "delay_ms", "run_at"}`). Each event's `id` is its sequence
/// number: reconnect with `Last-Event-ID` (to any node) to get exactly the events after it. Every stream starts with
/// `retry: 2000`, the reconnection delay (ms) for clients while the job runs. The stream ends after the final job
/// record, or when the server shuts down. A resume of a finished job whose final record the client already has
/// (`Last-Event-ID` at or past it) answers 204 No Content, which tells an EventSource client to stop reconnecting.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/$stream", operation_id = "stream_job", tag = "jobs",
    params(
        ("id" = inline(JobId), Path, description = "Job id"),
        StreamHeaders,
    ),
    responses(
        (status = 200, description = "text/event-stream of the job's events", content_type = "text/event-stream", body = String),
        (status = 204, description = "The job has finished and Last-Event-ID is at or past its final record: nothing more will come, stop reconnecting"),
        (status = 400, description = "Last-Event-ID is not an event id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stream(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&id)?;
    let after = match req.headers().get("last-event-id") {
        None => 0,
        Some(v) => v.to_str().ok().and_then(|s| s.trim().parse::<i64>().ok()).filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidHeader, "Last-Event-ID must be a non-negative integer (an event id)")
        })?,
    };
    let events = match follow::open(&state.engine, id, after, state.sse_keepalive).await.map_err(not_found(id))? {
        Opened::Finished => return Ok(HttpResponse::NoContent().finish()),
        Opened::Stream(events) => events,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(sse::body(events, state.engine.store().metrics().sse_client())))
}
