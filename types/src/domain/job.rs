//! Jobs: one run of a task, its state machine and its result.
use std::collections::BTreeMap;

use super::progress::Progress;
use super::retry::{self, Next, RetryPolicy};
pub use super::status::{IllegalMove, JobStatus, Outcome, UnknownVariant};
use super::{EventBody, JobEvent, JobId, TaskId, format_ms};

/// What a finished run left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub error: Option<String>,
}

impl Finish {
    /// An end with no process result to report (canceled before starting, runner lost).
    pub fn without_exit(outcome: Outcome, error: &str) -> Finish {
        Finish { outcome, exit_code: None, signal: None, error: Some(error.to_string()) }
    }
}

/// Output totals of a job: everything the process printed, and what was not stored because of the bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputTotals {
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    pub stdout_lines: i64,
    pub stderr_lines: i64,
    pub dropped_lines: i64,
    pub dropped_bytes: i64,
    /// Bytes of output kept in the event log (what retention counts).
    pub stored_bytes: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub task_id: TaskId,
    pub status: JobStatus,
    pub outcome: Option<Outcome>,
    pub attempt: i32,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub submitted_at: i64,
    pub run_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub error: Option<String>,
    pub totals: OutputTotals,
    pub last_seq: i64,
    pub node_id: Option<String>,
    /// The task's retry policy when the job was submitted.
    pub retry: Option<RetryPolicy>,
    pub progress: Option<Progress>,
    pub idempotency_key: Option<String>,
    /// Set when a cancel was asked for while the job ran (possibly on another node). Read-only here: only
    /// `JobsStore::request_cancel` writes it.
    pub cancel_requested_at: Option<i64>,
    /// The sandbox it runs in (copied from its task at submission); `None`: not sandboxed.
    pub sandbox: Option<super::Sandbox>,
    /// The W3C `traceparent` of the request that submitted the job, when it sent a valid one.
    pub traceparent: Option<super::Traceparent>,
    /// What made the job.
    pub trigger: Trigger,
    /// The fire of the task's schedule this job runs for (Unix ms); set when `trigger` is `schedule`. One job per
    /// task and fire, however many nodes fire it.
    pub scheduled_for: Option<i64>,
    /// The registered function it calls instead of a process (its `argv` is then empty).
    pub function: Option<String>,
    /// The parameters a function job is called with (defaults, the task's and the request's, checked).
    pub params: Option<super::Params>,
    /// What a function job returned (JSON), once it completed.
    pub result: Option<serde_json::Value>,
    /// The id of the function job's result record, set when the job ended (see [`Job::ended`]).
    pub artifact_id: Option<super::ArtifactId>,
}

/// What made a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A request to `$execute`.
    #[default]
    Api,
    /// A fire of the task's schedule.
    Schedule,
    /// A `$retry` of a finished job.
    Retry,
}

/// The longest a job may be delayed: 366 days.
pub const MAX_DELAY_MS: i64 = 366 * 24 * 3600 * 1000;

impl Job {
    /// A new job of `task`, queued at `now` and due at `run_at`: attempt 1, with the task's environment, directory,
    /// timeout, retry policy and sandbox copied, so that it runs as it was submitted.
    pub fn pending(
        task: &super::Task,
        argv: Vec<String>,
        now: i64,
        run_at: i64,
        idempotency_key: Option<String>,
    ) -> Job {
        Job {
            id: JobId::generate(),
            task_id: task.id,
            status: JobStatus::Pending,
            outcome: None,
            attempt: 1,
            argv,
            env: task.spec.env.clone(),
            cwd: task.spec.cwd.clone(),
            timeout_seconds: task.spec.timeout_seconds,
            submitted_at: now,
            run_at,
            started_at: None,
            finished_at: None,
            exit_code: None,
            signal: None,
            error: None,
            totals: Default::default(),
            last_seq: 1,
            node_id: None,
            retry: task.spec.retry.clone(),
            progress: None,
            idempotency_key,
            cancel_requested_at: None,
            sandbox: task.spec.sandbox.clone(),
            trigger: Trigger::Api,
            scheduled_for: None,
            traceparent: None,
            function: task.spec.function.clone(),
            params: None,
            result: None,
            artifact_id: None,
        }
    }
}

impl Job {
    /// A new job that runs this one again as it was submitted (argv, environment, directory, timeout, retry policy,
    /// sandbox, task), queued and due at `now`: attempt 1, nothing of this run's result (nor its trace) carried
    /// over.
    pub fn rerun(&self, now: i64) -> Job {
        Job {
            id: JobId::generate(),
            task_id: self.task_id,
            status: JobStatus::Pending,
            outcome: None,
            attempt: 1,
            argv: self.argv.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            timeout_seconds: self.timeout_seconds,
            submitted_at: now,
            run_at: now,
            started_at: None,
            finished_at: None,
            exit_code: None,
            signal: None,
            error: None,
            totals: Default::default(),
            last_seq: 1,
            node_id: None,
            retry: self.retry.clone(),
            progress: None,
            idempotency_key: None,
            cancel_requested_at: None,
            sandbox: self.sandbox.clone(),
            traceparent: None,
            trigger: Trigger::Retry,
            scheduled_for: None,
            function: self.function.clone(),
            params: self.params.clone(),
            result: None,
            artifact_id: None,
        }
    }

