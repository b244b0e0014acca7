//! The audit log: one entry per changing request (and per request refused for its key).

/// Who did what, when, from where, and with what result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// A ULID, made when the entry is written: entries sort by it as by time.
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// The key's name; `None` when the server has no keys or the request had no valid one.
    pub key_name: Option<String>,
    pub remote_addr: Option<String>,
    pub method: String,
    /// The route's template (`/api/v1/tasks/{id}`), or the path when no route matched.
    pub route: String,
    /// The route's `{id}`, when it has one.
    pub target_id: Option<String>,
    /// The answer's HTTP status.
    pub status: u16,
}

/// Which entries a listing returns; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub key_name: Option<String>,
    pub route: Option<String>,
    pub status: Option<u16>,
    /// At or after this time (Unix ms).
    pub since: Option<i64>,
    /// Before this time (Unix ms).
    pub until: Option<i64>,
}
