//! `/health`: liveness and database reachability, open even when API keys are required.
use actix_web::{HttpResponse, web};

use super::AppState;
use super::dto::Health;

/// Liveness and database reachability: 503 when the database cannot be reached, or with status `draining` once
/// the server is shutting down (a load balancer should send new work elsewhere).
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "Database unreachable, or shutting down", body = Health),
    ))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let ping = state.engine.store().ping().await;
    if state.engine.is_draining() {
        let database = if ping.is_ok() { "ok" } else { "unreachable" };
        return HttpResponse::ServiceUnavailable().json(Health {
            status: "draining".into(),
            database: database.into(),
            version,
        });
    }
    match ping {
        Ok(()) => HttpResponse::Ok().json(Health { status: "ok".into(), database: "ok".into(), version }),
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unreachable");
            HttpResponse::ServiceUnavailable().json(Health {
                status: "unavailable".into(),
                database: "unreachable".into(),
                version,
            })
        }
    }
}
