//! In-memory fan-out of live job events to SSE subscribers.
//!
//! Every event is written to the database before it is published here, so a subscriber that subscribes first and
//! then replays the store has every event: the store holds all that was published before the replay, and the
//! channel everything after (duplicates are dropped by sequence number). A channel exists only while someone
//! listens; publishing to a job nobody follows costs a map lookup.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::domain::{JobEvent, JobId};

/// Events buffered per job for slow subscribers before they lag (and catch up from the store).
const CHANNEL_CAPACITY: usize = 1024;

#[derive(Default, Clone)]
pub struct Hub {
    channels: Arc<Mutex<HashMap<JobId, broadcast::Sender<Arc<JobEvent>>>>>,
}

impl Hub {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, broadcast::Sender<Arc<JobEvent>>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self, job: JobId) -> broadcast::Receiver<Arc<JobEvent>> {
        self.map().entry(job).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    /// Sends a stored event to the job's current subscribers (none is fine).
    pub fn publish(&self, event: JobEvent) {
        if let Some(ch) = self.map().get(&event.job_id) {
            let _ = ch.send(Arc::new(event));
        }
    }

    /// Drops the job's channel: its subscribers see the channel close and finish from the store.
    pub fn close(&self, job: JobId) {
        self.map().remove(&job);
    }

    /// Closes every channel (at shutdown): every stream ends after what the store holds.
    pub fn close_all(&self) {
        self.map().clear();
    }

    /// Drops the job's channel if nobody listens any more (called when a subscriber leaves).
    pub fn release(&self, job: JobId) {
        let mut map = self.map();
        if map.get(&job).is_some_and(|ch| ch.receiver_count() == 0) {
            map.remove(&job);
        }
    }
}
