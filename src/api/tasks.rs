//! `/api/v1/tasks`: task CRUD, `$execute` and `$orphaned`.
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::input::{self, idempotency_key};
use super::query::{NoQuery, OrphansQuery, Paging, Query, TasksQuery, ok_with_next, page_reply, slice_reply};
use super::schema::ExecuteHeaders;
use super::{AppState, json_body};
use crate::domain::{Params, Task, TaskRef};
use crate::engine::{Submission, Submitted};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::store::StoreError;
use crate::wire::Object;
use crate::wire::{
    CreateTask, ExecuteRequest, ExecuteResponse, Listing, OrphanedTask, OrphansResponse, TaskView, UpdateTask,
};

fn not_found(at: &TaskRef) -> impl FnOnce(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound => ApiError::new(ErrorCode::TaskNotFound, format!("no task with {at}")),
        other => other.into(),
    }
}

fn task_ref(path: &str) -> Result<TaskRef, ApiError> {
    TaskRef::parse(path).map_err(|detail| ApiError::new(ErrorCode::InvalidId, detail))
}

/// The task a path names, by its id or its unique name.
pub(super) async fn find(state: &AppState, path: &str) -> Result<Task, ApiError> {
    let at = task_ref(path)?;
    state.engine.store().tasks().find(&at).await.map_err(not_found(&at))
}

/// Create a task.
#[utoipa::path(post, path = "/api/v1/tasks", operation_id = "create_task", tag = "tasks", request_body = CreateTask,
    responses(
        (status = 201, description = "Created", body = TaskView),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid task or program not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    _query: Query<NoQuery>,
    body: web::Json<Object<CreateTask>>,
) -> Result<HttpResponse, ApiError> {
    let new = input::new_task(body.into_inner().into_inner(), state.engine.task_rules())?;
    let task = Task::create(new, state.engine.now_ms());
    state.engine.store().tasks().insert(&task).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/tasks/{}", task.id)))
        .json(TaskView::from(&task)))
}

/// List tasks, oldest first: at most 1,000 as an array (`after` for the next ones, as the `Link` header says), or
/// one numbered page with `page`/`size`.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", operation_id = "list_tasks", params(TasksQuery),
    responses((status = 200, description = "Tasks", body = Listing<TaskView>,
        headers(("Link" = String, description = "`<…?after=ID>; rel=\"next\"` when more tasks follow (array form)")))))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<TasksQuery>,
) -> Result<HttpResponse, ApiError> {
    let (tasks, filter) = (state.engine.store().tasks(), query.filter()?);
    Ok(match query.paging()? {
        Paging::Keyset(k) => slice_reply(&req, &tasks.after_where(&filter, k).await?, |t| t.id, |t| TaskView::from(t))?,
        Paging::Numbered(r) => page_reply(&tasks.page_where(&filter, r).await?, r, |t| TaskView::from(t)),
    })
}

/// Get a task.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", operation_id = "get_task", tag = "tasks",
    params(("id" = inline(TaskRef), Path, description = "The task's id, or its unique name")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let task = find(&state, &id).await?;
    Ok(HttpResponse::Ok().json(TaskView::from(&task)))
}

/// Update some of a task's fields.
#[utoipa::path(put, path = "/api/v1/tasks/{id}", operation_id = "update_task", tag = "tasks", request_body = UpdateTask,
    params(("id" = inline(TaskRef), Path, description = "The task's id, or its unique name")),
    responses(
        (status = 200, description = "The updated task", body = TaskView),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
    body: web::Json<Object<UpdateTask>>,
) -> Result<HttpResponse, ApiError> {
    let mut task = find(&state, &id).await?;
    let spec = input::updated(task.spec.clone(), body.into_inner().into_inner(), state.engine.task_rules())?;
    task.update(spec, state.engine.now_ms());
    state.engine.store().tasks().update(&task).await.map_err(not_found(&TaskRef::Id(task.id)))?;
    Ok(HttpResponse::Ok().json(TaskView::from(&task)))
}

/// Delete a task (its jobs stay).
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", operation_id = "delete_task", tag = "tasks",
    params(("id" = inline(TaskRef), Path, description = "The task's id, or its unique name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let task = find(&state, &id).await?;
    state.engine.store().tasks().delete(task.id).await.map_err(not_found(&TaskRef::Id(task.id)))?;
    Ok(HttpResponse::NoContent().finish())
}

/// Run a task: queue a job (now, or at `run_at` / after `delay_seconds`) and answer at once with its id. With an
/// `Idempotency-Key` that this task already saw within 24 h, the job queued then is returned instead.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/$execute", operation_id = "execute_task", tag = "tasks", request_body(content = Option<ExecuteRequest>),
    params(("id" = inline(TaskRef), Path, description = "The task's id, or its unique name"),
        ExecuteHeaders),
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
    _query: Query<NoQuery>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let idempotency_key = idempotency_key(&req)?;
    // A repeat gets the first answer, whatever it says now (even of a task deleted since): the first request is
    // what counted.
    let earlier = match (&idempotency_key, task_ref(&id)?) {
        (Some(key), TaskRef::Id(task_id)) => state.engine.job_of_key(task_id, key).await?,
        (Some(key), TaskRef::Name(_)) => state.engine.job_of_key(find(&state, &id).await?.id, key).await?,
        (None, _) => None,
    };
    let submitted = match earlier {
        Some(job) => Submitted::Existing(job),
        None => {
            let request: ExecuteRequest = json_body(&req, &body)?.unwrap_or_default();
            let due = input::due(&request)?;
            let params = Params::parse(request.params)?;
            let task = find(&state, &id).await?;
            let traceparent = super::trace::traceparent(req.headers());
            state.engine.submit_traced(&task, Submission { params, due, idempotency_key }, traceparent).await?
        }
    };
    let mut reply = HttpResponse::Accepted();
    let job = match submitted {
        Submitted::Queued(job) => job,
        Submitted::Existing(job) => {
            reply.insert_header(("Idempotency-Replayed", "true"));
            job
        }
    };
    reply.insert_header((header::LOCATION, format!("/api/v1/jobs/{}", job.id)));
    Ok(reply.json(ExecuteResponse {
        job_id: job.id.to_string(),
        message: format!("Task submitted for execution. Job ID: {}", job.id),
    }))
}

/// Tasks that fell through: never run, no longer runnable, or whose latest job was lost. Oldest task first, at most
/// `size` (default 1,000); one answer reads at most 10,000 tasks, so it may hold fewer, even none, while more may
/// follow: the `Link` header says where to go on.
#[utoipa::path(get, path = "/api/v1/tasks/$orphaned", tag = "tasks", operation_id = "list_orphaned_tasks",
    params(OrphansQuery),
    responses((status = 200, description = "Orphaned tasks", body = OrphansResponse,
        headers(("Link" = String, description = "`<…?after=ID>; rel=\"next\"` when more tasks remain to be looked at")))))]
pub async fn orphaned(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<OrphansQuery>,
) -> Result<HttpResponse, ApiError> {
    let orphans = state.engine.orphans(query.keyset()?, query.reason).await?;
    let orphaned_tasks: Vec<OrphanedTask> = orphans
        .items
        .iter()
        .map(|(task, reason)| OrphanedTask { task: TaskView::from(task), reason: *reason })
        .collect();
    Ok(ok_with_next(&req, orphans.next)?.json(OrphansResponse { count: orphaned_tasks.len(), orphaned_tasks }))
}
