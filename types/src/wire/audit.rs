//! Audit log entries on the wire.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{AuditEntry, format_ms};

/// One audit log entry: a changing request (or one refused for its key), who made it and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryView {
    /// ULID; entries are listed newest first.
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// The name of the key used; null when the server has no keys, or the request had no valid key.
    pub key_name: Option<String>,
    /// The peer's address (not `X-Forwarded-For`, which any client can set).
    pub remote_addr: Option<String>,
    pub method: String,
    /// The route's template, e.g. `/api/v1/tasks/{id}/$execute`.
    pub route: String,
    /// The `{id}` in the path, when the route has one.
    pub target_id: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
}

impl From<&AuditEntry> for AuditEntryView {
    fn from(e: &AuditEntry) -> Self {
        AuditEntryView {
            id: e.id.clone(),
            at: format_ms(e.at),
            key_name: e.key_name.clone(),
            remote_addr: e.remote_addr.clone(),
            method: e.method.clone(),
            route: e.route.clone(),
            target_id: e.target_id.clone(),
            status: e.status,
        }
    }
}
