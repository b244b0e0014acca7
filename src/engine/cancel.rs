//! Canceling a job: a pending one at once; a running one by a stored request that its runner acts on, wherever
//! it runs (at once on this node, at once through the notice on another, at the latest with its next lease
//! renewal), and that whoever rescues the job honours.
use super::running::Reached;
use super::{Engine, EngineError, Inner, StopReason};
use crate::domain::job::Finish;
use crate::domain::{Job, JobStatus, Outcome};
use crate::store::{CancelRequest, Notice, Saved};
use crate::wire::state_event;

impl Engine {
    /// Cancels a pending job at once, or asks the runner of a running one to stop it (TERM, grace, KILL); the
    /// final state follows on the job's stream. Returns the job as it is now: canceled, or running with its stop
    /// requested. A job that moves between the read and the write (claimed, or handed back for another attempt)
    /// is read again: each round follows a move the job really made, never a timer.
    pub async fn cancel(&self, id: crate::domain::JobId) -> Result<Job, EngineError> {
        let inner = &self.inner;
        loop {
            // No claim of this node is between its commit and its runners' registration while this is held.
            let _settled = inner.queue.claims_settled().await;
            let job = inner.store.jobs().get(id).await?;
            let answered = match job.status {
                JobStatus::Pending => cancel_pending(inner, &job).await?,
                JobStatus::Running => ask_runner(inner, job).await?,
                finished => return Err(EngineError::JobFinished(finished)),
            };
            if let Some(job) = answered {
                return Ok(job);
            }
        }
    }
}

/// Ends a pending job as canceled; `None` when it is no longer as read.
async fn cancel_pending(inner: &Inner, job: &Job) -> Result<Option<Job>, EngineError> {
    let now = inner.now();
    let done = job.ended(Finish::without_exit(Outcome::Canceled, "canceled before it started"), now)?;
    let event = state_event(&done, now);
    let jobs = inner.store.jobs();
    if jobs.save(JobStatus::Pending, job.last_seq, &done, None, std::slice::from_ref(&event)).await? == Saved::Stale {
        return Ok(None);
    }
    inner.announce(&done, [event]);
    Ok(Some(done))
}

/// Stores the cancel request of a running job and tells its runner: directly when it runs here, else through the
/// notice (and its lease renewals). `None` when the job is no longer running.
async fn ask_runner(inner: &Inner, job: Job) -> Result<Option<Job>, EngineError> {
    if inner.store.jobs().request_cancel(job.id, inner.now()).await? == CancelRequest::NotRunning {
        return Ok(None);
    }
    if inner.running.stop(job.id, StopReason::Cancel) == Reached::NotHere && !inner.store.exclusive() {
        inner.store.notify(Notice::Cancel(job.id)).await?;
    }
    Ok(Some(job))
}
