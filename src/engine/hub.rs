//! In-memory fan-out of live job events to SSE subscribers.
//!
//! Every event is written to the database before it is published here, so a subscriber that subscribes first and
//! then replays the store has every event: the store holds all that was published before the replay, and the
//! channel everything after (duplicates are dropped by sequence number). A channel exists only while someone
//! listens; publishing to a job nobody follows costs a map lookup.
//!
//! Jobs running on another node (PostgreSQL) publish nothing here: their new events are announced by a
//! notification, which becomes a [`Live::Stored`] poke, and followers read the events from the store.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::domain::{JobEvent, JobId};

/// Events buffered per job for slow subscribers before they lag (and catch up from the store).
const CHANNEL_CAPACITY: usize = 1024;

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Live {
    /// An event, stored and published by this process.
    Event(Arc<JobEvent>),
    /// The store holds new events of the job, written elsewhere: read them from there.
    Stored,
}

type Channels = HashMap<JobId, broadcast::Sender<Live>>;

#[derive(Default, Clone)]
pub struct Hub {
    channels: Arc<Mutex<Channels>>,
}

impl Hub {
    fn map(&self) -> std::sync::MutexGuard<'_, Channels> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self, job: JobId) -> broadcast::Receiver<Live> {
        self.map().entry(job).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    /// Sends a stored event to the job's current subscribers (none is fine).
    pub fn publish(&self, event: JobEvent) {
        if let Some(ch) = self.map().get(&event.job_id) {
            let _ = ch.send(Live::Event(Arc::new(event)));
        }
    }

    /// Tells the job's subscribers (if any) that the store has news for them.
    pub fn poke(&self, job: JobId) {
        if let Some(ch) = self.map().get(&job) {
            let _ = ch.send(Live::Stored);
        }
    }

    /// Pokes every subscriber (after notifications may have been missed).
    pub fn poke_all(&self) {
        for ch in self.map().values() {
            let _ = ch.send(Live::Stored);
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
