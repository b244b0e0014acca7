//! Cleaning up after the dead and the old: jobs whose runner vanished (at start-up and by lease expiry) go where
//! their retry policy says, and finished jobs past the retention limits are deleted in small batches.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Inner, jitter};
use crate::domain::job::Finish;
use crate::domain::{Job, JobId, JobStatus, Outcome};
use crate::store::Saved;
use crate::wire::state_event;

/// Jobs deleted per retention transaction: small, so the runners' writes never wait long.
const RETENTION_BATCH: u64 = 200;

/// At start-up: when this process alone can run the database's jobs (SQLite under its file lock), every
/// `running` job belongs to a process that is gone, so it is rescued at once and any of its processes still
/// alive are killed. Otherwise (PostgreSQL, other nodes alive) only jobs whose lease expired by the database's
/// clock are rescued, and of their processes on this machine only those of the attempt whose lease expired: a
/// job running elsewhere, or its next attempt, is none of this node's business.
pub(super) async fn rescue_at_start(inner: &Inner) -> anyhow::Result<()> {
    let (jobs, killed) = if inner.store.exclusive() {
        let jobs = inner.store.jobs().running().await?;
        let killed = kill_leftovers(&jobs.iter().map(|j| j.id).collect());
        (jobs, killed)
    } else {
        let jobs = inner.store.jobs().expired(inner.now(), inner.config.lease_ms()).await?;
        let killed = kill_attempts(&jobs);
        (jobs, killed)
    };
    if killed > 0 {
        tracing::warn!(killed, "killed processes of jobs left running by a previous process");
    }
    for job in jobs {
        rescue(inner, job, "runner lost: the server stopped while this job was running").await?;
    }
    Ok(())
}

/// Every third of a lease: rescues running jobs whose lease expired (their runner or its node is gone, or cannot
/// reach the database and has killed its processes).
pub(super) async fn reap(inner: Arc<Inner>) {
    let every = inner.config.lease_tick();
    let mut stopping = inner.stopping.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let expired = match inner.store.jobs().expired(inner.now(), inner.config.lease_ms()).await {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::warn!(error = %err, "cannot look for expired leases; will retry");
                continue;
            }
        };
        // A job whose runner in this process is still alive is not lost: its runner is storing its end (it
        // retries while the database refuses writes) or is about to give it up; its decision is the true one.
        let expired: Vec<Job> = expired.into_iter().filter(|job| !inner.running.runs(job.id)).collect();
        if !expired.is_empty() {
            kill_attempts(&expired);
        }
        for job in expired {
            if let Err(err) = rescue(&inner, job, "runner lost: its lease expired (the runner or its node died)").await
            {
                tracing::warn!(error = %err, "cannot rescue a job; will retry");
            }
        }
    }
}

/// Moves a job whose runner is gone on, as its retry policy says: back to `pending` for another attempt, or
/// `failed` with outcome `lost`. Conditional on the job being as read, so exactly one rescuer wins.
async fn rescue(inner: &Inner, job: Job, why: &str) -> crate::store::StoreResult<()> {
    let now = inner.now();
    // A cancel asked for while it ran is honoured, not retried.
    let finish = match job.cancel_requested_at {
        Some(_) => {
            Finish::without_exit(Outcome::Canceled, "canceled; its runner was lost before it could stop the job")
        }
        None => Finish::without_exit(Outcome::Lost, why),
    };
    let (next, retry) = match job.after_attempt(finish, now, jitter()) {
        Ok(moved) => moved,
        Err(illegal) => {
            tracing::error!(job = %job.id, error = %illegal, "cannot rescue the job");
            return Ok(());
        }
    };
    let events: Vec<_> = retry.into_iter().chain([state_event(&next, now)]).collect();
    if inner.store.jobs().save(JobStatus::Running, job.last_seq, &next, None, &events).await? == Saved::Stale {
        return Ok(());
    }
    inner.store.metrics().job_rescued();
    inner.announce(&next, events);
    if next.status.is_terminal() {
        tracing::warn!(job = %job.id, task = %job.task_id, attempt = job.attempt, "job lost: its runner is gone");
    } else {
        tracing::warn!(job = %job.id, task = %job.task_id, next_attempt = next.attempt, "job lost: retrying");
    }
    Ok(())
}

/// SIGKILLs every process (other than this one) whose environment marks it as belonging to one of `jobs`
/// (`TASKYARD_JOB_ID`, set on every job process and inherited by its children). Returns how many it killed.
pub(super) fn kill_leftovers(jobs: &HashSet<JobId>) -> usize {
    kill_marked(|id, _| jobs.contains(&id))
}

