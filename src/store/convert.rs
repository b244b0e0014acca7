//! Row ↔ domain conversions. A row that does not parse is reported as corrupt, never unwrapped.
use std::collections::BTreeMap;
use std::fmt::Display;

use entity::{job, job_event, task};
use sea_orm::ActiveValue::{NotSet, Set};

use super::StoreError;
use crate::domain::job::OutputTotals;
use crate::domain::{EventBody, Job, JobEvent, Params, ParamsSchema, Task, TaskName, TaskSpec, Traceparent};

fn corrupt(what: &str, id: impl Display, err: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{what} of {id}: {err}"))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, id: impl Display, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, id, e))
}

/// A value as the JSON text of its column. Our maps, lists and policies always serialise; should one ever not, the
/// write fails with the reason instead of taking its caller down.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Encode(e.to_string()))
}

pub fn task_from_row(m: task::Model) -> Result<Task, StoreError> {
    let id = m.id;
    let spec = TaskSpec {
        name: m.name.as_deref().map(TaskName::parse).transpose().map_err(|e| corrupt("name", id, e))?,
        command: m.command,
        enabled: m.enabled,
        params: Params::parse(json("params", id, &m.params)?).map_err(|e| corrupt("params", id, e))?,
        params_schema: m
            .params_schema
            .as_deref()
            .map(|text| json("params_schema", id, text))
            .transpose()?
            .map(ParamsSchema::stored),
        option_params: json("option_params", id, &m.option_params)?,
        env: json("env", id, &m.env)?,
        cwd: m.cwd,
        timeout_seconds: m.timeout_seconds,
        tags: json("tags", id, &m.tags)?,
        retry: m.retry.as_deref().map(|r| json("retry", id, r)).transpose()?,
        sandbox: m.sandbox.as_deref().map(|s| json("sandbox", id, s)).transpose()?,
        schedule: m.schedule.as_deref().map(|s| json("schedule", id, s)).transpose()?,
        notify: m.notify.as_deref().map(|s| json("notify", id, s)).transpose()?.unwrap_or_default(),
        function: m.function,
    };
    Ok(Task { id, spec, created_at: m.created_at, updated_at: m.updated_at, next_run_at: m.next_run_at })
}

pub fn task_to_row(task: &Task) -> Result<task::ActiveModel, StoreError> {
    let t = &task.spec;
    Ok(task::ActiveModel {
        id: Set(task.id),
        name: Set(t.name.as_ref().map(|n| n.as_str().to_string())),
        command: Set(t.command.clone()),
        enabled: Set(t.enabled),
        params: Set(t.params.to_json().to_string()),
        params_schema: Set(t.params_schema.as_ref().map(|s| s.document().to_string())),
        option_params: Set(to_json(&t.option_params)?),
        env: Set(to_json(&t.env)?),
        cwd: Set(t.cwd.clone()),
        timeout_seconds: Set(t.timeout_seconds),
        tags: Set(to_json(&t.tags)?),
        retry: Set(t.retry.as_ref().map(to_json).transpose()?),
        sandbox: Set(t.sandbox.as_ref().map(to_json).transpose()?),
        schedule: Set(t.schedule.as_ref().map(to_json).transpose()?),
        next_run_at: Set(task.next_run_at),
        notify: Set((!t.notify.is_empty()).then(|| to_json(&t.notify)).transpose()?),
        function: Set(t.function.clone()),
        created_at: Set(task.created_at),
        updated_at: Set(task.updated_at),
    })
}