    /// The job of `task`'s schedule for the fire at `fire`, queued at `now` and due at once.
    pub fn scheduled(task: &super::Task, argv: Vec<String>, now: i64, fire: i64) -> Job {
        Job { trigger: Trigger::Schedule, scheduled_for: Some(fire), ..Job::pending(task, argv, now, now, None) }
    }
}

impl Job {
    /// What follows an attempt that ended with `finish` at `now`: the job's next record, whose `last_seq` is the
    /// number of the state event that records it, and the `retry` event before that one when another attempt
    /// follows. Every way an attempt ends goes through here, so the retry policy is applied the same way to a
    /// finished process, a lost runner and an interrupted server. `jitter` is a random number in [0, 1) for the
    /// backoff. Refused when the job is in no state to make that move.
    pub fn after_attempt(&self, finish: Finish, now: i64, jitter: f64) -> Result<(Job, Option<JobEvent>), IllegalMove> {
        match retry::next(self.retry.as_ref(), self.attempt, finish.outcome, finish.exit_code, jitter) {
            Next::End => Ok((self.ended(finish, now)?, None)),
            Next::Retry { attempt, delay } => {
                self.status.check_move(JobStatus::Pending)?;
                let delay_ms = delay.as_millis() as i64;
                let mut next = self.clone();
                next.status = JobStatus::Pending;
                next.outcome = None;
                next.attempt = attempt;
                next.run_at = now + delay_ms;
                next.started_at = None;
                next.finished_at = None;
                next.exit_code = finish.exit_code;
                next.signal = finish.signal;
                next.error = finish.error.clone();
                next.node_id = None;
                next.progress = None;
                next.last_seq += 1;
                let data = serde_json::json!({
                    "attempt": self.attempt,
                    "outcome": finish.outcome,
                    "exit_code": finish.exit_code,
                    "signal": finish.signal,
                    "error": finish.error,
                    "next_attempt": attempt,
                    "delay_ms": delay_ms,
                    "run_at": format_ms(next.run_at),
                });
                let retry_event =
                    JobEvent { job_id: self.id, seq: next.last_seq, body: EventBody::Retry(data.to_string()), at: now };
                next.last_seq += 1;
                Ok((next, Some(retry_event)))
            }
        }
    }

    /// This job as it ends for good with `finish` at `now`: final status, outcome, exit details, and the next
    /// sequence number for the state event that records it. Refused when the job cannot end that way (it ended
    /// already).
    pub fn ended(&self, finish: Finish, now: i64) -> Result<Job, IllegalMove> {
        self.status.check_move(finish.outcome.final_status())?;
        let mut done = self.clone();
        done.status = finish.outcome.final_status();
        done.outcome = Some(finish.outcome);
        done.exit_code = finish.exit_code;
        done.signal = finish.signal;
        done.error = finish.error;
        done.finished_at = Some(now);
        done.last_seq += 1;
        if done.function.is_some() {
            done.artifact_id = Some(super::ArtifactId::generate());
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing;

    fn job(status: JobStatus, retry: Option<RetryPolicy>) -> Job {
        let mut task = testing::task("true");
        task.spec.retry = retry;
        Job { status, ..Job::pending(&task, vec!["true".into()], 0, 0, None) }
    }

    fn failed() -> Finish {
        Finish { outcome: Outcome::ExitCode, exit_code: Some(1), signal: None, error: None }
    }

    #[test]
    fn a_finished_job_cannot_end_again() {
        for status in [JobStatus::Completed, JobStatus::Failed, JobStatus::Canceled] {
            let done = job(status, None);
            let err = done.ended(Finish::without_exit(Outcome::Canceled, "again"), 1).unwrap_err();
            assert_eq!(err, IllegalMove { from: status, to: JobStatus::Canceled });
            assert_eq!(done.after_attempt(failed(), 1, 0.0).unwrap_err().from, status);
        }
    }

    #[test]
    fn a_running_job_ends_or_goes_back_to_pending() {
        let (done, retry_event) = job(JobStatus::Running, None).after_attempt(failed(), 5, 0.0).unwrap();
        assert_eq!(
            (done.status, done.outcome, retry_event.is_some()),
            (JobStatus::Failed, Some(Outcome::ExitCode), false)
        );
        let retry = serde_json::from_value(serde_json::json!({ "max_attempts": 2 })).unwrap();
        let (again, retry_event) = job(JobStatus::Running, Some(retry)).after_attempt(failed(), 5, 0.0).unwrap();
        assert_eq!((again.status, again.attempt, retry_event.is_some()), (JobStatus::Pending, 2, true));
    }

    #[test]
    fn a_pending_job_is_not_retried_before_it_ran() {
        let retry = serde_json::from_value(serde_json::json!({ "max_attempts": 2 })).unwrap();
        let err = job(JobStatus::Pending, Some(retry)).after_attempt(failed(), 5, 0.0).unwrap_err();
        assert_eq!(err, IllegalMove { from: JobStatus::Pending, to: JobStatus::Pending });
        let canceled = job(JobStatus::Pending, None).ended(Finish::without_exit(Outcome::Canceled, "no"), 5).unwrap();
        assert_eq!(canceled.status, JobStatus::Canceled);
    }
}
