//! In-memory fan-out of live job events to SSE subscribers.
//!
//! Each job with a runner or a subscriber has a channel here. The runner publishes every event as soon as it has a
//! sequence number, and the channel keeps the published events that are not yet in the database until the runner
//! reports them flushed. A subscriber gets those with its subscription (under the same lock as publishing), so
//! replaying the store, then that snapshot, then the live channel covers every event: nothing is lost and, after
//! de-duplication by sequence number, nothing is sent twice.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::domain::{JobEvent, JobId};

/// Events buffered per job for slow subscribers before they lag (and catch up from the store and snapshot).
const CHANNEL_CAPACITY: usize = 1024;

struct Channel {
    events: broadcast::Sender<Arc<JobEvent>>,
    /// Published, not yet stored; oldest first.
    unflushed: VecDeque<Arc<JobEvent>>,
}

/// A subscription to one job's live events, with the events published before it that the store may not hold yet.
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<JobEvent>>,
    pub unflushed: Vec<Arc<JobEvent>>,
}

#[derive(Default, Clone)]
pub struct Hub {
    channels: Arc<Mutex<HashMap<JobId, Channel>>>,
}

impl Hub {
    fn with_channel<T>(&self, job: JobId, f: impl FnOnce(&mut Channel) -> T) -> T {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let ch = map
            .entry(job)
            .or_insert_with(|| Channel { events: broadcast::channel(CHANNEL_CAPACITY).0, unflushed: VecDeque::new() });
        f(ch)
    }

    pub fn subscribe(&self, job: JobId) -> Subscription {
        self.with_channel(job, |ch| Subscription {
            events: ch.events.subscribe(),
            unflushed: ch.unflushed.iter().cloned().collect(),
        })
    }

    /// The events of `job` published but not yet stored.
    pub fn unflushed(&self, job: JobId) -> Vec<Arc<JobEvent>> {
        let map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&job).map(|ch| ch.unflushed.iter().cloned().collect()).unwrap_or_default()
    }

    /// Sends an event to the job's current subscribers (none is fine) and keeps it until it is flushed.
    pub fn publish(&self, event: JobEvent) {
        let event = Arc::new(event);
        self.with_channel(event.job_id, |ch| {
            ch.unflushed.push_back(event.clone());
            let _ = ch.events.send(event);
        });
    }

    /// Records that every event of `job` up to `seq` is in the database.
    pub fn flushed(&self, job: JobId, seq: i64) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = map.get_mut(&job) {
            while ch.unflushed.front().is_some_and(|e| e.seq <= seq) {
                ch.unflushed.pop_front();
            }
        }
    }

    /// Drops the job's channel once its final event is stored and published; subscribers keep what they hold.
    pub fn close(&self, job: JobId) {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).remove(&job);
    }

    /// Drops the job's channel if nobody listens and nothing waits to be stored (called when a subscriber leaves).
    pub fn release(&self, job: JobId) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&job).is_some_and(|ch| ch.events.receiver_count() == 0 && ch.unflushed.is_empty()) {
            map.remove(&job);
        }
    }
}
