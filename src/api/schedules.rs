//! Schedule previews: the next fires of a stored task's schedule, or of an expression before it is stored.
use actix_web::{HttpResponse, web};

use super::AppState;
use super::query::{PreviewQuery, Query};
use crate::domain::{Schedule, ScheduleSpec, TaskRef, format_ms};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::wire::Object;
use crate::wire::SchedulePreview;

fn preview(schedule: &Schedule, now: i64, count: usize) -> SchedulePreview {
    let fires = schedule.preview(now, count);
    SchedulePreview {
        local: fires.iter().map(|&f| schedule.local_rfc3339(f)).collect(),
        fires: fires.into_iter().map(format_ms).collect(),
        timezone: schedule.timezone().to_string(),
    }
}

/// The next fires of a task's schedule (whether or not the task is enabled).
#[utoipa::path(get, path = "/api/v1/tasks/{id}/$schedule", operation_id = "preview_task_schedule", tag = "tasks",
    params(("id" = inline(TaskRef), Path, description = "The task's id, or its unique name"), PreviewQuery),
    responses(
        (status = 200, description = "The next fires", body = SchedulePreview),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The task has no schedule", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn of_task(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: Query<PreviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let count = query.count()?;
    let task = super::tasks::find(&state, &id).await?;
    let schedule = task
        .spec
        .schedule
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::TaskNotScheduled, format!("task {} has no schedule", task.id)))?;
    Ok(HttpResponse::Ok().json(preview(schedule, state.engine.now_ms(), count)))
}

/// The next fires of a schedule that is not stored: check an expression and its time zone before using it.
#[utoipa::path(post, path = "/api/v1/schedules/$preview", operation_id = "preview_schedule", tag = "tasks",
    request_body = ScheduleSpec, params(PreviewQuery),
    responses(
        (status = 200, description = "The next fires", body = SchedulePreview),
        (status = 422, description = "Invalid expression or time zone", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn of_spec(
    state: web::Data<AppState>,
    query: Query<PreviewQuery>,
    body: web::Json<Object<ScheduleSpec>>,
) -> Result<HttpResponse, ApiError> {
    let count = query.count()?;
    let schedule = Schedule::parse(body.into_inner().into_inner())
        .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.to_string()))?;
    Ok(HttpResponse::Ok().json(preview(&schedule, state.engine.now_ms(), count)))
}
