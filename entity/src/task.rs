//! `tasks`: stored definitions of work.
use sea_orm::entity::prelude::*;
pub use taskyard_ids::TaskId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    /// ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TaskId,
    /// Optional unique, URL-safe name.
    #[sea_orm(unique)]
    pub name: Option<String>,
    /// The command line as the user wrote it (split with shlex at execute time).
    pub command: String,
    pub enabled: bool,
    /// JSON object of default parameter values.
    pub params: String,
    /// JSON Schema of the parameters; NULL for none.
    pub params_schema: Option<String>,
    /// JSON array of the parameter names whose values may start with '-'.
    pub option_params: String,
    /// JSON object of environment variables.
    pub env: String,
    pub cwd: Option<String>,
    pub timeout_seconds: Option<i64>,
    /// JSON array of strings.
    pub tags: String,
    /// JSON retry policy; NULL for none.
    pub retry: Option<String>,
    /// JSON sandbox; NULL: not sandboxed.
    pub sandbox: Option<String>,
    /// JSON schedule; NULL: runs only when asked.
    pub schedule: Option<String>,
    /// The schedule's next fire to make a job for (Unix ms); NULL when unscheduled or disabled.
    pub next_run_at: Option<i64>,
    /// JSON list of the task's own notification rules; NULL: none.
    pub notify: Option<String>,
    /// The registered function the task calls; NULL: it runs its command.
    pub function: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
