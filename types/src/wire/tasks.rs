//! Tasks on the wire: the create and update bodies, the task as shown, and `$execute`'s and `$orphaned`'s bodies.
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Schema, SchemaType, Type};

use crate::domain::task::OrphanReason;
use crate::domain::{RetryPolicy, Sandbox, ScheduleSpec, Task, format_ms};

/// Body of `PUT /api/v1/tasks/{id}`: any subset of the task's fields; `null` clears a nullable one (`name`,
/// `params_schema`, `cwd`, `timeout_seconds`, `retry`, `sandbox`) and is refused for the others. The same fields
/// make the body of `POST /api/v1/tasks`, where `command` is required and the others start from their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    /// Command line, split with shlex (never run by a shell). argv[0] must be on the allow-list.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "not_null")]
    #[schema(example = "echo hello {who}", value_type = String)]
    pub command: Option<String>,
    /// Optional unique name: 1 to 64 letters, digits, '.', '_' or '-'.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "not_null")]
    #[schema(value_type = bool)]
    pub enabled: Option<bool>,
    /// Default values for `{placeholders}`: strings, numbers or booleans.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "not_null")]
    #[schema(value_type = Object)]
    pub params: Option<Map<String, Value>>,
    /// JSON Schema (draft 2020-12) the parameters must fit, e.g. `{"type": "object", "properties": {"n":
    /// {"type": "integer", "maximum": 10}}, "required": ["n"]}`; its top-level `default`s fill missing values.
    /// References resolve only inside the document.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub params_schema: Option<Option<Value>>,
    /// Parameters whose values may start with '-'. A value of any other parameter that would turn an argument
    /// into an option is refused (400).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "not_null")]
    #[schema(value_type = Vec<String>)]
    pub option_params: Option<Vec<String>>,
    /// Environment variables added to the job's environment. Names are letters, digits and '_'; TASKYARD_* and
    /// start-up hooks (LD_*, PATH, PYTHON*, ...) are refused unless the server allows them.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "not_null")]
    #[schema(value_type = BTreeMap<String, String>)]
    pub env: Option<BTreeMap<String, String>>,
    /// Absolute working directory; it must exist.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub cwd: Option<Option<String>>,
    /// Kill the job after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "nullable")]
    #[schema(schema_with = super::schema::timeout_seconds)]
    pub timeout_seconds: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "not_null")]
    #[schema(value_type = Vec<String>)]
    pub tags: Option<Vec<String>>,
    /// How failed attempts run again (default: never).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "nullable_object")]
    #[schema(value_type = Option<RetryPolicy>)]
    pub retry: Option<Option<RetryPolicy>>,
    /// Run in a sandbox (bubblewrap): no network, a read-only file system but for `cwd` and a private `/tmp`, its
    /// own PID namespace. `{}` for the defaults; 422 when the server has no bubblewrap. The `cwd` of a sandboxed
    /// task may not be a system directory.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "nullable")]
    #[schema(value_type = Option<Sandbox>)]
    pub sandbox: Option<Option<Value>>,
    /// Run by itself at the times a cron expression names, e.g. `{"cron": "30 2 * * *", "timezone":
    /// "Europe/Paris"}`; null: only when asked. 422 naming `schedule.cron` or `schedule.timezone` when one is bad.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "nullable_object")]
    #[schema(value_type = Option<ScheduleSpec>)]
    pub schedule: Option<Option<ScheduleSpec>>,
    /// The task's own notification rules, besides the server's: on which triggers (`failed`, `lost`, `timeout`,
    /// `completed`, `retrying`, `overdue`), to which channels (named in the server's configuration). `[]` clears.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "super::object::list")]
    pub notify: Option<Vec<crate::domain::Rule>>,
    /// The name of a registered function the task calls instead of a command (never both); its params are
    /// checked against the function's schema at execute.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "not_null")]
    #[schema(value_type = String)]
    pub function: Option<String>,
}

/// Body of `POST /api/v1/tasks`: the fields of [`UpdateTask`], `command` required. A new task is its defaults
/// updated with these, so create and update share one list of fields and one set of checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "UpdateTask", into = "UpdateTask")]
pub struct CreateTask {
    pub command: String,
    /// The other fields (`command` taken out).
    pub fields: UpdateTask,
}

impl TryFrom<UpdateTask> for CreateTask {
    type Error = &'static str;

    fn try_from(mut fields: UpdateTask) -> Result<Self, Self::Error> {
        let command = match (fields.command.take(), &fields.function) {
            (Some(_), Some(_)) => return Err("give `command` or `function`, not both"),
            (Some(command), None) => command,
            (None, Some(_)) => String::new(),
            (None, None) => return Err("missing field `command`"),
        };
        Ok(CreateTask { command, fields })
    }
}

impl utoipa::PartialSchema for CreateTask {
    /// [`UpdateTask`]'s schema with `command` a required string.
    fn schema() -> RefOr<Schema> {
        let mut schema = UpdateTask::schema();
        if let RefOr::T(Schema::Object(body)) = &mut schema {
            body.description =
                Some("Body of `POST /api/v1/tasks`: `command` or `function` is required, not both.".to_string());
            if let Some(RefOr::T(Schema::Object(command))) = body.properties.get_mut("command") {
                command.schema_type = SchemaType::Type(Type::String);
            }
        }
        schema
    }
}

