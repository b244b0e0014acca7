//! The OpenAPI document, generated from the handlers' annotations, and the docs UI (Swagger UI with its assets
//! built in, so it works without internet).
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
        api::tasks::execute, api::tasks::orphaned,
        api::jobs::list, api::jobs::get, api::jobs::cancel, api::jobs::output, api::jobs::stream,
        api::nodes::list,
        api::health::health,
    ),
    components(schemas(Problem)),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "tasks", description = "Stored commands and running them"),
        (name = "jobs", description = "Runs of tasks: state, output, live stream, cancel"),
        (name = "nodes", description = "The server processes sharing the database"),
        (name = "health", description = "Liveness"),
    ),
)]
pub struct ApiDoc;

struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
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
