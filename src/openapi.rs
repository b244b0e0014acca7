//! The OpenAPI document, generated from the handlers' annotations, and the docs UI (Swagger UI with its assets
//! built in, so it works without internet). Modifiers add what the annotations cannot say once for all routes: the
//! API key scheme, `PATCH` on tasks (the `PUT` handler), the storage errors and, in `errors`, the client errors
//! every route can answer. `.ci/contract` holds the served document to what the server does.
mod errors;
pub mod reference;

use errors::ClientErrors;

use utoipa::OpenApi;

use crate::api;
use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "taskyard",
        description = "A self-hosted task runner: stored commands from an allow-list, run as jobs, with live output \
                       over Server-Sent Events. Errors are RFC 9457 problem+json with a stable `code`.",
    ),
    paths(
        api::tasks::create, api::tasks::list, api::tasks::get, api::tasks::update, api::tasks::delete,
        api::tasks::execute, api::tasks::orphaned, api::schedules::of_task, api::schedules::of_spec,
        api::jobs::list, api::jobs::get, api::jobs::delete, api::jobs::cancel_action, api::jobs::retry,
        api::jobs::output, api::jobs::stream, api::bulk::bulk,
        api::job_artifacts::list, api::job_artifacts::download,
        api::nodes::list,
        api::audit::list,
        api::notifications::list, api::notifications::get,
        api::functions::list, api::functions::get, api::functions::execute, api::functions::artifact,
        api::stats::finished,
        api::health::health,
        api::metrics::metrics,
    ),
    components(schemas(Problem)),
    modifiers(&ApiKeyScheme, &PatchTask, &StorageErrors, &ClientErrors),
    tags(
        (name = "tasks", description = "Stored commands and running them"),
        (name = "jobs", description = "Runs of tasks: state, output, live stream, cancel"),
        (name = "nodes", description = "The server processes sharing the database"),
        (name = "audit", description = "Who changed what: every changing request and every refused key (admin scope)"),
        (name = "notifications", description = "Messages sent on job ends and overdue fires, and their delivery"),
        (name = "functions", description = "Registered Rust functions, running them by name, and their results"),
        (name = "stats", description = "Counts for dashboards"),
        (name = "health", description = "Liveness"),
        (name = "metrics", description = "Prometheus metrics"),
    ),
)]
pub struct ApiDoc;

struct ApiKeyScheme;

/// `PATCH /api/v1/tasks/{id}` is served by the handler of `PUT` (see the route table): the same operation, under
/// its own id.
struct PatchTask;

impl utoipa::Modify for PatchTask {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(item) = openapi.paths.paths.get_mut("/api/v1/tasks/{id}")
            && let Some(put) = &item.put
        {
            let mut patch = put.clone();
            patch.operation_id = Some("patch_task".into());
            item.patch = Some(patch);
        }
    }
}

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    }
}

/// Every API route may answer 503 `storage_unavailable` (the database cannot be reached or written), and every
/// write 507 `storage_full` (no room, or free disk space below `min_free_bytes`); both carry `Retry-After`.
struct StorageErrors;

impl utoipa::Modify for StorageErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ContentBuilder, Object, Ref, ResponseBuilder, Type};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::PROBLEM_JSON,
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(Object::with_type(Type::Integer)))
                        .description(Some("Seconds to wait before trying again"))
                        .build(),
                )
                .build()
        };
        let unavailable = problem(
            "`storage_unavailable`: the database cannot be reached or written (I/O error, read-only, unreachable); \
             nothing was changed",
        );
        let full = problem(
            "`storage_full`: no room to store the change (the database's storage is full, or free disk space is \
             below `min_free_bytes`); nothing was changed",
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            let writes = [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in writes.into_iter().flatten() {
                op.responses.responses.entry("503".into()).or_insert_with(|| unavailable.clone().into());
                op.responses.responses.entry("507".into()).or_insert_with(|| full.clone().into());
            }
            if let Some(op) = &mut item.get {
                op.responses.responses.entry("503".into()).or_insert_with(|| unavailable.clone().into());
            }
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as committed in `openapi/openapi.json`.
pub fn json() -> String {
    let mut text = document().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
