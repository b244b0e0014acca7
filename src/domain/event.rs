//! The job event log: every state change and output line of a job, numbered from 1 without gaps.
use std::str::FromStr;

use super::JobId;
use super::job::UnknownVariant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A state change; data is the job record (JSON).
    State,
    Stdout,
    Stderr,
    /// A stream reached its bound; data says what was dropped (JSON). The kept tail of the stream follows it.
    Truncated,
    /// A `::progress` line; data is the progress (JSON).
    Progress,
    /// An attempt failed and another follows; data says why and when (JSON).
    Retry,
}

impl EventKind {
    pub const ALL: [EventKind; 6] =
        [Self::State, Self::Stdout, Self::Stderr, Self::Truncated, Self::Progress, Self::Retry];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::Truncated => "truncated",
            Self::Progress => "progress",
            Self::Retry => "retry",
        }
    }
}

impl FromStr for EventKind {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownVariant {
            kind: "event kind",
            value: s.to_string(),
            expected: Self::ALL.map(Self::as_str).join(", "),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    pub fn kind(self) -> EventKind {
        match self {
            Self::Stdout => EventKind::Stdout,
            Self::Stderr => EventKind::Stderr,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub job_id: JobId,
    pub seq: i64,
    pub kind: EventKind,
    pub data: String,
    /// Unix milliseconds.
    pub at: i64,
}

impl JobEvent {
    /// Whether this event ends the job's stream: a state event whose record is in a terminal status.
    pub fn is_terminal(&self) -> bool {
        self.kind == EventKind::State
            && serde_json::from_str::<serde_json::Value>(&self.data).is_ok_and(|v| {
                v.get("status")
                    .and_then(|s| s.as_str())
                    .and_then(|s| s.parse::<super::JobStatus>().ok())
                    .is_some_and(|s| s.is_terminal())
            })
    }
}
