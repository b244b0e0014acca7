//! Jobs on the wire: the job record (also the data of every state event, as stored and streamed) and stored output.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::progress::Progress;
use crate::domain::{EventBody, Job, JobEvent, JobStatus, Outcome, Sandbox, StateRecord, Trigger, format_ms};

/// A job as the API shows it (and as `$stream` carries it in its unnamed events).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Job id (ULID).
    pub id: String,
    pub task_id: String,
    pub status: JobStatus,
    /// How the job ended; null until it does.
    pub outcome: Option<Outcome>,
    /// Attempt number, from 1.
    pub attempt: i32,
    /// Attempts allowed in all by the retry policy the job was submitted with (1 without one).
    pub max_attempts: i32,
    /// The argv that runs (after parameter substitution).
    pub argv: Vec<String>,
    #[schema(format = DateTime)]
    pub submitted_at: String,
    /// When a pending job is due to run (after a delay or a retry's backoff).
    #[schema(format = DateTime)]
    pub run_at: String,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Wall-clock run time in milliseconds, once finished.
    pub duration_ms: Option<i64>,
    /// The exit code, when the process exited.
    pub exit_code: Option<i32>,
    /// The signal number, when the process was killed by a signal.
    pub signal: Option<i32>,
    /// Why the job (or, while a retry waits, its previous attempt) did not succeed, in words.
    pub error: Option<String>,
    /// The latest `::progress` the job printed.
    pub progress: Option<Progress>,
    /// Boot id of the server process that runs (or ran) the current attempt.
    pub node_id: Option<String>,
    /// The `Idempotency-Key` the job was submitted with.
    pub idempotency_key: Option<String>,
    /// The sandbox the job runs in; null: not sandboxed.
    pub sandbox: Option<Sandbox>,
    /// The W3C `traceparent` header of the request that submitted the job (when it sent a valid one): find the
    /// job from the trace of the call that started it.
    pub traceparent: Option<String>,
    /// What made the job: `api` (`$execute`), `schedule` or `retry` (`$retry` of a finished job).
    #[serde(default)]
    pub trigger: Trigger,
    /// The fire of the task's schedule the job runs for (`trigger: schedule`).
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    /// Bytes and lines the process printed (all of them, stored or not).
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    pub stdout_lines: i64,
    pub stderr_lines: i64,
    /// Lines and bytes not stored because a stream reached the output bound.
    pub dropped_lines: i64,
    pub dropped_bytes: i64,
    /// The registered function the job calls; null: it runs its argv.
    #[serde(default)]
    pub function: Option<String>,
    /// The params a function job is called with.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// What a completed function job returned.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// The result record of a finished function job (`GET /api/v1/artifacts/{id}`).
    #[serde(default)]
    pub artifact_id: Option<String>,
    /// Where the files the job left in `$TASKYARD_ARTIFACTS_DIR` are listed.
    #[serde(default)]
    pub artifacts_url: String,
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        let t = job.totals;
        JobView {
            id: job.id.to_string(),
            task_id: job.task_id.to_string(),
            status: job.status,
            outcome: job.outcome,
            attempt: job.attempt,
            max_attempts: job.retry.as_ref().map_or(1, |r| r.max_attempts as i32),
            argv: job.argv.clone(),
            submitted_at: format_ms(job.submitted_at),
            run_at: format_ms(job.run_at),
            started_at: job.started_at.map(format_ms),
            finished_at: job.finished_at.map(format_ms),
            duration_ms: job.started_at.zip(job.finished_at).map(|(s, f)| (f - s).max(0)),
            exit_code: job.exit_code,
            signal: job.signal,
            error: job.error.clone(),
            progress: job.progress,
            node_id: job.node_id.clone(),
            idempotency_key: job.idempotency_key.clone(),
            sandbox: job.sandbox.clone(),
            traceparent: job.traceparent.as_ref().map(|t| t.as_str().to_string()),
            trigger: job.trigger,
            scheduled_for: job.scheduled_for.map(format_ms),
            stdout_bytes: t.stdout_bytes,
            stderr_bytes: t.stderr_bytes,
            stdout_lines: t.stdout_lines,
            stderr_lines: t.stderr_lines,
            dropped_lines: t.dropped_lines,
            dropped_bytes: t.dropped_bytes,
            function: job.function.clone(),
            params: job.params.as_ref().map(|p| p.to_json()),
            result: job.result.clone(),
            artifact_id: job.artifact_id.map(|a| a.to_string()),
            artifacts_url: format!("/api/v1/jobs/{}/artifacts", job.id),
        }
    }
}

/// The event that records `job`'s current state: its record as the API shows it, numbered `last_seq`.
pub fn state_event(job: &Job, at: i64) -> JobEvent {
    let record = serde_json::to_string(&JobView::from(job)).unwrap_or_default();
    JobEvent {
        job_id: job.id,
        seq: job.last_seq,
        body: EventBody::State(StateRecord { status: job.status, record }),
        at,
    }
}

/// Which output stream(s) to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamFilter {
    Stdout,
    Stderr,
    #[default]
    Both,
}

/// One stored output line.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutputPage {
    pub items: Vec<OutputItem>,
    pub next_after_seq: i64,
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Task, TaskSpec};
    use crate::wire::TaskView;

    /// A client reads back what the server writes: the records deserialise to the same JSON.
    #[test]
    fn records_read_back_as_written() {
        let task = Task::create(TaskSpec::new("echo hi".into()), 1_000);
        let shown = serde_json::to_value(TaskView::from(&task)).unwrap();
        let read: TaskView = serde_json::from_value(shown.clone()).unwrap();
        assert_eq!(serde_json::to_value(read).unwrap(), shown);

        let job = Job::pending(&task, vec!["echo".into(), "hi".into()], 1_000, 1_000, None);
        let event = state_event(&job, 1_000);
        assert_eq!((event.seq, event.kind()), (job.last_seq, crate::domain::EventKind::State));
        let read: JobView = serde_json::from_str(event.data()).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), event.data());
        assert_eq!(read.status, JobStatus::Pending);
    }
}
