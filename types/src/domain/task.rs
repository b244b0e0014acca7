//! Tasks: stored, validated definitions of work.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schema::ParamsSchema;
use super::{CommandLine, Params, RetryPolicy, Sandbox, TaskId};

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
    /// It calls a registered function that no live node registers.
    Unregistered,
}

impl Task {
    pub fn create(spec: TaskSpec, now: i64) -> Task {
        Task { id: TaskId::generate(), spec, created_at: now, updated_at: now }
    }

    /// The task with `spec` as its fields from `now` on.
    pub fn update(&mut self, spec: TaskSpec, now: i64) {
        self.spec = spec;
        self.updated_at = now;
    }
}
