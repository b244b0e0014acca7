//! The client errors every operation can answer, documented from what the extractors and the middleware do, so
//! that no route is left without the statuses it serves.
use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use actix_web::http::Method;

use crate::api::auth::required_scope;
use crate::error::PROBLEM_JSON;

/// Adds, to each operation that lacks them: 400 `invalid_query` (an unknown or malformed query parameter) on all;
/// 401 `unauthorized` and 403 `missing_scope` (naming the scope the route needs) under `/api` (when API keys are
/// configured); 400 `invalid_id` and 404 on routes with an
/// `{id}`; 400 `invalid_json`, 413, 415 and 422 `invalid_body` on operations with a body. Where an operation
/// already documents a status for its own reasons, the shared reason is added to its description.
pub struct ClientErrors;

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
        .build()
}

fn add(op: &mut Operation, status: &str, description: &str) {
    match op.responses.responses.get_mut(status) {
        Some(RefOr::T(response)) if !response.description.contains(description) => {
            response.description = format!("{}; or {description}", response.description);
        }
        Some(_) => {}
        None => {
            op.responses.responses.insert(status.to_string(), problem(description).into());
        }
    }
}

impl utoipa::Modify for ClientErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
                (Method::HEAD, &mut item.head),
                (Method::OPTIONS, &mut item.options),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                add(op, "400", "`invalid_query`: an unknown or malformed query parameter (named in `detail`)");
                if path.starts_with("/api/") {
                    add(op, "401", "`unauthorized`: API keys are configured and X-API-Key is missing or wrong");
                    let scope = required_scope(&method, Some(path));
                    add(op, "403", &format!("`missing_scope`: the key's scope does not include `{scope}`"));
                }
                if path.contains("{id}") {
                    add(op, "400", "`invalid_id`: the id in the path is not a ULID");
                    add(op, "404", "no such resource");
                }
                if op.request_body.is_some() {
                    add(op, "400", "`invalid_json`: the body is not JSON");
                    add(op, "413", "`payload_too_large`: the body is larger than `max_body_bytes`");
                    add(op, "415", "`unsupported_media_type`: the body is not sent as application/json");
                    add(op, "422", "`invalid_body`: the body does not fit the schema");
                }
            }
        }
    }
}
