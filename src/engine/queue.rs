//! The queue's side of the engine: the dispatcher that claims due jobs (up to the free runner slots) and starts a
//! runner for each, and what this process knows of when the next delayed job is due. The queue itself lives in the
//! database; this room is woken on submit, never by a fixed sleep (a slow poll is only a fallback).
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, RwLock, RwLockReadGuard};
use tracing::Instrument;

use super::{Inner, runner};
use crate::domain::Job;

/// How many jobs one claim statement takes at most.
const CLAIM_BATCH: usize = 32;
/// The dispatcher looks at the queue at least this often even without a wake-up.
const POLL_FALLBACK: Duration = Duration::from_secs(2);

pub(crate) struct Queue {
    wake: Notify,
    /// When the earliest delayed pending job is due, as far as this process knows (Unix ms); `i64::MAX`: none;
    /// a time already past: ask the store. Saves the dispatcher a query each time it goes idle.
    next_due: AtomicI64,
    /// Held (exclusively) by the dispatcher from a claim until the runners of what it claimed are registered, so
    /// that whoever holds it shared sees each job of this node either pending or with its runner registered.
    claiming: RwLock<()>,
}

impl Default for Queue {
    fn default() -> Self {
        Queue { wake: Notify::new(), next_due: AtomicI64::new(0), claiming: RwLock::new(()) }
    }
}

impl Queue {
    /// A pending job becomes due at `at` (`now` is the engine's clock): the dispatcher is woken, and remembers the
    /// time when it lies ahead.
    pub(crate) fn due(&self, at: i64, now: i64) {
        if at > now {
            self.next_due.fetch_min(at, Ordering::SeqCst);
        }
        self.wake.notify_one();
    }

    /// Another node queued a job, maybe a delayed one this process cannot know the time of: the dispatcher is
    /// woken and asks the store when it next goes idle.
    pub(crate) fn changed_elsewhere(&self) {
        self.next_due.store(0, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Waits for a claim under way to have registered its runners; while the guard lives, no claim starts.
    pub(crate) async fn claims_settled(&self) -> RwLockReadGuard<'_, ()> {
        self.claiming.read().await
    }
}

/// The dispatcher: waits for a free slot, claims as many due jobs as there are free slots, starts a runner for
/// each, and sleeps until woken (a submit, a rescue), until the next delayed job is due, or for the fallback poll
/// when the queue is empty. It stops when shutdown begins.
pub(super) async fn dispatch(inner: Arc<Inner>) {
    let mut stopping = inner.stopping.subscribe();
    loop {
        let first = tokio::select! {
            permit = inner.slots.clone().acquire_owned() => permit,
            _ = stopping.wait_for(|s| *s) => return,
        };
        let Ok(first) = first else { return };
        if *stopping.borrow() {
            return;
        }
        let mut permits = vec![first];
        while permits.len() < CLAIM_BATCH {
            match inner.slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let wanted = permits.len();
        let now = inner.now();
        let claiming = inner.queue.claiming.write().await;
        let wait = match inner
            .store
            .jobs()
            .claim(&inner.node_id, &inner.function_names, wanted, now, now + inner.config.lease_ms())
            .await
        {
            Ok(claimed) => {
                let got = claimed.len();
                for ((job, event), permit) in claimed.into_iter().zip(permits.drain(..)) {
                    let control = inner.running.register(job.id);
                    inner.hub.running(job.id);
                    inner.store.metrics().job_started(waited(&job));
                    inner.hub.publish(event);
                    let span = job_span(&job);
                    tokio::spawn(runner::run(inner.clone(), job, control, permit).instrument(span));
                }
                drop((permits, claiming));
                if got < wanted { Some(until_next_due(&inner).await) } else { None }
            }
            Err(err) => {
                drop((permits, claiming));
                tracing::warn!(error = %err, "cannot claim jobs; retrying");
                Some(Duration::from_secs(1))
            }
        };
        if let Some(wait) = wait {
            tokio::select! {
                _ = inner.queue.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    }
}

/// The span of one attempt: every line its runner logs carries the job, its task and the attempt.
fn job_span(job: &Job) -> tracing::Span {
    let trace_id = job.traceparent.as_ref().map(|t| t.trace_id());
    tracing::info_span!(
        target: super::JOB_SPAN_TARGET,
        "job",
        job = %job.id,
        task = %job.task_id,
        attempt = job.attempt,
        trace_id
    )
}

/// From when a claimed job was due to when it started (zero for a clock that stepped back).
fn waited(job: &Job) -> Duration {
    let ms = job.started_at.map_or(0, |started| started - job.run_at);
    Duration::from_millis(ms.max(0) as u64)
}

/// How long the dispatcher may sleep: until the earliest delayed job is due, at most the fallback poll. The store
/// is asked only when the known due time has passed (or is unknown).
async fn until_next_due(inner: &Inner) -> Duration {
    let now = inner.now();
    let next_due = &inner.queue.next_due;
    let known = next_due.load(Ordering::SeqCst);
    let due = if known > now {
        known
    } else {
        let due = match inner.store.jobs().next_due(&inner.function_names).await {
            Ok(due) => due.unwrap_or(i64::MAX),
            Err(_) => now,
        };
        // Keep an earlier time someone noted meanwhile.
        if next_due.compare_exchange(known, due, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            next_due.fetch_min(due, Ordering::SeqCst);
        }
        next_due.load(Ordering::SeqCst)
    };
    Duration::from_millis(due.saturating_sub(now).clamp(0, POLL_FALLBACK.as_millis() as i64) as u64)
}
