//! Tasks: stored, validated definitions of work.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{CommandLine, Params, RetryPolicy, TaskId, format_ms};

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

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub name: Option<TaskName>,
    pub command: String,
    pub enabled: bool,
    pub params: Params,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub tags: Vec<String>,
    pub retry: Option<RetryPolicy>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fields a user sets, validated; shared by create and update.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub name: Option<TaskName>,
    pub command: CommandLine,
    pub command_text: String,
    pub enabled: bool,
    pub params: Params,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub tags: Vec<String>,
    pub retry: Option<RetryPolicy>,
}

/// A partial update: `None` leaves a field as it is; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    pub name: Option<Option<TaskName>>,
    pub command: Option<(CommandLine, String)>,
    pub enabled: Option<bool>,
    pub params: Option<Params>,
    pub env: Option<BTreeMap<String, String>>,
    pub cwd: Option<Option<String>>,
    pub timeout_seconds: Option<Option<i64>>,
    pub tags: Option<Vec<String>>,
    pub retry: Option<Option<RetryPolicy>>,
}

/// Field rules shared by create and update; each returns the message a user sees.
pub mod rules {
    use std::collections::BTreeMap;

    pub const MAX_TIMEOUT_SECONDS: i64 = 366 * 24 * 3600;

    pub fn timeout(seconds: i64) -> Result<i64, String> {
        if (1..=MAX_TIMEOUT_SECONDS).contains(&seconds) {
            Ok(seconds)
        } else {
            Err(format!("timeout_seconds must be between 1 and {MAX_TIMEOUT_SECONDS}, got {seconds}"))
        }
    }

    pub fn cwd(path: &str) -> Result<String, String> {
        if path.starts_with('/') && !path.contains('\0') {
            Ok(path.to_string())
        } else {
            Err(format!("cwd must be an absolute path, got '{path}'"))
        }
    }

    pub fn env(env: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
        for (k, v) in &env {
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                return Err(format!("env variable '{k}' is not valid: names must be non-empty, without '=' or NUL"));
            }
        }
        Ok(env)
    }

    pub fn tags(tags: Vec<String>) -> Result<Vec<String>, String> {
        if tags.len() > 32 {
            return Err(format!("a task may have at most 32 tags, got {}", tags.len()));
        }
        if let Some(bad) = tags.iter().find(|t| t.is_empty() || t.len() > 64) {
            return Err(format!("tag '{bad}' is not valid: tags are 1 to 64 characters"));
        }
        Ok(tags)
    }
}

impl Task {
    pub fn apply(&mut self, patch: TaskPatch, now: i64) {
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some((_, text)) = patch.command {
            self.command = text;
        }
        if let Some(enabled) = patch.enabled {
            self.enabled = enabled;
        }
        if let Some(params) = patch.params {
            self.params = params;
        }
        if let Some(env) = patch.env {
            self.env = env;
        }
        if let Some(cwd) = patch.cwd {
            self.cwd = cwd;
        }
        if let Some(timeout) = patch.timeout_seconds {
            self.timeout_seconds = timeout;
        }
        if let Some(tags) = patch.tags {
            self.tags = tags;
        }
        if let Some(retry) = patch.retry {
            self.retry = retry;
        }
        self.updated_at = now;
    }
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    /// Task id (ULID).
    pub id: String,
    /// Optional unique name.
    pub name: Option<String>,
    /// The command line, split with shlex at execute time; `{name}` placeholders are filled from params.
    pub command: String,
    pub enabled: bool,
    /// Default parameter values.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Environment variables added to the job's environment.
    pub env: BTreeMap<String, String>,
    /// Working directory (absolute); the server's own when null.
    pub cwd: Option<String>,
    /// Kill the job after this many seconds.
    pub timeout_seconds: Option<i64>,
    pub tags: Vec<String>,
    /// How failed attempts run again; null: never.
    pub retry: Option<RetryPolicy>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Task> for TaskView {
    fn from(t: &Task) -> Self {
        TaskView {
            id: t.id.to_string(),
            name: t.name.as_ref().map(|n| n.as_str().to_string()),
            command: t.command.clone(),
            enabled: t.enabled,
            params: t.params.to_json(),
            env: t.env.clone(),
            cwd: t.cwd.clone(),
            timeout_seconds: t.timeout_seconds,
            tags: t.tags.clone(),
            retry: t.retry.clone(),
            created_at: format_ms(t.created_at),
            updated_at: format_ms(t.updated_at),
        }
    }
}

/// Why a task is listed as orphaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrphanReason {
    /// Enabled, and no job was ever run.
    NeverRun,
    /// Enabled, but its program is no longer allowed or no longer found on PATH.
    NotRunnable,
    /// Its latest job ended because its runner died.
    Lost,
}

impl Task {
    pub fn create(new: NewTask, now: i64) -> Task {
        Task {
            id: TaskId::generate(),
            name: new.name,
            command: new.command_text,
            enabled: new.enabled,
            params: new.params,
            env: new.env,
            cwd: new.cwd,
            timeout_seconds: new.timeout_seconds,
            tags: new.tags,
            retry: new.retry,
            created_at: now,
            updated_at: now,
        }
    }
}
