//! `GET /metrics`: every metric in the Prometheus text format, behind the API key unless `metrics_public`; and the
//! middleware that counts every HTTP request by its route template (never the raw path), method and status.
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::AppState;
use super::query::{NoQuery, Query};
use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE;

/// The route label of a request no route matched (an unknown path, or one refused before routing).
const UNMATCHED: &str = "unmatched";

/// Every metric of this node in the Prometheus (OpenMetrics) text format: jobs started and finished by outcome,
/// their duration and queue wait, retries, rescues, the backlog, running jobs, SSE clients, HTTP requests by route
/// template and the database writer's groups. Needs the API key when keys are configured, unless the server runs
/// with `metrics_public = true`.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "metrics",
    responses(
        (status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "An API key is required", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`storage_unavailable`: the backlog could not be read from the database", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn metrics(state: web::Data<AppState>, _query: Query<NoQuery>) -> Result<HttpResponse, ApiError> {
    let text = state.engine.metrics_text().await?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}

/// Counts and times every request, labelled by the matched route's template.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let began = Instant::now();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.engine.store().metrics().clone());
    let method = req.method().clone();
    let answer = next.call(req).await;
    let (route, status) = match &answer {
        Ok(res) => (res.request().match_pattern(), res.status()),
        Err(err) => (None, err.as_response_error().status_code()),
    };
    if let Some(metrics) = metrics {
        let route = route.as_deref().unwrap_or(UNMATCHED);
        metrics.request(method_label(&method), route, status.as_u16(), began.elapsed());
    }
    answer
}

/// The method as a label: the standard ones by name, any other as `other`, so that a client cannot grow the label
/// set by inventing methods.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN.iter().find(|(m, _)| m == method).map_or("other", |(_, name)| name)
}
