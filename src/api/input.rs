//! What the API takes in, checked against this server's rules into domain types: the task bodies, `$execute`'s
//! timing and the `Idempotency-Key` header. The bodies' shapes are in [`crate::wire`]; the checks need the server
//! (its allow-list, environment policy, directories, bubblewrap), so they live here.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::domain::job::MAX_DELAY_MS;
use crate::domain::task::rules;
use crate::domain::{
    AllowList, CommandLine, EnvPolicy, Params, ParamsSchema, RetryPolicy, Rule, Sandbox, Schedule, TaskId, TaskName,
    TaskSpec,
};
use crate::engine::{Due, TaskRules, host};
use crate::error::{ApiError, ErrorCode};
use crate::wire::tasks::{CreateTask, ExecuteRequest, UpdateTask};

fn invalid(msg: String) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, msg)
}

/// A command line that splits and whose program is allowed, kept as written.
fn check_command(text: String, allow: &AllowList) -> Result<String, ApiError> {
    allow.check(&CommandLine::parse(&text)?)?;
    Ok(text)
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

/// A task's notification rules: each names triggers and only configured channels.
fn check_notify(rules: Vec<Rule>, channels: &BTreeSet<String>) -> Result<Vec<Rule>, ApiError> {
    for (i, rule) in rules.iter().enumerate() {
        if rule.on.is_empty() || rule.channels.is_empty() {
            return Err(invalid(format!("notify[{i}]: name triggers (on) and channels")));
        }
        if let Some(unknown) = rule.channels.iter().find(|c| !channels.contains(*c)) {
            return Err(invalid(format!("notify[{i}]: no channel named '{unknown}' is configured on this server")));
        }
    }
    Ok(rules)
}

/// A sandboxed task's working directory is writable inside the sandbox: it may not be a system directory.
fn check_sandbox_cwd(sandbox: Option<&Sandbox>, cwd: Option<&str>) -> Result<(), ApiError> {
    match (sandbox, cwd) {
        (Some(_), Some(cwd)) => crate::engine::sandbox::check_cwd(cwd).map_err(|e| invalid(format!("cwd: {e}"))),
        _ => Ok(()),
    }
}

/// A task's name: the name rule, and not the form of a task id (routes take either, and an id wins).
fn parse_name(name: &str) -> Result<TaskName, ApiError> {
    if name.parse::<TaskId>().is_ok() {
        return Err(invalid(format!(
            "name '{name}' has the form of a task id; routes that take a task's id or name would read it as an id"
        )));
    }
    TaskName::parse(name).map_err(invalid)
}

/// A new task's fields: the defaults, updated with the create body.
pub fn new_task(body: CreateTask, rules: TaskRules<'_>) -> Result<TaskSpec, ApiError> {
    let command = match body.fields.function {
        Some(_) => String::new(),
        None => check_command(body.command, rules.allow)?,
    };
    updated(TaskSpec::new(command), body.fields, rules)
}

/// `spec` updated with `body`: each field given is checked on its own and set, the others are kept; then the
/// checks across fields run on the result.
pub fn updated(mut spec: TaskSpec, body: UpdateTask, rules: TaskRules<'_>) -> Result<TaskSpec, ApiError> {
    let s = &mut spec;
    if body.command.is_some() && body.function.is_some() {
        return Err(invalid("give `command` or `function`, not both".into()));
    }
    if let Some(command) = body.command {
        s.command = check_command(command, rules.allow)?;
        s.function = None;
    }
    if let Some(function) = body.function {
        if !crate::functions::is_function_name(&function) {
            return Err(invalid(format!("function name '{function}' is not valid: use letters, digits, '_' or '-'")));
        }
        s.function = Some(function);
        s.command = String::new();
    }
    set(&mut s.name, body.name.map(|n| n.as_deref().map(parse_name).transpose()).transpose()?);
    set(&mut s.enabled, body.enabled);
    set(&mut s.notify, body.notify.map(|r| check_notify(r, rules.channels)).transpose()?);
    set(&mut s.params, body.params.map(parse_params).transpose()?);
    set(&mut s.params_schema, body.params_schema.map(|v| v.map(parse_schema).transpose()).transpose()?);
    set(&mut s.option_params, body.option_params.map(parse_option_params).transpose()?);
    set(&mut s.env, body.env.map(|e| parse_env(e, rules.env)).transpose()?);
    set(&mut s.cwd, body.cwd.map(|c| c.as_deref().map(parse_cwd).transpose()).transpose()?);
    set(
        &mut s.timeout_seconds,
        body.timeout_seconds.map(|t| t.map(rules::timeout).transpose()).transpose().map_err(invalid)?,
    );
    set(&mut s.tags, body.tags.map(rules::tags).transpose().map_err(invalid)?);
    set(&mut s.retry, body.retry.map(|r| r.map(RetryPolicy::validate).transpose()).transpose().map_err(invalid)?);
    set(&mut s.sandbox, body.sandbox.map(|b| b.map(|b| parse_sandbox(b, rules)).transpose()).transpose()?);
    set(
        &mut s.schedule,
        body.schedule.map(|v| v.map(Schedule::parse).transpose()).transpose().map_err(|e| invalid(e.to_string()))?,
    );
    check_sandbox_cwd(spec.sandbox.as_ref(), spec.cwd.as_deref())?;
    spec.check_param_rules().map_err(invalid)?;
    Ok(spec)
}

/// A field of an update: a value given replaces the old one.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// When the job of an `$execute` request becomes due.
pub fn due(request: &ExecuteRequest) -> Result<Due, ApiError> {
    match (&request.run_at, request.delay_seconds) {
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
