//! Request and response bodies of the API: their own types, parsed into domain types at the edge.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub use crate::domain::task::OrphanReason;
use crate::domain::task::{TaskView, check_param_rules, rules};
use crate::domain::{
    AllowList, CommandLine, EnvPolicy, NewTask, Params, ParamsSchema, RetryPolicy, Sandbox, TaskName, TaskPatch,
};
use crate::engine::{Due, TaskRules, host};
use crate::error::{ApiError, ErrorCode};
use crate::store::PageRequest;

/// Body of `POST /api/v1/tasks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// Command line, split with shlex (never run by a shell). argv[0] must be on the allow-list.
    #[schema(example = "echo hello {who}")]
    pub command: String,
    /// Optional unique name: 1 to 64 letters, digits, '.', '_' or '-'.
    pub name: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default values for `{placeholders}`: strings, numbers or booleans.
    #[schema(value_type = Option<Object>)]
    pub params: Option<Map<String, Value>>,
    /// JSON Schema (draft 2020-12) the parameters must fit, e.g. `{"type": "object", "properties": {"n":
    /// {"type": "integer", "maximum": 10}}, "required": ["n"]}`; its top-level `default`s fill missing values.
    /// References resolve only inside the document.
    #[schema(value_type = Option<Object>)]
    pub params_schema: Option<Value>,
    /// Parameters whose values may start with '-'. A value of any other parameter that would turn an argument
    /// into an option is refused (400).
    pub option_params: Option<Vec<String>>,
    /// Environment variables added to the job's environment. Names are letters, digits and '_'; TASKYARD_* and
    /// start-up hooks (LD_*, PATH, PYTHON*, ...) are refused unless the server allows them.
    pub env: Option<BTreeMap<String, String>>,
    /// Absolute working directory; it must exist.
    pub cwd: Option<String>,
    /// Kill the job after this many seconds.
    #[schema(schema_with = super::schema::timeout_seconds)]
    pub timeout_seconds: Option<i64>,
    pub tags: Option<Vec<String>>,
    /// How failed attempts run again (default: never).
    pub retry: Option<RetryPolicy>,
    /// Run in a sandbox (bubblewrap): no network, a read-only file system but for `cwd` and a private `/tmp`, its
    /// own PID namespace. `{}` for the defaults; 422 when the server has no bubblewrap. The `cwd` of a sandboxed
    /// task may not be a system directory.
    #[schema(value_type = Option<Sandbox>)]
    pub sandbox: Option<Value>,
}

/// Body of `PUT /api/v1/tasks/{id}`: any subset of the task's fields; `null` clears a nullable one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    pub command: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    pub enabled: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub params: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub params_schema: Option<Option<Value>>,
    pub option_params: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub cwd: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = super::schema::timeout_seconds)]
    pub timeout_seconds: Option<Option<i64>>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RetryPolicy>)]
    pub retry: Option<Option<RetryPolicy>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Sandbox>)]
    pub sandbox: Option<Option<Value>>,
}

/// Tells a field given as `null` (Some(None)) from a field left out (None).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn invalid(msg: String) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, msg)
}

fn parse_command(text: &str, allow: &AllowList) -> Result<CommandLine, ApiError> {
    let cmd = CommandLine::parse(text)?;
    allow.check(&cmd)?;
    Ok(cmd)
}

fn parse_params(params: Map<String, Value>) -> Result<Params, ApiError> {
    Params::parse(params).map_err(|e| invalid(e.to_string()))
}

fn parse_schema(schema: Value) -> Result<ParamsSchema, ApiError> {
    ParamsSchema::parse(schema).map_err(invalid)
}

fn parse_option_params(names: Vec<String>) -> Result<BTreeSet<String>, ApiError> {
    match names.iter().find(|n| !crate::domain::params::is_param_name(n)) {
        Some(bad) => Err(invalid(format!("option_params: '{}' is not a parameter name", bad.escape_debug()))),
        None => Ok(names.into_iter().collect()),
    }
}

fn parse_env(env: BTreeMap<String, String>, policy: &EnvPolicy) -> Result<BTreeMap<String, String>, ApiError> {
    policy.check(&env).map_err(|e| invalid(e.to_string()))?;
    Ok(env)
}

