//! The audit log: every changing request under `/api` (any method but GET, HEAD and OPTIONS), and every request
//! refused for its key, is recorded after it is answered: when, which key, from where, which route and id, and
//! the status. `GET /api/v1/audit` reads it (admin scope).
use actix_web::dev::ServiceRequest;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::query::{AuditQuery, Query, slice_reply};
use crate::domain::{AuditEntry, now_ms};
use crate::error::ApiError;
use crate::store::Store;
use crate::wire::AuditEntryView;

/// The longest route kept: an unknown path is stored as sent, up to this.
const MAX_ROUTE: usize = 256;

/// What is known of a request before it is answered.
pub struct Pending {
    at: i64,
    method: String,
    route: String,
    target_id: Option<String>,
    remote_addr: Option<String>,
}

impl Pending {
    /// The entry to write for this request, if it is one the audit log keeps (`changes`: any method but GET,
    /// HEAD and OPTIONS; or `refused`: every request refused for its key).
    pub fn start(req: &ServiceRequest) -> Pending {
        let pattern = req.match_pattern();
        let target_id = pattern.as_deref().and_then(|p| path_id(p, req.path()));
        let route = pattern.unwrap_or_else(|| req.path().to_string());
        Pending {
            at: now_ms(),
            method: req.method().to_string(),
            route: cut(route, MAX_ROUTE),
            target_id: target_id.map(|id| cut(id, 64)),
            remote_addr: req.peer_addr().map(|a| a.ip().to_string()),
        }
    }

    pub fn changes(method: &Method) -> bool {
        !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
    }

    /// Writes the entry. A failure cannot undo the answer: it is logged as an error with the entry's fields.
    pub async fn finish(self, store: &Store, key_name: Option<String>, status: StatusCode) {
        let entry = AuditEntry {
            id: ulid::Ulid::generate().to_string(),
            at: self.at,
            key_name,
            remote_addr: self.remote_addr,
            method: self.method,
            route: self.route,
            target_id: self.target_id,
            status: status.as_u16(),
        };
        if let Err(err) = store.audit().record(&entry).await {
            tracing::error!(
                error = %err,
                key = entry.key_name.as_deref().unwrap_or("-"),
                method = %entry.method,
                route = %entry.route,
                target = entry.target_id.as_deref().unwrap_or("-"),
                status = entry.status,
                "cannot write the audit log entry"
            );
        }
    }
}

/// The path segment where the template has `{id}`.
fn path_id(pattern: &str, path: &str) -> Option<String> {
    let at = pattern.split('/').position(|segment| segment == "{id}")?;
    path.split('/').nth(at).map(str::to_string)
}

fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The audit log, newest first: at most `size` entries (default 1,000; `after` for the next ones, as the `Link`
/// header says), filtered by key name, route template, status and time range. Entries older than
/// `retention_days` are deleted with the jobs.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", operation_id = "list_audit", params(AuditQuery),
    responses((status = 200, description = "Audit log entries, newest first", body = Vec<AuditEntryView>,
        headers(("Link" = String, description = "`<…?after=ID>; rel=\"next\"` when more entries follow")))))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let entries = state.engine.store().audit().after(&query.filter()?, query.keyset()?).await?;
    slice_reply(&req, &entries, |e| e.id.clone(), |e| AuditEntryView::from(e))
}

#[cfg(test)]
mod tests {
    use super::{cut, path_id};

    #[test]
    fn the_id_is_taken_where_the_template_has_it() {
        assert_eq!(path_id("/api/v1/tasks/{id}/$execute", "/api/v1/tasks/01J/$execute").as_deref(), Some("01J"));
        assert_eq!(path_id("/api/v1/tasks", "/api/v1/tasks"), None);
        assert_eq!(cut("ééé".to_string(), 3), "é");
    }
}
