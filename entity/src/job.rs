//! `jobs`: one run of a task, with its state, result and output totals.
use sea_orm::entity::prelude::*;
pub use taskyard_ids::{JobId, TaskId};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    /// ULID; ordering by id is ordering by submission time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: JobId,
    pub task_id: TaskId,
    pub status: Status,
    /// Set when the job finishes.
    pub outcome: Option<Outcome>,
    pub attempt: i32,
    /// JSON array: the argv after parameter substitution.
    pub argv: String,
    /// JSON object: the environment the task adds.
    pub env: String,
    pub cwd: Option<String>,
    pub timeout_seconds: Option<i64>,
    /// Unix milliseconds.
    pub submitted_at: i64,
    /// When the job becomes due (Unix ms).
    pub run_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub error: Option<String>,
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    pub stdout_lines: i64,
    pub stderr_lines: i64,
    pub dropped_lines: i64,
    pub dropped_bytes: i64,
    /// Sequence number of the job's newest stored event.
    pub last_seq: i64,
    /// Boot id of the node that claimed the job.
    pub node_id: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// JSON: the task's retry policy at submission; NULL for none.
    pub retry: Option<String>,
    /// JSON: the latest `::progress`.
    pub progress: Option<String>,
    /// Unique per task when set.
    pub idempotency_key: Option<String>,
    /// Bytes of output held in `job_events`.
    pub stored_bytes: i64,
    /// When someone asked to cancel the running job (its runner may be on another node); runners' own writes
    /// never touch it.
    pub cancel_requested_at: Option<i64>,
    /// JSON sandbox copied from the task at submission; NULL: not sandboxed.
    pub sandbox: Option<String>,
    /// The W3C `traceparent` of the request that submitted the job.
    pub traceparent: Option<String>,
    pub trigger: Trigger,
    /// The schedule's fire the job runs for (Unix ms); unique per task when set.
    pub scheduled_for: Option<i64>,
    /// The registered function the job calls; NULL: it runs its argv.
    pub function: Option<String>,
    /// JSON object: the params a function job is called with.
    pub params: Option<String>,
    /// JSON: what a function job returned.
    pub result: Option<String>,
    /// The id of a finished function job's result record.
    pub artifact_id: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

/// Where a job is in its life, as stored (the service's `JobStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Status {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "completed")]
    Completed,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "canceled")]
    Canceled,
}

/// What made a job, as stored (the service's `Trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Trigger {
    #[sea_orm(string_value = "api")]
    Api,
    #[sea_orm(string_value = "schedule")]
    Schedule,
    #[sea_orm(string_value = "retry")]
    Retry,
}

/// How a finished job ended, as stored (the service's `Outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Outcome {
    #[sea_orm(string_value = "success")]
    Success,
    #[sea_orm(string_value = "exit_code")]
    ExitCode,
    #[sea_orm(string_value = "signal")]
    Signal,
    #[sea_orm(string_value = "spawn_error")]
    SpawnError,
    #[sea_orm(string_value = "timeout")]
    Timeout,
    #[sea_orm(string_value = "canceled")]
    Canceled,
    #[sea_orm(string_value = "lost")]
    Lost,
    #[sea_orm(string_value = "interrupted")]
    Interrupted,
    #[sea_orm(string_value = "error")]
    Error,
    #[sea_orm(string_value = "panic")]
    Panic,
}