impl ToSchema for CreateTask {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        UpdateTask::schemas(schemas);
    }
}

impl From<CreateTask> for UpdateTask {
    fn from(create: CreateTask) -> Self {
        UpdateTask { command: Some(create.command), ..create.fields }
    }
}

/// A field that has a value whenever it is given: `null` is refused (leave the field out to keep its value).
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("this field may not be null; leave it out to keep its value")),
    }
}

/// Tells a field given as `null` (Some(None)) from a field left out (None).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Tells a struct field given as `null` (Some(None)) from one left out (None); the struct as an object only.
fn nullable_object<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    super::object::optional(d).map(Some)
}

/// Body of `POST /api/v1/tasks/{id}/$execute` (optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// Values for `{placeholders}`, over the task's stored params.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// Run no earlier than this time (RFC 3339); a time in the past runs now.
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_at: Option<String>,
    /// Run after this many seconds (0 to 31,622,400). Not together with `run_at`.
    #[schema(schema_with = super::schema::delay_seconds)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<f64>,
}

/// Answer of `$execute` (servicekit-compatible).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExecuteResponse {
    pub job_id: String,
    pub message: String,
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
    /// JSON Schema (draft 2020-12) of the parameters, checked at every execute; null: any scalar values.
    #[schema(value_type = Option<Object>)]
    pub params_schema: Option<serde_json::Value>,
    /// Parameters whose values may start with '-' (and so become options of the program).
    pub option_params: Vec<String>,
    /// Environment variables added to the job's environment.
    pub env: BTreeMap<String, String>,
    /// Working directory (absolute); the server's own when null.
    pub cwd: Option<String>,
    /// Kill the job after this many seconds.
    pub timeout_seconds: Option<i64>,
    pub tags: Vec<String>,
    /// How failed attempts run again; null: never.
    pub retry: Option<RetryPolicy>,
    /// Run in a sandbox (bubblewrap); null: not sandboxed.
    pub sandbox: Option<Sandbox>,
    /// When the task runs by itself; null: only when asked.
    pub schedule: Option<ScheduleSpec>,
    /// The schedule's next fire; null when the task has no schedule or is disabled.
    #[schema(format = DateTime)]
    pub next_run_at: Option<String>,
    /// The task's own notification rules.
    pub notify: Vec<crate::domain::Rule>,
    /// The registered function the task calls instead of a command; null: it runs its command.
    #[serde(default)]
    pub function: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Task> for TaskView {
    fn from(task: &Task) -> Self {
        let t = &task.spec;
        TaskView {
            id: task.id.to_string(),
            name: t.name.as_ref().map(|n| n.as_str().to_string()),
            command: t.command.clone(),
            enabled: t.enabled,
            params: t.params.to_json(),
            params_schema: t.params_schema.as_ref().map(|s| s.document().clone()),
            option_params: t.option_params.iter().cloned().collect(),
            env: t.env.clone(),
            cwd: t.cwd.clone(),
            timeout_seconds: t.timeout_seconds,
            tags: t.tags.clone(),
            retry: t.retry.clone(),
            sandbox: t.sandbox.clone(),
            schedule: t.schedule.as_ref().map(|s| s.spec().clone()),
            next_run_at: task.next_run_at.map(format_ms),
            notify: t.notify.clone(),
            function: t.function.clone(),
            created_at: format_ms(task.created_at),
            updated_at: format_ms(task.updated_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrphanedTask {
    #[serde(flatten)]
    pub task: TaskView,
    pub reason: OrphanReason,
}

/// Orphaned tasks, in task order; a `Link` header says where more are.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrphansResponse {
    pub orphaned_tasks: Vec<OrphanedTask>,
    /// How many are in this answer.
    pub count: usize,
}

/// The next fires of a schedule (`$schedule` of a task, `POST /api/v1/schedules/$preview`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchedulePreview {
    /// The fires in UTC (RFC 3339), soonest first.
    #[schema(value_type = Vec<String>)]
    pub fires: Vec<String>,
    /// The same fires in the schedule's time zone, with its offset.
    #[schema(value_type = Vec<String>)]
    pub local: Vec<String>,
    pub timezone: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A client writes the bodies the server reads: a field left out stays out, a cleared one is `null`.
    #[test]
    fn bodies_are_written_as_they_are_read() {
        let update = UpdateTask { name: Some(None), enabled: Some(false), ..UpdateTask::default() };
        assert_eq!(serde_json::to_value(&update).unwrap(), json!({"name": null, "enabled": false}));
        let create: CreateTask = serde_json::from_value(json!({"command": "echo hi", "tags": ["a"]})).unwrap();
        assert_eq!(serde_json::to_value(&create).unwrap(), json!({"command": "echo hi", "tags": ["a"]}));
        let execute = ExecuteRequest { delay_seconds: Some(1.5), ..ExecuteRequest::default() };
        assert_eq!(serde_json::to_value(&execute).unwrap(), json!({"delay_seconds": 1.5}));
        let read: ExecuteRequest = serde_json::from_value(serde_json::to_value(&execute).unwrap()).unwrap();
        assert_eq!(read.delay_seconds, Some(1.5));
    }
}
