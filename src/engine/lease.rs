//! A running job's lease, as its runner holds it: renewed every third of its length off the runner's loop (so a
//! slow database cannot hold up the runner's own deadline), extended by every output flush (which writes it too),
//! and the runner's deadline: past it the job may be rescued elsewhere, so its processes must not go on.
use std::ops::ControlFlow;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::{Duration, Instant, MissedTickBehavior, interval, sleep_until};

use super::Inner;
use super::output::Sink;
use crate::domain::{Job, JobId};
use crate::store::{Renewal, Saved};

/// What the runner hears of its lease.
pub(super) enum LeaseNews {
    /// The lease was renewed; `cancel_requested`: someone asked (on any node) to cancel the job.
    Renewed { cancel_requested: bool },
    /// The job is no longer this runner's, or the lease ran out: its processes must be killed (they are, when the
    /// runner returns).
    Gone,
}

/// What the renewing task sends.
enum Renewed {
    /// Extended by a write that started at `at`.
    At { at: Instant, cancel_requested: bool },
    /// The job is no longer this runner's.
    Taken,
}

pub(super) struct Lease {
    job: JobId,
    length: Duration,
    ends: Instant,
    renewals: Renewer,
}

impl Lease {
    /// The lease of `job`, just claimed (or last written) now.
    pub(super) fn start(inner: &Arc<Inner>, job: &Job) -> Lease {
        let length = inner.config.lease;
        Lease { job: job.id, length, ends: Instant::now() + length, renewals: Renewer::start(inner, job) }
    }

    /// The next renewal, or the end of the lease.
    pub(super) async fn next(&mut self) -> LeaseNews {
        tokio::select! {
            renewed = self.renewals.rx.recv() => match renewed {
                Some(Renewed::At { at, cancel_requested }) => {
                    self.ends = self.ends.max(at + self.length);
                    LeaseNews::Renewed { cancel_requested }
                }
                Some(Renewed::Taken) | None => {
                    tracing::warn!(job = %self.job, "job was taken from this runner; killing its processes");
                    LeaseNews::Gone
                }
            },
            _ = sleep_until(self.ends) => {
                self.lost();
                LeaseNews::Gone
            }
        }
    }

    /// Flushes `sink` within the lease, which a successful flush extends. `Break` when the runner must stop: the
    /// job was taken from it, or the lease ran out before the write went through. A database error keeps the
    /// batch for the next try.
    pub(super) async fn flush(&mut self, sink: &mut Sink) -> ControlFlow<()> {
        let started = Instant::now();
        match tokio::time::timeout_at(self.ends, sink.flush()).await {
            Ok(Ok(Saved::Written)) => {
                self.ends = self.ends.max(started + self.length);
                ControlFlow::Continue(())
            }
            Ok(Ok(Saved::Stale)) => {
                tracing::warn!(job = %self.job, "job was taken from this runner; killing its processes");
                ControlFlow::Break(())
            }
            Ok(Err(err)) => {
                tracing::warn!(job = %self.job, error = %err, "cannot store output yet; will retry");
                ControlFlow::Continue(())
            }
            Err(_) => {
                self.lost();
                ControlFlow::Break(())
            }
        }
    }

    /// The runner could not renew its lease in time (the database is unreachable): someone may rescue the job.
    fn lost(&self) {
        tracing::error!(job = %self.job, "cannot renew the job's lease; killing its processes (it will be rescued)");
    }
}

/// The task that renews a lease. Stops when dropped.
struct Renewer {
    task: tokio::task::JoinHandle<()>,
    rx: mpsc::Receiver<Renewed>,
}

impl Renewer {
    fn start(inner: &Arc<Inner>, job: &Job) -> Renewer {
        let (tx, rx) = mpsc::channel(4);
        let (inner, id, attempt) = (inner.clone(), job.id, job.attempt);
        let every = inner.config.lease_tick();
        let task = tokio::spawn(async move {
            let mut tick = interval(every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tick.reset();
            loop {
                tick.tick().await;
                let started = Instant::now();
                let until = inner.now() + inner.config.lease_ms();
                let answer = match inner.store.jobs().renew_lease(id, &inner.node_id, attempt, until).await {
                    Ok(Renewal::Renewed { cancel_requested }) => Renewed::At { at: started, cancel_requested },
                    Ok(Renewal::Lost) => Renewed::Taken,
                    Err(err) => {
                        tracing::warn!(job = %id, error = %err, "cannot renew the job's lease; will retry");
                        continue;
                    }
                };
                let taken = matches!(answer, Renewed::Taken);
                if tx.send(answer).await.is_err() || taken {
                    return;
                }
            }
        });
        Renewer { task, rx }
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
