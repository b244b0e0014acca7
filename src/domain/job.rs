//! Jobs: one run of a task, its state machine and its result.
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use utoipa::ToSchema;

use super::{JobId, TaskId, format_ms};

/// Where a job is in its life. `pending` → `running` → `completed` | `failed` | `canceled`; a pending job may also
/// be canceled directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
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
        matches!((self, next), (Pending, Running | Canceled | Failed) | (Running, Completed | Failed | Canceled))
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
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
}

impl Outcome {
    pub const ALL: [Outcome; 7] =
        [Self::Success, Self::ExitCode, Self::Signal, Self::SpawnError, Self::Timeout, Self::Canceled, Self::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ExitCode => "exit_code",
            Self::Signal => "signal",
            Self::SpawnError => "spawn_error",
            Self::Timeout => "timeout",
            Self::Canceled => "canceled",
            Self::Lost => "lost",
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// A job as the API shows it (and as `$stream` carries it in its unnamed events).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    /// Job id (ULID).
    pub id: String,
    pub task_id: String,
    pub status: JobStatus,
    /// How the job ended; null until it does.
    pub outcome: Option<Outcome>,
    /// Attempt number, from 1.
    pub attempt: i32,
    /// The argv that runs (after parameter substitution).
    pub argv: Vec<String>,
    #[schema(format = DateTime)]
    pub submitted_at: String,
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
    /// Why the job did not succeed, in words.
    pub error: Option<String>,
    /// Bytes and lines the process printed (all of them, stored or not).
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    pub stdout_lines: i64,
    pub stderr_lines: i64,
    /// Lines and bytes not stored because a stream reached the output bound.
    pub dropped_lines: i64,
    pub dropped_bytes: i64,
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
            argv: job.argv.clone(),
            submitted_at: format_ms(job.submitted_at),
            started_at: job.started_at.map(format_ms),
            finished_at: job.finished_at.map(format_ms),
            duration_ms: job.started_at.zip(job.finished_at).map(|(s, f)| (f - s).max(0)),
            exit_code: job.exit_code,
            signal: job.signal,
            error: job.error.clone(),
            stdout_bytes: t.stdout_bytes,
            stderr_bytes: t.stderr_bytes,
            stdout_lines: t.stdout_lines,
            stderr_lines: t.stderr_lines,
            dropped_lines: t.dropped_lines,
            dropped_bytes: t.dropped_bytes,
        }
    }
}

impl Job {
    /// This job as it ends with `finish` at `now`: final status, outcome, exit details, and the next sequence
    /// number for the state event that records it. Every way a job ends goes through here.
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

    /// The event that records this job's current state: its record as the API shows it, numbered `last_seq`.
    pub fn state_event(&self, at: i64) -> super::JobEvent {
        super::JobEvent {
            job_id: self.id,
            seq: self.last_seq,
            kind: super::EventKind::State,
            data: serde_json::to_string(&JobView::from(self)).unwrap_or_default(),
            at,
        }
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
