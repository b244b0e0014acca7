//! The jobs this process runs: each runner's stop channel and process group, so that a cancel, a drain or a
//! second signal reaches it. Runners register when their job is claimed and leave as they end.
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::{Notify, watch};

use super::StopReason;
use crate::domain::JobId;

/// The handle on a running job: how to ask its runner to stop it, and its process group (0 until spawned).
#[derive(Clone)]
pub(crate) struct Control {
    pub(crate) stop: watch::Receiver<Option<StopReason>>,
    pub(crate) pgid: Arc<AtomicI32>,
}

struct Running {
    stop: watch::Sender<Option<StopReason>>,
    pgid: Arc<AtomicI32>,
}

/// Whether a stop reached a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reached {
    Runner,
    /// This process does not run the job.
    NotHere,
}

#[derive(Default)]
pub(crate) struct Registry {
    jobs: Mutex<HashMap<JobId, Running>>,
    /// Signalled whenever a runner ends.
    ended: Notify,
}

impl Registry {
    fn jobs(&self) -> MutexGuard<'_, HashMap<JobId, Running>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the runner of `job` and gives it its handle.
    pub(crate) fn register(&self, job: JobId) -> Control {
        let (stop, asked) = watch::channel(None);
        let pgid = Arc::new(AtomicI32::new(0));
        self.jobs().insert(job, Running { stop, pgid: pgid.clone() });
        Control { stop: asked, pgid }
    }

    /// Called by a runner as it ends.
    pub(crate) fn leave(&self, job: JobId) {
        self.jobs().remove(&job);
        self.ended.notify_waiters();
    }

    /// Whether this process runs `job` now.
    pub(crate) fn runs(&self, job: JobId) -> bool {
        self.jobs().contains_key(&job)
    }

    pub(crate) fn count(&self) -> usize {
        self.jobs().len()
    }

    /// Asks this process's runner of `job` to stop it.
    pub(crate) fn stop(&self, job: JobId, reason: StopReason) -> Reached {
        match self.jobs().get(&job) {
            Some(r) => {
                r.stop.send_replace(Some(reason));
                Reached::Runner
            }
            None => Reached::NotHere,
        }
    }

    /// Asks every runner to stop its job; returns how many were asked.
    pub(crate) fn stop_all(&self, reason: StopReason) -> usize {
        let jobs = self.jobs();
        for r in jobs.values() {
            r.stop.send_replace(Some(reason));
        }
        jobs.len()
    }

    /// SIGKILLs every running job's process group.
    pub(crate) fn kill_all(&self) {
        for r in self.jobs().values() {
            let pgid = r.pgid.load(Ordering::SeqCst);
            if pgid > 0 {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
        }
    }

    pub(crate) async fn all_ended(&self) {
        loop {
            let ended = self.ended.notified();
            if self.count() == 0 {
                return;
            }
            ended.await;
        }
    }
}
