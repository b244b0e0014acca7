//! Tasks: stored, validated definitions of work.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schema::ParamsSchema;
use super::{CommandLine, Params, RetryPolicy, Sandbox, Schedule, TaskId};

/// A task's optional unique name: URL-safe, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskName(String);

impl TaskName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        let ok = s.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "name '{}' is not valid: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                s.chars().take(80).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a route names a task: by its id, or by its unique name. A string of the form of an id is an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRef {
    Id(TaskId),
    Name(TaskName),
}

impl TaskRef {
    pub fn parse(s: &str) -> Result<TaskRef, String> {
        if let Ok(id) = s.parse() {
            return Ok(TaskRef::Id(id));
        }
        TaskName::parse(s).map(TaskRef::Name).map_err(|_| {
            format!(
                "'{}' is neither a task id (26 characters of Crockford base32) nor a task name",
                s.chars().take(80).collect::<String>().escape_debug()
            )
        })
    }
}

/// The form of a task's name, which a task's id also has: what a task route's path may hold.
pub const TASK_REF_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

impl utoipa::PartialSchema for TaskRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(TASK_REF_PATTERN))
            .description(Some("A task's id (a ULID), or its unique name"))
            .build()
            .into()
    }
}

impl utoipa::ToSchema for TaskRef {}

impl std::fmt::Display for TaskRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskRef::Id(id) => write!(f, "id {id}"),
            TaskRef::Name(name) => write!(f, "name '{}'", name.as_str()),
        }
    }
}

/// What a user sets on a task, checked: the one list of a task's fields, which a create fills, an update
/// changes, the store keeps and the API shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub name: Option<TaskName>,
    /// The command line as written; it splits, and its program was allowed when it was set.
    pub command: String,
    pub enabled: bool,
    pub params: Params,
    pub params_schema: Option<ParamsSchema>,
    pub option_params: BTreeSet<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub tags: Vec<String>,
    pub retry: Option<RetryPolicy>,
    pub sandbox: Option<Sandbox>,
    /// When the task runs by itself; `None`: only when asked.
    pub schedule: Option<Schedule>,
    /// The task's own notification rules, besides the server's.
    pub notify: Vec<super::Rule>,
    /// The registered function the task calls; `command` is then empty.
    pub function: Option<String>,
}

