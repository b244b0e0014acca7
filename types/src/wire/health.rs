//! `/health` on the wire: liveness, database reachability and the state of the storage.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything works.
    Ok,
    /// The server answers and reads work, but writes fail or new work is refused; `reason` says why.
    Degraded,
    /// The database cannot be reached.
    Unavailable,
    /// The server is shutting down.
    Draining,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseState {
    Ok,
    Unreachable,
}

/// Why the server is `degraded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthReason {
    /// The newest write failed for lack of space (507 `storage_full`).
    StorageFull,
    /// The newest write failed: I/O error, read-only storage, or a lost connection (503 `storage_unavailable`).
    StorageUnavailable,
    /// Free disk space under the SQLite file is below `min_free_bytes`: new jobs and task writes are refused.
    LowDisk,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    pub database: DatabaseState,
    /// Only when `status` is `degraded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<HealthReason>,
    pub version: String,
}
