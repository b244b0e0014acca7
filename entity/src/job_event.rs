//! `job_events`: the ordered, persisted event log of a job (state changes and output lines).
use sea_orm::entity::prelude::*;
pub use taskyard_ids::JobId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: JobId,
    /// Per-job sequence number, from 1, no gaps.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub kind: Kind,
    /// An output line, or JSON for state and truncation events.
    pub data: String,
    /// Unix milliseconds.
    pub at: i64,
}

impl ActiveModelBehavior for ActiveModel {}

/// What an event records, as stored (the service's `EventKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Kind {
    #[sea_orm(string_value = "state")]
    State,
    #[sea_orm(string_value = "stdout")]
    Stdout,
    #[sea_orm(string_value = "stderr")]
    Stderr,
    #[sea_orm(string_value = "truncated")]
    Truncated,
    #[sea_orm(string_value = "progress")]
    Progress,
    #[sea_orm(string_value = "retry")]
    Retry,
}