/// An absolute path of an existing directory (as this server sees it now; the runner checks again).
fn parse_cwd(path: &str) -> Result<String, ApiError> {
    let path = rules::cwd(path).map_err(invalid)?;
    host::check_dir(&path).map_err(|e| invalid(format!("cwd: {e}")))?;
    Ok(path)
}

fn parse_sandbox(sandbox: Value, rules: TaskRules<'_>) -> Result<Sandbox, ApiError> {
    // An object only: serde would also take a struct written as an array.
    if !sandbox.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "sandbox must be an object such as {} or {\"network\": true}",
        ));
    }
    let sandbox: Sandbox =
        serde_json::from_value(sandbox).map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("sandbox: {e}")))?;
    if rules.sandbox {
        Ok(sandbox)
    } else {
        Err(invalid(
            "sandbox: this server cannot run sandboxed tasks: bubblewrap (bwrap) is not on its PATH (Debian package \
             bubblewrap)"
                .into(),
        ))
    }
}

/// A sandboxed task's working directory is writable inside the sandbox: it may not be a system directory.
pub fn check_sandbox_cwd(sandbox: Option<&Sandbox>, cwd: Option<&str>) -> Result<(), ApiError> {
    match (sandbox, cwd) {
        (Some(_), Some(cwd)) => crate::engine::sandbox::check_cwd(cwd).map_err(|e| invalid(format!("cwd: {e}"))),
        _ => Ok(()),
    }
}

impl CreateTask {
    pub fn parse(self, rules: TaskRules<'_>) -> Result<NewTask, ApiError> {
        let (allow, env) = (rules.allow, rules.env);
        let new = NewTask {
            command: parse_command(&self.command, allow)?,
            command_text: self.command,
            name: self.name.as_deref().map(TaskName::parse).transpose().map_err(invalid)?,
            enabled: self.enabled.unwrap_or(true),
            params: parse_params(self.params.unwrap_or_default())?,
            params_schema: self.params_schema.map(parse_schema).transpose()?,
            option_params: parse_option_params(self.option_params.unwrap_or_default())?,
            env: parse_env(self.env.unwrap_or_default(), env)?,
            cwd: self.cwd.as_deref().map(parse_cwd).transpose()?,
            timeout_seconds: self.timeout_seconds.map(rules::timeout).transpose().map_err(invalid)?,
            tags: rules::tags(self.tags.unwrap_or_default()).map_err(invalid)?,
            retry: self.retry.map(RetryPolicy::validate).transpose().map_err(invalid)?,
            sandbox: self.sandbox.map(|s| parse_sandbox(s, rules)).transpose()?,
        };
        check_sandbox_cwd(new.sandbox.as_ref(), new.cwd.as_deref())?;
        check_param_rules(&new.command, &new.params, &new.option_params, new.params_schema.as_ref())
            .map_err(invalid)?;
        Ok(new)
    }
}

impl UpdateTask {
    /// The patch, each field checked on its own; the checks across fields run on the updated task.
    pub fn parse(self, rules: TaskRules<'_>) -> Result<TaskPatch, ApiError> {
        let (allow, env) = (rules.allow, rules.env);
        Ok(TaskPatch {
            command: self.command.map(|c| parse_command(&c, allow).map(|cmd| (cmd, c))).transpose()?,
            name: self.name.map(|n| n.as_deref().map(TaskName::parse).transpose().map_err(invalid)).transpose()?,
            enabled: self.enabled,
            params: self.params.map(parse_params).transpose()?,
            params_schema: self.params_schema.map(|s| s.map(parse_schema).transpose()).transpose()?,
            option_params: self.option_params.map(parse_option_params).transpose()?,
            env: self.env.map(|e| parse_env(e, env)).transpose()?,
            cwd: self.cwd.map(|c| c.as_deref().map(parse_cwd).transpose()).transpose()?,
            timeout_seconds: self
                .timeout_seconds
                .map(|t| t.map(rules::timeout).transpose().map_err(invalid))
                .transpose()?,
            tags: self.tags.map(rules::tags).transpose().map_err(invalid)?,
            retry: self.retry.map(|r| r.map(RetryPolicy::validate).transpose().map_err(invalid)).transpose()?,
            sandbox: self.sandbox.map(|s| s.map(|s| parse_sandbox(s, rules)).transpose()).transpose()?,
        })
    }
}