pub fn job_from_row(m: job::Model) -> Result<Job, StoreError> {
    let id = m.id;
    Ok(Job {
        id,
        task_id: m.task_id,
        status: m.status.into(),
        outcome: m.outcome.map(Into::into),
        attempt: m.attempt,
        // An empty argv reads as it is stored: the runner refuses it (`spawn_error`), so such a job ends visibly
        // instead of making the claim that took it fail for every job of its batch.
        argv: json("argv", id, &m.argv)?,
        env: json::<BTreeMap<String, String>>("env", id, &m.env)?,
        cwd: m.cwd,
        timeout_seconds: m.timeout_seconds,
        submitted_at: m.submitted_at,
        run_at: m.run_at,
        started_at: m.started_at,
        finished_at: m.finished_at,
        exit_code: m.exit_code,
        signal: m.signal,
        error: m.error,
        totals: OutputTotals {
            stdout_bytes: m.stdout_bytes,
            stderr_bytes: m.stderr_bytes,
            stdout_lines: m.stdout_lines,
            stderr_lines: m.stderr_lines,
            dropped_lines: m.dropped_lines,
            dropped_bytes: m.dropped_bytes,
            stored_bytes: m.stored_bytes,
        },
        last_seq: m.last_seq,
        node_id: m.node_id,
        retry: m.retry.as_deref().map(|r| json("retry", id, r)).transpose()?,
        progress: m.progress.as_deref().map(|p| json("progress", id, p)).transpose()?,
        idempotency_key: m.idempotency_key,
        cancel_requested_at: m.cancel_requested_at,
        sandbox: m.sandbox.as_deref().map(|s| json("sandbox", id, s)).transpose()?,
        traceparent: m
            .traceparent
            .map(|t| Traceparent::try_from(t).map_err(|e| corrupt("traceparent", id, e)))
            .transpose()?,
        trigger: m.trigger.into(),
        scheduled_for: m.scheduled_for,
        function: m.function,
        params: m
            .params
            .as_deref()
            .map(|p| Params::parse(json("params", id, p)?).map_err(|e| corrupt("params", id, e)))
            .transpose()?,
        result: m.result.as_deref().map(|r| json("result", id, r)).transpose()?,
        artifact_id: m
            .artifact_id
            .as_deref()
            .map(|a| a.parse().map_err(|e| corrupt("artifact_id", id, e)))
            .transpose()?,
    })
}

/// Every column of a job, for inserts and for conditional whole-row updates.
pub fn job_to_row(j: &Job, lease_expires_at: Option<i64>) -> Result<job::ActiveModel, StoreError> {
    let t = j.totals;
    Ok(job::ActiveModel {
        id: Set(j.id),
        task_id: Set(j.task_id),
        status: Set(j.status.into()),
        outcome: Set(j.outcome.map(Into::into)),
        attempt: Set(j.attempt),
        argv: Set(to_json(&j.argv)?),
        env: Set(to_json(&j.env)?),
        cwd: Set(j.cwd.clone()),
        timeout_seconds: Set(j.timeout_seconds),
        submitted_at: Set(j.submitted_at),
        run_at: Set(j.run_at),
        started_at: Set(j.started_at),
        finished_at: Set(j.finished_at),
        exit_code: Set(j.exit_code),
        signal: Set(j.signal),
        error: Set(j.error.clone()),
        stdout_bytes: Set(t.stdout_bytes),
        stderr_bytes: Set(t.stderr_bytes),
        stdout_lines: Set(t.stdout_lines),
        stderr_lines: Set(t.stderr_lines),
        dropped_lines: Set(t.dropped_lines),
        dropped_bytes: Set(t.dropped_bytes),
        last_seq: Set(j.last_seq),
        node_id: Set(j.node_id.clone()),
        lease_expires_at: Set(lease_expires_at),
        retry: Set(j.retry.as_ref().map(to_json).transpose()?),
        progress: Set(j.progress.as_ref().map(to_json).transpose()?),
        idempotency_key: Set(j.idempotency_key.clone()),
        stored_bytes: Set(t.stored_bytes),
        // Written only by `request_cancel`: a runner saving its job must not erase a request it has not seen.
        cancel_requested_at: NotSet,
        sandbox: Set(j.sandbox.as_ref().map(to_json).transpose()?),
        traceparent: Set(j.traceparent.as_ref().map(|t| t.as_str().to_string())),
        trigger: Set(j.trigger.into()),
        scheduled_for: Set(j.scheduled_for),
        function: Set(j.function.clone()),
        params: Set(j.params.as_ref().map(|p| p.to_json().to_string())),
        result: Set(j.result.as_ref().map(to_json).transpose()?),
        artifact_id: Set(j.artifact_id.map(|a| a.to_string())),
    })
}

pub fn event_from_row(m: job_event::Model) -> Result<JobEvent, StoreError> {
    Ok(JobEvent {
        job_id: m.job_id,
        body: EventBody::parse(m.kind.into(), m.data).map_err(|e| corrupt(&format!("event {}", m.seq), m.job_id, e))?,
        seq: m.seq,
        at: m.at,
    })
}

pub fn event_to_row(e: &JobEvent) -> job_event::ActiveModel {
    job_event::ActiveModel {
        job_id: Set(e.job_id),
        seq: Set(e.seq),
        kind: Set(e.kind().into()),
        data: Set(e.data().to_string()),
        at: Set(e.at),
    }
}
