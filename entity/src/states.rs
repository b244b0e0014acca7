//! The stored forms of job statuses, outcomes, event kinds and output streams, paired with the domain's. The
//! columns are enums of this crate (so a row cannot hold one that does not exist); these matches pair each with the
//! domain's, and the compiler checks that every variant has its partner.
use taskyard_types::domain::{DropReason, EventKind, JobStatus, Outcome, OutputStream, Trigger};

use crate::{job, job_artifact, job_event, job_output};

impl From<JobStatus> for job::Status {
    fn from(status: JobStatus) -> Self {
        match status {
            JobStatus::Pending => Self::Pending,
            JobStatus::Running => Self::Running,
            JobStatus::Completed => Self::Completed,
            JobStatus::Failed => Self::Failed,
            JobStatus::Canceled => Self::Canceled,
        }
    }
}

impl From<job::Status> for JobStatus {
    fn from(status: job::Status) -> Self {
        match status {
            job::Status::Pending => Self::Pending,
            job::Status::Running => Self::Running,
            job::Status::Completed => Self::Completed,
            job::Status::Failed => Self::Failed,
            job::Status::Canceled => Self::Canceled,
        }
    }
}

impl From<Outcome> for job::Outcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => Self::Success,
            Outcome::ExitCode => Self::ExitCode,
            Outcome::Signal => Self::Signal,
            Outcome::SpawnError => Self::SpawnError,
            Outcome::Timeout => Self::Timeout,
            Outcome::Canceled => Self::Canceled,
            Outcome::Lost => Self::Lost,
            Outcome::Interrupted => Self::Interrupted,
            Outcome::Error => Self::Error,
            Outcome::Panic => Self::Panic,
        }
    }
}

impl From<job::Outcome> for Outcome {
    fn from(outcome: job::Outcome) -> Self {
        match outcome {
            job::Outcome::Success => Self::Success,
            job::Outcome::ExitCode => Self::ExitCode,
            job::Outcome::Signal => Self::Signal,
            job::Outcome::SpawnError => Self::SpawnError,
            job::Outcome::Timeout => Self::Timeout,
            job::Outcome::Canceled => Self::Canceled,
            job::Outcome::Lost => Self::Lost,
            job::Outcome::Interrupted => Self::Interrupted,
            job::Outcome::Error => Self::Error,
            job::Outcome::Panic => Self::Panic,
        }
    }
}

impl From<EventKind> for job_event::Kind {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::State => Self::State,
            EventKind::Stdout => Self::Stdout,
            EventKind::Stderr => Self::Stderr,
            EventKind::Truncated => Self::Truncated,
            EventKind::Progress => Self::Progress,
            EventKind::Retry => Self::Retry,
        }
    }
}

impl From<job_event::Kind> for EventKind {
    fn from(kind: job_event::Kind) -> Self {
        match kind {
            job_event::Kind::State => Self::State,
            job_event::Kind::Stdout => Self::Stdout,
            job_event::Kind::Stderr => Self::Stderr,
            job_event::Kind::Truncated => Self::Truncated,
            job_event::Kind::Progress => Self::Progress,
            job_event::Kind::Retry => Self::Retry,
        }
    }
}

impl From<OutputStream> for job_output::Stream {
    fn from(stream: OutputStream) -> Self {
        match stream {
            OutputStream::Stdout => Self::Stdout,
            OutputStream::Stderr => Self::Stderr,
        }
    }
}

impl From<job_output::Stream> for OutputStream {
    fn from(stream: job_output::Stream) -> Self {
        match stream {
            job_output::Stream::Stdout => Self::Stdout,
            job_output::Stream::Stderr => Self::Stderr,
        }
    }
}

impl From<Trigger> for job::Trigger {
    fn from(trigger: Trigger) -> Self {
        match trigger {
            Trigger::Api => Self::Api,
            Trigger::Schedule => Self::Schedule,
            Trigger::Retry => Self::Retry,
        }
    }
}

impl From<DropReason> for job_artifact::Dropped {
    fn from(reason: DropReason) -> Self {
        match reason {
            DropReason::TooManyFiles => Self::TooManyFiles,
            DropReason::TooLarge => Self::TooLarge,
            DropReason::NotARegularFile => Self::NotARegularFile,
            DropReason::BadName => Self::BadName,
            DropReason::TooDeep => Self::TooDeep,
            DropReason::TooManyEntries => Self::TooManyEntries,
            DropReason::StoreFailed => Self::StoreFailed,
        }
    }
}

impl From<job::Trigger> for Trigger {
    fn from(trigger: job::Trigger) -> Self {
        match trigger {
            job::Trigger::Api => Self::Api,
            job::Trigger::Schedule => Self::Schedule,
            job::Trigger::Retry => Self::Retry,
        }
    }
}

impl From<job_artifact::Dropped> for DropReason {
    fn from(reason: job_artifact::Dropped) -> Self {
        match reason {
            job_artifact::Dropped::TooManyFiles => Self::TooManyFiles,
            job_artifact::Dropped::TooLarge => Self::TooLarge,
            job_artifact::Dropped::NotARegularFile => Self::NotARegularFile,
            job_artifact::Dropped::BadName => Self::BadName,
            job_artifact::Dropped::TooDeep => Self::TooDeep,
            job_artifact::Dropped::TooManyEntries => Self::TooManyEntries,
            job_artifact::Dropped::StoreFailed => Self::StoreFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    /// The stored strings are the domain's names: rows written before these enums read back the same.
    #[test]
    fn stored_names_are_the_domain_names() {
        for s in JobStatus::ALL {
            assert_eq!(job::Status::from(s).to_value(), s.as_str());
            assert_eq!(JobStatus::from(job::Status::from(s)), s);
        }
        for o in Outcome::ALL {
            assert_eq!(job::Outcome::from(o).to_value(), o.as_str());
            assert_eq!(Outcome::from(job::Outcome::from(o)), o);
        }
        for k in EventKind::ALL {
            assert_eq!(job_event::Kind::from(k).to_value(), k.as_str());
            assert_eq!(EventKind::from(job_event::Kind::from(k)), k);
        }
        for s in [OutputStream::Stdout, OutputStream::Stderr] {
            assert_eq!(job_output::Stream::from(s).to_value(), s.as_str());
            assert_eq!(OutputStream::from(job_output::Stream::from(s)), s);
        }
    }
}
