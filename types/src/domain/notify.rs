//! Notifications: which events send a message (triggers), the rules that pick channels for them, and a delivery of
//! one message to one channel with its attempts.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Job, JobId, JobStatus, Outcome, TaskId};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    /// The job ended without success: a non-zero exit, a signal, a program that could not start, a server stopped
    /// while it ran.
    Failed,
    /// The job's runner died (crash, kill -9, lost node) while it ran.
    Lost,
    /// The job ran past its timeout and was killed.
    Timeout,
    /// The job exited with code 0.
    Completed,
    /// An attempt failed and another is queued (the retry policy allowed it).
    Retrying,
    /// A scheduled fire was not started within its grace period.
    Overdue,
}

impl NotifyOn {
    pub const ALL: [NotifyOn; 6] =
        [Self::Failed, Self::Lost, Self::Timeout, Self::Completed, Self::Retrying, Self::Overdue];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Lost => "lost",
            Self::Timeout => "timeout",
            Self::Completed => "completed",
            Self::Retrying => "retrying",
            Self::Overdue => "overdue",
        }
    }

    pub fn parse(text: &str) -> Option<NotifyOn> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// What a job write that moves a job from `before` to `after` is worth a notification for, if anything: its
    /// end (but a cancel, which someone asked for), or an attempt handed back for another try.
    pub fn of_move(before: JobStatus, after: &Job) -> Option<NotifyOn> {
        match (before, after.status) {
            (JobStatus::Running, JobStatus::Pending) => Some(NotifyOn::Retrying),
            (_, JobStatus::Completed | JobStatus::Failed) => match after.outcome? {
                Outcome::Success => Some(NotifyOn::Completed),
                Outcome::Timeout => Some(NotifyOn::Timeout),
                Outcome::Lost => Some(NotifyOn::Lost),
                Outcome::ExitCode
                | Outcome::Signal
                | Outcome::SpawnError
                | Outcome::Interrupted
                | Outcome::Error
                | Outcome::Panic => Some(NotifyOn::Failed),
                Outcome::Canceled => None,
            },
            _ => None,
        }
    }
}

/// On which triggers, to which channels (named in the server's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub on: Vec<NotifyOn>,
    pub channels: Vec<String>,
}

/// The channels that `rules` name for `trigger`, each once, in the order first named.
pub fn channels_for<'a>(rules: impl IntoIterator<Item = &'a Rule>, trigger: NotifyOn) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for rule in rules.into_iter().filter(|r| r.on.contains(&trigger)) {
        for channel in &rule.channels {
            if !out.contains(&channel.as_str()) {
                out.push(channel);
            }
        }
    }
    out
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: due at `next_attempt_at`.
    Pending,
    /// The channel accepted it.
    Delivered,
    /// Every allowed attempt failed; no more are made.
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [Self::Pending, Self::Delivered, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One try at delivering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started (Unix ms).
    pub at: i64,
    /// How long it took, in ms.
    pub took_ms: i64,
    /// Why it failed; `None`: delivered.
    pub error: Option<String>,
}

/// One message to one channel. Its id is the delivery id a receiver deduplicates on.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub job_id: Option<JobId>,
    pub task_id: TaskId,
    pub trigger: NotifyOn,
    pub channel: String,
    pub status: DeliveryStatus,
    /// What the message says besides its id and link: the job and the task, or the overdue fire.
    pub payload: serde_json::Value,
    pub attempts: i32,
    /// The newest attempts, oldest first (at most [`MAX_HISTORY`]).
    pub history: Vec<Attempt>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
}

/// Attempts kept per delivery; older ones are counted in `attempts` only.
pub const MAX_HISTORY: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::Finish;
    use crate::domain::testing;

    fn ended(outcome: Outcome) -> Job {
        let job = Job { status: JobStatus::Running, ..Job::pending(&testing::task("true"), vec![], 0, 0, None) };
        job.ended(Finish { outcome, exit_code: None, signal: None, error: None }, 1).unwrap()
    }

    #[test]
    fn each_end_has_its_trigger_and_a_cancel_has_none() {
        let cases = [
            (Outcome::Success, Some(NotifyOn::Completed)),
            (Outcome::ExitCode, Some(NotifyOn::Failed)),
            (Outcome::Signal, Some(NotifyOn::Failed)),
            (Outcome::SpawnError, Some(NotifyOn::Failed)),
            (Outcome::Interrupted, Some(NotifyOn::Failed)),
            (Outcome::Timeout, Some(NotifyOn::Timeout)),
            (Outcome::Lost, Some(NotifyOn::Lost)),
            (Outcome::Canceled, None),
        ];
        for (outcome, trigger) in cases {
            assert_eq!(NotifyOn::of_move(JobStatus::Running, &ended(outcome)), trigger, "{outcome:?}");
        }
        let requeued = Job { status: JobStatus::Pending, ..ended(Outcome::ExitCode) };
        assert_eq!(NotifyOn::of_move(JobStatus::Running, &requeued), Some(NotifyOn::Retrying));
        let started = Job { status: JobStatus::Running, ..requeued };
        assert_eq!(NotifyOn::of_move(JobStatus::Pending, &started), None);
    }

    #[test]
    fn rules_name_each_channel_once() {
        let rules = [
            Rule { on: vec![NotifyOn::Failed, NotifyOn::Lost], channels: vec!["ops".into(), "mail".into()] },
            Rule { on: vec![NotifyOn::Failed], channels: vec!["mail".into(), "chat".into()] },
        ];
        assert_eq!(channels_for(&rules, NotifyOn::Failed), ["ops", "mail", "chat"]);
        assert_eq!(channels_for(&rules, NotifyOn::Lost), ["ops", "mail"]);
        assert!(channels_for(&rules, NotifyOn::Completed).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for t in NotifyOn::ALL {
            assert_eq!(NotifyOn::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
    }
}
