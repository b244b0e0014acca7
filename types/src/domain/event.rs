//! The job event log: every state change and output line of a job, numbered from 1 without gaps.
use std::str::FromStr;

use super::JobId;
use super::status::{JobStatus, UnknownVariant};

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
    pub body: EventBody,
    /// Unix milliseconds.
    pub at: i64,
}

/// What an event says; its kind is its variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBody {
    State(StateRecord),
    Stdout(String),
    Stderr(String),
    /// What was dropped (JSON).
    Truncated(String),
    /// The progress (JSON).
    Progress(String),
    /// Why another attempt follows, and when (JSON).
    Retry(String),
}

/// A state event's payload: the status it records, and the job's record (JSON) as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub status: JobStatus,
    pub record: String,
}

/// The part of a stored job record that a state event is read for.
#[derive(serde::Deserialize)]
struct RecordStatus {
    status: String,
}

impl EventBody {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::State(_) => EventKind::State,
            Self::Stdout(_) => EventKind::Stdout,
            Self::Stderr(_) => EventKind::Stderr,
            Self::Truncated(_) => EventKind::Truncated,
            Self::Progress(_) => EventKind::Progress,
            Self::Retry(_) => EventKind::Retry,
        }
    }

    /// The event's data as it is stored and sent.
    pub fn data(&self) -> &str {
        match self {
            Self::State(state) => &state.record,
            Self::Stdout(text)
            | Self::Stderr(text)
            | Self::Truncated(text)
            | Self::Progress(text)
            | Self::Retry(text) => text,
        }
    }

    pub fn into_data(self) -> String {
        match self {
            Self::State(state) => state.record,
            Self::Stdout(text)
            | Self::Stderr(text)
            | Self::Truncated(text)
            | Self::Progress(text)
            | Self::Retry(text) => text,
        }
    }

    /// An event of `kind` with `data`, as stored. A state event's status is read from its record here, once.
    pub fn parse(kind: EventKind, data: String) -> Result<EventBody, String> {
        Ok(match kind {
            EventKind::State => {
                let status = serde_json::from_str::<RecordStatus>(&data).map_err(|e| e.to_string())?.status;
                EventBody::State(StateRecord {
                    status: status.parse().map_err(|e: UnknownVariant| e.to_string())?,
                    record: data,
                })
            }
            EventKind::Stdout => EventBody::Stdout(data),
            EventKind::Stderr => EventBody::Stderr(data),
            EventKind::Truncated => EventBody::Truncated(data),
            EventKind::Progress => EventBody::Progress(data),
            EventKind::Retry => EventBody::Retry(data),
        })
    }
}

impl OutputStream {
    /// A line of this stream as an event body.
    pub fn line(self, text: String) -> EventBody {
        match self {
            Self::Stdout => EventBody::Stdout(text),
            Self::Stderr => EventBody::Stderr(text),
        }
    }
}

impl JobEvent {
    pub fn kind(&self) -> EventKind {
        self.body.kind()
    }

    pub fn data(&self) -> &str {
        self.body.data()
    }

    /// Whether this event ends the job's stream: a state event that records a terminal status.
    pub fn is_terminal(&self) -> bool {
        matches!(&self.body, EventBody::State(state) if state.status.is_terminal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_state_event_is_read_with_its_status() {
        let record = r#"{"id":"x","status":"canceled"}"#.to_string();
        let body = EventBody::parse(EventKind::State, record.clone()).unwrap();
        assert_eq!(body, EventBody::State(StateRecord { status: JobStatus::Canceled, record }));
        assert_eq!(body.kind(), EventKind::State);
        assert!(EventBody::parse(EventKind::State, "{}".into()).is_err(), "a record without a status is corrupt");
        assert!(EventBody::parse(EventKind::State, r#"{"status":"done"}"#.into()).is_err());
        let line = EventBody::parse(EventKind::Stderr, "{\"status\":\"failed\"}".into()).unwrap();
        assert_eq!(line.kind(), EventKind::Stderr, "only state events carry a status");
    }
}
