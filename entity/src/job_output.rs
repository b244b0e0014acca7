//! `job_output`: a job's output lines, packed. One row holds a run of lines of one stream with consecutive
//! sequence numbers (`first_seq..=last_seq`), as they were flushed together; every other event stays a row of
//! `job_events`. Each line keeps its own sequence number and time when it is read back.
use sea_orm::entity::prelude::*;
pub use taskyard_ids::JobId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_output")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: JobId,
    /// The sequence number of the run's last line: runs never overlap, so reading after a seq starts at the first
    /// run whose last line is past it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub last_seq: i64,
    pub first_seq: i64,
    pub stream: Stream,
    /// The lines as UTF-8, joined by `\n` (a stored line never holds one). Bytes rather than text, because a line
    /// may hold a NUL, which PostgreSQL's text cannot.
    pub lines: Vec<u8>,
    /// The lines' times (Unix milliseconds) as runs of equal times: `TIME*COUNT`, comma-separated, each time after
    /// the first given as the difference from the one before.
    pub times: String,
}

impl ActiveModelBehavior for ActiveModel {}

/// Which stream a run of lines came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Stream {
    #[sea_orm(string_value = "stdout")]
    Stdout,
    #[sea_orm(string_value = "stderr")]
    Stderr,
}
