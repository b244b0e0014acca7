//! A job's artifact files on the wire: one entry per file an attempt left, kept or dropped.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{DropReason, JobArtifact, format_ms};

/// One file a job attempt left in its artifacts directory.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobArtifactView {
    /// Its path relative to the artifacts directory (`/` between directories); download it at
    /// `/api/v1/jobs/{id}/artifacts/{name}`.
    pub name: String,
    /// The attempt that left it (a download by name gives the latest attempt's file).
    pub attempt: i32,
    /// Bytes kept; for a dropped file, its size as found.
    pub size: i64,
    /// Guessed from the name's extension; `application/octet-stream` when it says nothing.
    pub content_type: String,
    /// Lowercase hex SHA-256 of the kept bytes; null when dropped.
    pub sha256: Option<String>,
    /// Whether the file was not kept.
    pub dropped: bool,
    /// Why it was not kept; null when kept.
    pub reason: Option<DropReason>,
    /// More about why, in words.
    pub detail: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&JobArtifact> for JobArtifactView {
    fn from(a: &JobArtifact) -> Self {
        JobArtifactView {
            name: a.name.clone(),
            attempt: a.attempt,
            size: a.size,
            content_type: a.content_type.clone(),
            sha256: a.sha256.clone(),
            dropped: a.dropped.is_some(),
            reason: a.dropped,
            detail: a.detail.clone(),
            created_at: format_ms(a.created_at),
        }
    }
}
