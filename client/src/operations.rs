//! The operator's routes: notification deliveries, the audit log and the finished-job counts.
use reqwest::Method;

use crate::domain::DeliveryStatus;
use crate::wire::{AuditEntryView, FinishedStats, NotificationView};
use crate::{Client, Error, segment, wire_name};

/// Which deliveries `GET /api/v1/notifications` lists (newest first).
#[derive(Debug, Clone, Default)]
pub struct NotificationsQuery {
    pub status: Option<DeliveryStatus>,
    pub job_id: Option<String>,
}

/// Which entries `GET /api/v1/audit` lists (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only requests made with the key of this name.
    pub key: Option<String>,
    /// Only requests to this route template, e.g. `/api/v1/tasks/{id}/$execute`.
    pub route: Option<String>,
    /// Only answers with this HTTP status.
    pub status: Option<u16>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    pub until: Option<String>,
}

impl Client {
    /// Every notification delivery that fits `query` (following the `Link` header).
    pub async fn notifications(&self, query: &NotificationsQuery) -> Result<Vec<NotificationView>, Error> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(status) = query.status {
            params.push(("status", wire_name(status)));
        }
        if let Some(job) = &query.job_id {
            params.push(("job_id", job.clone()));
        }
        self.all(&with_query("/api/v1/notifications", &params)).await
    }

    /// One notification by its delivery id.
    pub async fn notification(&self, id: &str) -> Result<NotificationView, Error> {
        self.json::<(), _>(Method::GET, &format!("/api/v1/notifications/{}", segment(id)), None).await
    }

    /// Every audit entry that fits `query` (following the `Link` header). Needs an admin key.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntryView>, Error> {
        let mut params: Vec<(&str, String)> = Vec::new();
        let text = [("key", &query.key), ("route", &query.route), ("since", &query.since), ("until", &query.until)];
        for (name, value) in text {
            if let Some(value) = value {
                params.push((name, value.clone()));
            }
        }
        if let Some(status) = query.status {
            params.push(("status", status.to_string()));
        }
        self.all(&with_query("/api/v1/audit", &params)).await
    }

    /// Jobs finished per minute by outcome over the last `minutes` (server default 60, at most 1,440).
    pub async fn finished_stats(&self, minutes: Option<u32>) -> Result<FinishedStats, Error> {
        let path = "/api/v1/stats/finished";
        let params: Vec<(&str, String)> = minutes.map(|m| ("minutes", m.to_string())).into_iter().collect();
        crate::read(self.send(self.request(Method::GET, path).query(&params), path).await?, path).await
    }
}

/// `path?name=value&...`, each value percent-encoded.
fn with_query(path: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = params.iter().map(|(name, value)| format!("{name}={}", segment(value))).collect();
    format!("{path}?{}", pairs.join("&"))
}
