//! `/health`: liveness, database reachability and the state of the storage, open even when API keys are required.
use actix_web::{HttpResponse, web};

use super::AppState;
use super::query::{NoQuery, Query};
use crate::store::Degraded;
pub use crate::wire::{DatabaseState, Health, HealthReason, HealthStatus};

impl From<Degraded> for HealthReason {
    fn from(d: Degraded) -> Self {
        match d {
            Degraded::StorageFull => HealthReason::StorageFull,
            Degraded::StorageUnavailable => HealthReason::StorageUnavailable,
            Degraded::LowDisk => HealthReason::LowDisk,
        }
    }
}

/// Liveness, database reachability and storage state: 200 `ok`, or 200 `degraded` with a `reason` while writes
/// fail or free disk space is low (reads and streams still work); 503 when the database cannot be reached, or with
/// status `draining` once the server is shutting down (a load balancer should send new work elsewhere).
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "health",
    responses(
        (status = 200, description = "Healthy, or degraded (see `reason`)", body = Health),
        (status = 503, description = "Database unreachable, or shutting down", body = Health),
    ))]
pub async fn health(state: web::Data<AppState>, _query: Query<NoQuery>) -> HttpResponse {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let store = state.engine.store();
    let ping = store.ping().await;
    let database = if ping.is_ok() { DatabaseState::Ok } else { DatabaseState::Unreachable };
    let reason = store.degraded().map(HealthReason::from);
    let (ok, status) = match (state.engine.is_draining(), &ping, reason) {
        (true, ..) => (false, HealthStatus::Draining),
        (false, Err(err), _) => {
            tracing::warn!(error = %err, "health check: database unreachable");
            (false, HealthStatus::Unavailable)
        }
        (false, Ok(()), Some(_)) => (true, HealthStatus::Degraded),
        (false, Ok(()), None) => (true, HealthStatus::Ok),
    };
    let reason = if status == HealthStatus::Degraded { reason } else { None };
    let body = Health { status, database, reason, version };
    if ok { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
