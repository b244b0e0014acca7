//! Notification deliveries on the wire.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Delivery, DeliveryStatus, NotifyOn, format_ms};

/// One try at delivering.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    #[schema(format = DateTime)]
    pub at: String,
    pub took_ms: i64,
    /// Why it failed; null: delivered.
    pub error: Option<String>,
}

/// A notification: one message to one channel, and how its delivery went. The id is the delivery id receivers
/// deduplicate on (header `X-Taskyard-Delivery` and `delivery_id` in the body).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub trigger: NotifyOn,
    /// The configured channel it goes to.
    pub channel: String,
    pub status: DeliveryStatus,
    /// Null for an overdue fire.
    pub job_id: Option<String>,
    pub task_id: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The newest attempts (at most 20), oldest first.
    pub history: Vec<AttemptView>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the next attempt is due (pending only).
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

impl From<&Delivery> for NotificationView {
    fn from(d: &Delivery) -> Self {
        NotificationView {
            id: d.id.clone(),
            trigger: d.trigger,
            channel: d.channel.clone(),
            status: d.status,
            job_id: d.job_id.map(|j| j.to_string()),
            task_id: d.task_id.to_string(),
            attempts: d.attempts,
            history: d
                .history
                .iter()
                .map(|a| AttemptView { at: format_ms(a.at), took_ms: a.took_ms, error: a.error.clone() })
                .collect(),
            last_error: d.last_error.clone(),
            created_at: format_ms(d.created_at),
            next_attempt_at: (d.status == DeliveryStatus::Pending).then(|| format_ms(d.next_attempt_at)),
            delivered_at: d.delivered_at.map(format_ms),
        }
    }
}
