//! `notifications`: the outbox. One row per message to one channel, written in the transaction that ends its job
//! (or records an overdue fire); the delivery worker claims due rows by moving `next_attempt_at` past its claim
//! and stamping `claim_token`, so that only the claimer's answer is written back.
use sea_orm::entity::prelude::*;
pub use taskyard_ids::{JobId, TaskId};
use taskyard_types::domain::{DeliveryStatus, NotifyOn};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    /// The delivery id (ULID) a receiver deduplicates on.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Unique: what the message is about and where it goes, so that the same event enqueued twice is one row.
    pub dedupe_key: String,
    pub job_id: Option<JobId>,
    pub task_id: TaskId,
    pub outcome: Outcome,
    pub channel: String,
    pub status: Status,
    /// JSON: what the message says besides its id and link.
    pub payload: String,
    pub attempts: i32,
    /// JSON list of the newest attempts.
    pub history: String,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub claim_token: Option<String>,
    pub delivered_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}

/// The stored form of a [`NotifyOn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Outcome {
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "lost")]
    Lost,
    #[sea_orm(string_value = "timeout")]
    Timeout,
    #[sea_orm(string_value = "completed")]
    Completed,
    #[sea_orm(string_value = "retrying")]
    Retrying,
    #[sea_orm(string_value = "overdue")]
    Overdue,
}

/// The stored form of a [`DeliveryStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Status {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "delivered")]
    Delivered,
    #[sea_orm(string_value = "dead")]
    Dead,
}

impl From<NotifyOn> for Outcome {
    fn from(t: NotifyOn) -> Self {
        match t {
            NotifyOn::Failed => Self::Failed,
            NotifyOn::Lost => Self::Lost,
            NotifyOn::Timeout => Self::Timeout,
            NotifyOn::Completed => Self::Completed,
            NotifyOn::Retrying => Self::Retrying,
            NotifyOn::Overdue => Self::Overdue,
        }
    }
}

impl From<Outcome> for NotifyOn {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Failed => Self::Failed,
            Outcome::Lost => Self::Lost,
            Outcome::Timeout => Self::Timeout,
            Outcome::Completed => Self::Completed,
            Outcome::Retrying => Self::Retrying,
            Outcome::Overdue => Self::Overdue,
        }
    }
}

impl From<DeliveryStatus> for Status {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::Dead => Self::Dead,
        }
    }
}

impl From<Status> for DeliveryStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => Self::Pending,
            Status::Delivered => Self::Delivered,
            Status::Dead => Self::Dead,
        }
    }
}