impl TaskSpec {
    /// A task that runs `command` with every other field at its default: enabled, no name, params, schema,
    /// environment, directory, timeout, tags, retries or sandbox.
    pub fn new(command: String) -> TaskSpec {
        TaskSpec {
            name: None,
            command,
            enabled: true,
            params: Params::default(),
            params_schema: None,
            option_params: BTreeSet::new(),
            env: BTreeMap::new(),
            cwd: None,
            timeout_seconds: None,
            tags: Vec::new(),
            retry: None,
            sandbox: None,
            schedule: None,
            notify: Vec::new(),
            function: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub spec: TaskSpec,
    pub created_at: i64,
    pub updated_at: i64,
    /// The schedule's next fire to make a job for (Unix ms); `None` when the task has no schedule or is disabled.
    pub next_run_at: Option<i64>,
}

/// Field rules shared by create and update; each returns the message a user sees.
pub mod rules {
    pub const MAX_TIMEOUT_SECONDS: i64 = 366 * 24 * 3600;

    pub fn timeout(seconds: i64) -> Result<i64, String> {
        if (1..=MAX_TIMEOUT_SECONDS).contains(&seconds) {
            Ok(seconds)
        } else {
            Err(format!("timeout_seconds must be between 1 and {MAX_TIMEOUT_SECONDS}, got {seconds}"))
        }
    }

    /// The form of a working directory (whether it exists is the host's to say).
    pub fn cwd(path: &str) -> Result<String, String> {
        if path.contains('\0') {
            Err("cwd contains a NUL byte, which no path can hold".to_string())
        } else if path.starts_with('/') && path.len() <= 4096 {
            Ok(path.to_string())
        } else {
            Err(format!(
                "cwd must be an absolute path (at most 4096 bytes), got '{}'",
                path.chars().take(200).collect::<String>().escape_debug()
            ))
        }
    }

    pub fn tags(tags: Vec<String>) -> Result<Vec<String>, String> {
        if tags.len() > 32 {
            return Err(format!("a task may have at most 32 tags, got {}", tags.len()));
        }
        if let Some(bad) = tags.iter().find(|t| t.is_empty() || t.len() > 64 || t.contains(char::is_control)) {
            return Err(format!(
                "tag '{}' is not valid: tags are 1 to 64 characters, without control characters",
                bad.escape_debug()
            ));
        }
        Ok(tags)
    }
}

/// The checks across a task's parameter fields, at create and after every update: `option_params` names only
/// placeholders of the command, and the stored defaults fit the schema and turn no argument into an option.
fn check_param_rules(
    command: &CommandLine,
    params: &Params,
    option_params: &BTreeSet<String>,
    schema: Option<&ParamsSchema>,
) -> Result<(), String> {
    let placeholders = command.placeholders();
    if let Some(unknown) = option_params.iter().find(|p| !placeholders.contains(p.as_str())) {
        return Err(format!("option_params names '{unknown}', which is not a {{placeholder}} of the command"));
    }
    if let Some(schema) = schema {
        schema.check(params, true)?;
    }
    command.check_values(&with_schema_defaults(params, schema), option_params).map_err(|e| e.to_string())
}

/// A task's stored values over its schema's defaults.
fn with_schema_defaults(params: &Params, schema: Option<&ParamsSchema>) -> Params {
    match schema {
        Some(schema) => schema.defaults().merged_with(params),
        None => params.clone(),
    }
}

impl TaskSpec {
    /// [`check_param_rules`] on these fields, after a create or an update.
    pub fn check_param_rules(&self) -> Result<(), String> {
        // A function task's params are checked against the function's schema at execute (it lives in the
        // registry of the nodes that run it).
        if self.function.is_some() {
            return match self.command.is_empty() {
                true => Ok(()),
                false => Err("a task runs a command or a function, never both".into()),
            };
        }
        let command = CommandLine::parse(&self.command).map_err(|e| e.to_string())?;
        check_param_rules(&command, &self.params, &self.option_params, self.params_schema.as_ref())
    }

    /// The parameter values of one run: the schema's defaults, then the task's, then the request's; checked
    /// against the schema.
    pub fn params_for(&self, request: &Params) -> Result<Params, String> {
        let params = with_schema_defaults(&self.params, self.params_schema.as_ref()).merged_with(request);
        if let Some(schema) = &self.params_schema {
            schema.check(&params, false)?;
        }
        Ok(params)
    }
}

/// Why a task is listed as orphaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrphanReason {
    /// Enabled, and no job was ever run.
    NeverRun,
    /// Enabled, but it cannot run here now: its program is no longer allowed or no longer found, its working
    /// directory is gone, or its environment holds a variable this server refuses.
    NotRunnable,
    /// Its latest job ended because its runner died.
    Lost,
    /// Scheduled, and its latest fire older than the grace period has no started job: every node is down, the
    /// task was disabled, or the job waits.
    Overdue,
    /// Its last runs (as many as the server's setting says) all failed.
    Failing,
    /// It calls a registered function that no live node registers.
    Unregistered,
}

impl Task {
    pub fn create(spec: TaskSpec, now: i64) -> Task {
        let next_run_at = first_fire(&spec, now);
        Task { id: TaskId::generate(), spec, created_at: now, updated_at: now, next_run_at }
    }

    /// The task with `spec` as its fields from `now` on. Its next fire is computed again when the schedule or
    /// `enabled` changed: a disabled task's schedule pauses, and one enabled again starts from now (the fires
    /// while it was paused are not made up).
    pub fn update(&mut self, spec: TaskSpec, now: i64) {
        if spec.schedule != self.spec.schedule || spec.enabled != self.spec.enabled {
            self.next_run_at = first_fire(&spec, now);
        }
        self.spec = spec;
        self.updated_at = now;
    }
}

/// A task's first fire after `now`: none unless it is enabled and scheduled.
fn first_fire(spec: &TaskSpec, now: i64) -> Option<i64> {
    spec.schedule.as_ref().filter(|_| spec.enabled).and_then(|s| s.first_after(now))
}
