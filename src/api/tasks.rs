//! `/api/v1/tasks`: task CRUD, `$execute` and `$orphaned`.
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::dto::{Listing, OrphansQuery, PageQuery, Paginated};
use super::input::{self, idempotency_key};
use super::{AppState, json_body, task_id};
use crate::domain::{Params, Task, TaskId};
use crate::engine::Submission;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::store::StoreError;
use crate::wire::{CreateTask, ExecuteRequest, ExecuteResponse, OrphanedTask, OrphansResponse, TaskView, UpdateTask};

fn not_found(id: TaskId) -> impl FnOnce(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::new(ErrorCode::TaskNotFound, format!("no task with id {id}")),
        other => other.into(),
    }
}

/// Create a task.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = CreateTask,
    responses(
        (status = 201, description = "Created", body = TaskView),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid task or program not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(state: web::Data<AppState>, body: web::Json<CreateTask>) -> Result<HttpResponse, ApiError> {
    let new = input::new_task(body.into_inner(), state.engine.task_rules())?;
    let task = Task::create(new, state.engine.now_ms());
    state.engine.store().tasks().insert(&task).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/tasks/{}", task.id)))
        .json(TaskView::from(&task)))
}

/// List tasks, oldest first: all as an array, or one page with `page`/`size`.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(PageQuery),
    responses((status = 200, description = "Tasks", body = Listing<TaskView>)))]
pub async fn list(state: web::Data<AppState>, query: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let tasks = state.engine.store().tasks();
    let listing = match query.parse()? {
        None => Listing::All(tasks.all().await?.iter().map(TaskView::from).collect()),
        Some(req) => {
            let page = tasks.page(req).await?;
            Listing::Page(Paginated::new(page.items.iter().map(TaskView::from).collect(), page.total, req))
        }
    };
    Ok(HttpResponse::Ok().json(listing))
}

/// Get a task.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id (ULID)")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = task_id(&id)?;
    let task = state.engine.store().tasks().get(id).await.map_err(not_found(id))?;
    Ok(HttpResponse::Ok().json(TaskView::from(&task)))
}

/// Update some of a task's fields.
#[utoipa::path(put, path = "/api/v1/tasks/{id}", tag = "tasks", request_body = UpdateTask,
    params(("id" = String, Path, description = "Task id (ULID)")),
    responses(
        (status = 200, description = "The updated task", body = TaskView),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<UpdateTask>,
) -> Result<HttpResponse, ApiError> {
    let id = task_id(&id)?;
    let tasks = state.engine.store().tasks();
    let mut task = tasks.get(id).await.map_err(not_found(id))?;
    let spec = input::updated(task.spec.clone(), body.into_inner(), state.engine.task_rules())?;
    task.update(spec, state.engine.now_ms());
    tasks.update(&task).await.map_err(not_found(id))?;
    Ok(HttpResponse::Ok().json(TaskView::from(&task)))
}

/// Delete a task (its jobs stay).
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id (ULID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = task_id(&id)?;
    state.engine.store().tasks().delete(id).await.map_err(not_found(id))?;
    Ok(HttpResponse::NoContent().finish())
}

/// Run a task: queue a job (now, or at `run_at` / after `delay_seconds`) and answer at once with its id. With an
/// `Idempotency-Key` that this task already saw within 24 h, the job queued then is returned instead.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/$execute", tag = "tasks", request_body(content = Option<ExecuteRequest>),
    params(("id" = String, Path, description = "Task id (ULID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; a repeat within 24 h returns the first job (with `Idempotency-Replayed: true`)")),
    responses(
        (status = 202, description = "Job queued (or, for a repeated Idempotency-Key, the job queued the first time)", body = ExecuteResponse,
            headers(("Location" = String, description = "/api/v1/jobs/{job_id}"),
                    ("Idempotency-Replayed" = String, description = "`true` when the answer is a repeat's"))),
        (status = 400, description = "Missing or invalid parameter, or a bad Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Task disabled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Program no longer allowed, or a bad run_at / delay_seconds", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn execute(
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = task_id(&id)?;
    let idempotency_key = idempotency_key(&req)?;
    // A repeat gets the first answer, whatever it says now: the first request is what counted.
    let earlier = match &idempotency_key {
        Some(key) => state.engine.replay(id, key).await?,
        None => None,
    };
    let (job, replayed) = match earlier {
        Some(job) => (job, true),
        None => {
            let request: ExecuteRequest = json_body(&req, &body)?.unwrap_or_default();
            let due = input::due(&request)?;
            let params = Params::parse(request.params)?;
            let task = state.engine.store().tasks().get(id).await.map_err(not_found(id))?;
            state.engine.submit(&task, Submission { params, due, idempotency_key }).await?
        }
    };
    let mut reply = HttpResponse::Accepted();
    reply.insert_header((header::LOCATION, format!("/api/v1/jobs/{}", job.id)));
    if replayed {
        reply.insert_header(("Idempotency-Replayed", "true"));
    }
    Ok(reply.json(ExecuteResponse {
        job_id: job.id.to_string(),
        message: format!("Task submitted for execution. Job ID: {}", job.id),
    }))
}

/// Tasks that fell through: never run, no longer runnable, or whose latest job was lost.
#[utoipa::path(get, path = "/api/v1/tasks/$orphaned", tag = "tasks", params(OrphansQuery),
    responses((status = 200, description = "Orphaned tasks", body = OrphansResponse)))]
pub async fn orphaned(state: web::Data<AppState>, query: web::Query<OrphansQuery>) -> Result<HttpResponse, ApiError> {
    let orphaned_tasks: Vec<OrphanedTask> = state
        .engine
        .orphans()
        .await?
        .iter()
        .filter(|(_, reason)| query.reason.is_none_or(|r| r == *reason))
        .map(|(task, reason)| OrphanedTask { task: TaskView::from(task), reason: *reason })
        .collect();
    Ok(HttpResponse::Ok().json(OrphansResponse { count: orphaned_tasks.len(), orphaned_tasks }))
}