/// SIGKILLs the processes of the current attempt of each of `jobs` (by `TASKYARD_JOB_ID` and `TASKYARD_ATTEMPT`),
/// and no other: not those of a job's next attempt, which may already run on this machine.
fn kill_attempts(jobs: &[Job]) -> usize {
    if jobs.is_empty() {
        return 0;
    }
    let attempts: HashMap<JobId, i32> = jobs.iter().map(|j| (j.id, j.attempt)).collect();
    kill_marked(|id, attempt| attempt.is_some() && attempts.get(&id).copied() == attempt)
}

/// SIGKILLs every process (other than this one) whose `TASKYARD_JOB_ID` and `TASKYARD_ATTEMPT` (if it has one)
/// `doomed` picks. Returns how many it killed.
fn kill_marked(doomed: impl Fn(JobId, Option<i32>) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let me = std::process::id();
    let mut killed = 0;
    for pid in entries.filter_map(Result::ok).filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        let var = |name: &[u8]| -> Option<String> {
            environ
                .split(|b| *b == 0)
                .find_map(|v| v.strip_prefix(name))
                .and_then(|v| String::from_utf8(v.to_vec()).ok())
        };
        let Some(id) = var(b"TASKYARD_JOB_ID=").and_then(|id| id.parse::<JobId>().ok()) else { continue };
        let attempt = var(b"TASKYARD_ATTEMPT=").and_then(|a| a.parse::<i32>().ok());
        if doomed(id, attempt) && kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok() {
            killed += 1;
        }
    }
    killed
}

/// Deletes finished jobs (with their events) and audit log entries older than the retention age, then the oldest while the stored
/// output of finished jobs exceeds its cap; once at start-up and then periodically, in small batches.
pub(super) async fn retention(inner: Arc<Inner>) {
    if inner.config.retention_age.is_none() && inner.config.retention_max_output_bytes.is_none() {
        return;
    }
    let mut stopping = inner.stopping.subscribe();
    loop {
        match retain(&inner).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention: deleted finished jobs"),
            Err(err) => tracing::warn!(error = %err, "retention failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(inner.config.retention_every) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

impl super::Engine {
    /// Deletes finished jobs as retention does: their artifact files first (a job whose files could not be deleted
    /// stays), then the jobs with their events, output and artifact rows. Returns how many were deleted.
    pub async fn delete_finished(&self, ids: &[JobId]) -> crate::store::StoreResult<u64> {
        delete_jobs(&self.inner, ids).await
    }
}

/// Deletes finished jobs: their artifact files first (a job whose files could not be deleted stays, to be tried
/// again), then the jobs with their events and artifact rows.
async fn delete_jobs(inner: &Inner, batch: &[JobId]) -> crate::store::StoreResult<u64> {
    let mut deletable = Vec::with_capacity(batch.len());
    for &id in batch {
        let keys = inner.store.job_artifacts().keys_of(&[id]).await?;
        match inner.artifacts.delete(&keys).await {
            Ok(()) => deletable.push(id),
            Err(e) => tracing::warn!(job = %id, error = %e, "retention: cannot delete the job's artifact files yet"),
        }
    }
    inner.store.jobs().delete_finished(&deletable).await
}

async fn retain(inner: &Inner) -> crate::store::StoreResult<u64> {
    let jobs = inner.store.jobs();
    let mut deleted = 0;
    if let Some(age) = inner.config.retention_age {
        let before = inner.now() - age.as_millis() as i64;
        // The audit log and the notifications are kept as long as the jobs they speak of.
        let forgotten = inner.store.audit().forget(before).await?;
        if forgotten > 0 {
            tracing::info!(deleted = forgotten, "retention: deleted audit log entries");
        }
        let forgotten = inner.store.outbox().forget(before).await?;
        if forgotten > 0 {
            tracing::info!(deleted = forgotten, "retention: deleted delivered and dead notifications");
        }
        loop {
            let batch: Vec<JobId> =
                jobs.finished(Some(before), RETENTION_BATCH).await?.into_iter().map(|(id, _)| id).collect();
            if batch.is_empty() {
                break;
            }
            deleted += delete_jobs(inner, &batch).await?;
            tokio::task::yield_now().await;
        }
    }
    if let Some(cap) = inner.config.retention_max_output_bytes {
        let mut total = jobs.finished_output_bytes().await?;
        while total > cap as i64 {
            let mut batch = Vec::new();
            for (id, bytes) in jobs.finished(None, RETENTION_BATCH).await? {
                if total <= cap as i64 {
                    break;
                }
                total -= bytes;
                batch.push(id);
            }
            if batch.is_empty() {
                break;
            }
            deleted += delete_jobs(inner, &batch).await?;
            tokio::task::yield_now().await;
        }
    }
    Ok(deleted)
}
