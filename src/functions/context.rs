//! What a running function job can reach besides its params: its job (id, attempt), a cancellation token that a
//! cancel, a timeout or a drain triggers, and its output: `log` lines become the job's stdout events, `warn` lines
//! its stderr events, `progress` its progress, exactly as a shell job's lines do.
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::{JobId, OutputStream};

/// One line a function said, on its way to the job's event log.
#[derive(Debug)]
pub(crate) struct Said {
    pub stream: OutputStream,
    pub text: String,
}

/// The job a function runs as. Cheap to clone; a function may hand it to tasks it spawns.
#[derive(Debug, Clone)]
pub struct JobContext {
    job_id: JobId,
    attempt: i32,
    cancel: CancellationToken,
    out: mpsc::UnboundedSender<Said>,
}

impl JobContext {
    pub(crate) fn new(
        job_id: JobId,
        attempt: i32,
        cancel: CancellationToken,
        out: mpsc::UnboundedSender<Said>,
    ) -> Self {
        JobContext { job_id, attempt, cancel, out }
    }

    pub fn job_id(&self) -> JobId {
        self.job_id
    }

    /// The attempt this call is, from 1 (a retry is a later attempt).
    pub fn attempt(&self) -> i32 {
        self.attempt
    }

    /// Cancelled when the job is canceled, times out or the server drains. A function that ignores it is
    /// ended all the same after the kill grace (an async function is dropped at its next await; a blocking one
    /// is left to finish, its result discarded).
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn is_canceled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// A line of the job's stdout (one event per line of `text`).
    pub fn log(&self, text: impl AsRef<str>) {
        self.say(OutputStream::Stdout, text.as_ref());
    }

    /// A line of the job's stderr.
    pub fn warn(&self, text: impl AsRef<str>) {
        self.say(OutputStream::Stderr, text.as_ref());
    }

    /// Reports how far the job is, 0 to 100 (as a shell job's `::progress 42` line does).
    pub fn progress(&self, percent: f64) {
        self.say(OutputStream::Stdout, &format!("::progress {percent}"));
    }

    /// Reports `done` of `total` (as `::progress 3/10`).
    pub fn progress_of(&self, done: u64, total: u64) {
        self.say(OutputStream::Stdout, &format!("::progress {done}/{total}"));
    }

    fn say(&self, stream: OutputStream, text: &str) {
        for line in text.lines() {
            // The job has ended (its runner stopped listening): what it says now goes nowhere, as a process's
            // output after its end does.
            let _ = self.out.send(Said { stream, text: line.to_string() });
        }
    }
}
