//! `job_events`: the ordered, persisted event log of a job (state changes and output lines).
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: String,
    /// Per-job sequence number, from 1, no gaps.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// `EventKind` as its snake_case name.
    pub kind: String,
    /// An output line, or JSON for state and truncation events.
    pub data: String,
    /// Unix milliseconds.
    pub at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