/// Body of `POST /api/v1/tasks/{id}/$execute` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// Values for `{placeholders}`, over the task's stored params.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// Run no earlier than this time (RFC 3339); a time in the past runs now.
    #[schema(format = DateTime)]
    pub run_at: Option<String>,
    /// Run after this many seconds. Not together with `run_at`.
    #[schema(schema_with = super::schema::delay_seconds)]
    pub delay_seconds: Option<f64>,
}

/// The longest a job may be delayed: 366 days.
pub const MAX_DELAY_MS: i64 = 366 * 24 * 3600 * 1000;

impl ExecuteRequest {
    /// When the job becomes due.
    pub fn due(&self) -> Result<Due, ApiError> {
        match (&self.run_at, self.delay_seconds) {
            (Some(_), Some(_)) => Err(invalid("give run_at or delay_seconds, not both".into())),
            (None, None) => Ok(Due::Now),
            (None, Some(s)) => {
                let ms = s * 1000.0;
                if !(ms.is_finite() && (0.0..=MAX_DELAY_MS as f64).contains(&ms)) {
                    return Err(invalid(format!("delay_seconds must be between 0 and 31622400, got {s}")));
                }
                Ok(Due::After(std::time::Duration::from_millis(ms as u64)))
            }
            (Some(at), None) => {
                let t = chrono::DateTime::parse_from_rfc3339(at).map_err(|e| {
                    invalid(format!(
                        "run_at '{}' is not an RFC 3339 time (like 2026-01-31T12:00:00Z): {e}",
                        at.chars().take(64).collect::<String>()
                    ))
                })?;
                let ms = t.timestamp_millis();
                if ms > crate::domain::now_ms() + MAX_DELAY_MS {
                    return Err(invalid(format!("run_at '{at}' is more than 366 days away")));
                }
                Ok(Due::At(ms))
            }
        }
    }
}

/// The longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header, checked: 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters.
pub fn idempotency_key(req: &actix_web::HttpRequest) -> Result<Option<String>, ApiError> {
    let mut values = req.headers().get_all("idempotency-key");
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(ApiError::new(ErrorCode::InvalidHeader, "send one Idempotency-Key header, not several"));
    }
    let bad = || {
        ApiError::new(
            ErrorCode::InvalidHeader,
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    if text.is_empty() || text.len() > MAX_IDEMPOTENCY_KEY || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(text.to_string()))
}

/// Answer of `$execute` (servicekit-compatible).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteResponse {
    pub job_id: String,
    pub message: String,
}

/// One page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub size: u64,
    pub pages: u64,
}

impl<T> Paginated<T> {
    pub fn new(items: Vec<T>, total: u64, req: PageRequest) -> Self {
        Self { items, total, page: req.page, size: req.size, pages: total.div_ceil(req.size) }
    }
}

/// A list: a plain array of at most 1000 items (a `Link` header says where more are), or one numbered page when
/// `page`/`size` were given.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Listing<T> {
    All(Vec<T>),
    Page(Paginated<T>),
}

/// One stored output line.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputItem {
    /// The line's event sequence number (the same as its SSE id).
    pub seq: i64,
    /// stdout or stderr.
    pub stream: String,
    pub line: String,
    #[schema(format = DateTime)]
    pub at: String,
}

/// A page of stored output; pass `next_after_seq` as `after_seq` for the next.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputPage {
    pub items: Vec<OutputItem>,
    pub next_after_seq: i64,
    pub has_more: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrphanedTask {
    #[serde(flatten)]
    pub task: TaskView,
    pub reason: OrphanReason,
}

/// Orphaned tasks, in task order; a `Link` header says where more are.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrphansResponse {
    pub orphaned_tasks: Vec<OrphanedTask>,
    /// How many are in this answer.
    pub count: usize,
}
