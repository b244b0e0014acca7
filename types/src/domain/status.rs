//! Where a job is in its life and how it ended: the states, the one table of legal moves between them, and the
//! outcomes that tell a non-zero exit from a kill, a spawn failure, a timeout and a lost runner.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

    /// The move to `next`, if it is legal.
    pub fn check_move(self, next: JobStatus) -> Result<(), IllegalMove> {
        if self.can_become(next) { Ok(()) } else { Err(IllegalMove { from: self, to: next }) }
    }
}

/// A move the state machine refuses: the job is not in a state it can leave that way (it moved on meanwhile, or
/// the caller asked for something no job may do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} job cannot become {to}")]
pub struct IllegalMove {
    pub from: JobStatus,
    pub to: JobStatus,
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
    /// A registered function returned an error.
    Error,
    /// A registered function panicked.
    Panic,
}

impl Outcome {
    pub const ALL: [Outcome; 10] = [
        Self::Success,
        Self::ExitCode,
        Self::Signal,
        Self::SpawnError,
        Self::Timeout,
        Self::Canceled,
        Self::Lost,
        Self::Interrupted,
        Self::Error,
        Self::Panic,
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
            Self::Error => "error",
            Self::Panic => "panic",
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
