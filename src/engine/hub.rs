//! In-memory fan-out of live job events to SSE subscribers.
//!
//! Each job with a runner or a subscriber has a channel here. The runner publishes every event as soon as it has a
//! sequence number, and advances a `flushed` watermark once the event is in the database. A subscriber that sees a
//! gap in sequence numbers (it subscribed late, or lagged behind) reads the missing events from the store once the
//! watermark covers them, so nothing is lost and nothing is sent twice.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use crate::domain::{JobEvent, JobId};

/// Events buffered per job for slow subscribers before they lag (and catch up from the store).
const CHANNEL_CAPACITY: usize = 1024;

#[derive(Clone)]
struct Channel {
    events: broadcast::Sender<Arc<JobEvent>>,
    flushed: watch::Sender<i64>,
}

/// A subscription to one job's live events.
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<JobEvent>>,
    pub flushed: watch::Receiver<i64>,
}

#[derive(Default, Clone)]
pub struct Hub {
    channels: Arc<Mutex<HashMap<JobId, Channel>>>,
}

impl Hub {
    fn channel(&self, job: JobId) -> Channel {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(job)
            .or_insert_with(|| Channel { events: broadcast::channel(CHANNEL_CAPACITY).0, flushed: watch::channel(0).0 })
            .clone()
    }

    pub fn subscribe(&self, job: JobId) -> Subscription {
        let ch = self.channel(job);
        Subscription { events: ch.events.subscribe(), flushed: ch.flushed.subscribe() }
    }

    /// Sends an event to the job's current subscribers (none is fine).
    pub fn publish(&self, event: JobEvent) {
        let ch = self.channel(event.job_id);
        let _ = ch.events.send(Arc::new(event));
    }

    /// Records that every event of `job` up to `seq` is in the database.
    pub fn flushed(&self, job: JobId, seq: i64) {
        self.channel(job).flushed.send_replace(seq);
    }

    /// Drops the job's channel once its final event is stored and published; subscribers keep what they hold.
    pub fn close(&self, job: JobId) {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).remove(&job);
    }

    /// Drops the job's channel if nobody listens any more (called when a subscriber leaves).
    pub fn release(&self, job: JobId) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&job).is_some_and(|ch| ch.events.receiver_count() == 0) {
            map.remove(&job);
        }
    }

    /// How many jobs have a live channel (for tests and metrics).
    pub fn len(&self) -> usize {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
