//! Jobs: one run of a task, its state machine and its result.
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::progress::Progress;
use super::retry::{self, Next, RetryPolicy};
use super::{EventKind, JobEvent, JobId, TaskId, format_ms};

/// Where a job is in its life. `pending` → `running` → `completed` | `failed` | `canceled`; a pending job may also
/// be canceled directly, and a running one goes back to `pending` when its retry policy runs it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Canceled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [Self::Pending, Self::Running, Self::Completed, Self::Failed, Self::Canceled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled)
    }

    /// The one place that says which moves are legal.
    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Pending, Running | Canceled | Failed) | (Running, Pending | Completed | Failed | Canceled)
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}'; expected one of: {expected}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

fn parse_variant<T: Copy>(
    kind: &'static str,
    s: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, UnknownVariant> {
    all.iter().copied().find(|v| name(*v) == s).ok_or_else(|| UnknownVariant {
        kind,
        value: s.chars().take(64).collect(),
        expected: all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", "),
    })
}

impl FromStr for JobStatus {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_variant("status", s, &Self::ALL, Self::as_str)
    }
}

/// How a finished job ended, so that a non-zero exit, a kill, a spawn failure, a timeout and a lost runner can be
/// told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exited with code 0.
    Success,
    /// Exited with a non-zero code.
    ExitCode,
    /// Killed by a signal it did not get from us.
    Signal,
    /// The program could not be started.
    SpawnError,
    /// Ran past its `timeout_seconds` and was killed.
    Timeout,
    /// Canceled by a user.
    Canceled,
    /// Its runner died (crash, kill -9) while it ran.
    Lost,
    /// The server was stopped while it ran and it could not be handed back for another attempt.
    Interrupted,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Self::Success,
        Self::ExitCode,
        Self::Signal,
        Self::SpawnError,
        Self::Timeout,
        Self::Canceled,
        Self::Lost,
        Self::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ExitCode => "exit_code",
            Self::Signal => "signal",
            Self::SpawnError => "spawn_error",
            Self::Timeout => "timeout",
            Self::Canceled => "canceled",
            Self::Lost => "lost",
            Self::Interrupted => "interrupted",
        }
    }

    /// The status a job ends in with this outcome.
    pub fn final_status(self) -> JobStatus {
        match self {
            Self::Success => JobStatus::Completed,
            Self::Canceled => JobStatus::Canceled,
            _ => JobStatus::Failed,
        }
    }
}

impl FromStr for Outcome {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_variant("outcome", s, &Self::ALL, Self::as_str)
    }
}

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
}

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
        }
    }
}

impl Job {
    /// What follows an attempt that ended with `finish` at `now`: the job's next record, whose `last_seq` is the
    /// number of the state event that records it, and the `retry` event before that one when another attempt
    /// follows. Every way an attempt ends goes through here, so the retry policy is applied the same way to a
    /// finished process, a lost runner and an interrupted server. `jitter` is a random number in [0, 1) for the
    /// backoff.
    pub fn after_attempt(&self, finish: Finish, now: i64, jitter: f64) -> (Job, Option<JobEvent>) {
        match retry::next(self.retry.as_ref(), self.attempt, finish.outcome, finish.exit_code, jitter) {
            Next::End => (self.ended(finish, now), None),
            Next::Retry { attempt, delay } => {
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
                let retry_event = JobEvent {
                    job_id: self.id,
                    seq: next.last_seq,
                    kind: EventKind::Retry,
                    data: data.to_string(),
                    at: now,
                };
                next.last_seq += 1;
                (next, Some(retry_event))
            }
        }
    }

    /// This job as it ends for good with `finish` at `now`: final status, outcome, exit details, and the next
    /// sequence number for the state event that records it.
    pub fn ended(&self, finish: Finish, now: i64) -> Job {
        let mut done = self.clone();
        done.status = finish.outcome.final_status();
        done.outcome = Some(finish.outcome);
        done.exit_code = finish.exit_code;
        done.signal = finish.signal;
        done.error = finish.error;
        done.finished_at = Some(now);
        done.last_seq += 1;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::*;

    #[test]
    fn legal_transitions() {
        let legal = [
            (Pending, Running),
            (Pending, Canceled),
            (Pending, Failed),
            (Running, Pending),
            (Running, Completed),
            (Running, Failed),
            (Running, Canceled),
        ];
        for from in JobStatus::ALL {
            for to in JobStatus::ALL {
                assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{from} -> {to}");
            }
        }
        for s in JobStatus::ALL {
            assert_eq!(s.is_terminal(), !matches!(s, Pending | Running), "{s}");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        let err = "done".parse::<JobStatus>().unwrap_err();
        assert!(err.to_string().contains("pending, running, completed, failed, canceled"), "{err}");
    }
}
