//! In-memory fan-out of live job events to SSE subscribers, and a window of each followed running job's recent
//! events, so that a follower who connects to a running job needs no database connection.
//!
//! Every event is written to the database before it is published here, so a subscriber that subscribes first and
//! then replays the store has every event: the store holds all that was published before the replay, and the
//! channel everything after (duplicates are dropped by sequence number). A channel exists only while someone
//! listens; publishing to a job nobody follows costs a map lookup.
//!
//! Every event of a job that this process runs passes through [`Hub::publish`], in order. While such a job is
//! followed, the hub keeps its newest events (a window, bounded in events and bytes, filled once from the store
//! with the job's history): a follower whose `Last-Event-ID` the window covers replays from memory, as surely as
//! from the store, since the window holds every event from its first to the newest published. Followers of other
//! jobs, or from before the window, replay from the store.
//!
//! Jobs running on another node (PostgreSQL) publish nothing here: their new events are announced by a
//! notification, which becomes a [`Live::Stored`] poke, and followers read the events from the store.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::domain::{JobEvent, JobId};

/// Events buffered per job for slow subscribers before they lag (and catch up from the store).
const CHANNEL_CAPACITY: usize = 1024;
/// A window holds at most this many events, and this many bytes of them; older ones are dropped.
pub const WINDOW_EVENTS: usize = 2048;
const WINDOW_BYTES: usize = 1 << 20;
/// All windows together hold at most this many bytes.
const WINDOWS_BYTES: usize = 64 << 20;

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Live {
    /// An event, stored and published by this process.
    Event(Arc<JobEvent>),
    /// The store holds new events of the job, written elsewhere: read them from there.
    Stored,
}

/// What the window knows after a given sequence number.
pub enum Recent {
    /// Every event after it, up to the newest published.
    Events(Vec<Arc<JobEvent>>),
    /// Not yet, but it will once filled from the store: whoever holds this lock first fills it for all.
    Fill(Arc<tokio::sync::Mutex<()>>),
    /// Nothing: the job does not run here, is not followed, or the events are older than the window.
    Unknown,
}

#[derive(Default)]
struct State {
    channels: HashMap<JobId, broadcast::Sender<Live>>,
    /// The jobs this process runs now.
    running: HashSet<JobId>,
    windows: HashMap<JobId, Window>,
    /// Bytes held by all windows.
    window_bytes: usize,
}

/// Consecutive events of one job, up to the newest published.
#[derive(Default)]
struct Window {
    events: VecDeque<Arc<JobEvent>>,
    bytes: usize,
    /// Events were dropped from the front (or never could be filled in): it will never start at seq 1 again.
    trimmed: bool,
    fill: Arc<tokio::sync::Mutex<()>>,
}

fn size_of(event: &JobEvent) -> usize {
    event.data().len() + std::mem::size_of::<JobEvent>() + 16
}

impl Window {
    fn covers(&self, after: i64) -> bool {
        self.events.front().is_some_and(|first| first.seq <= after + 1)
    }

    /// Appends the next event; one that is already here is skipped, one after a gap starts the window anew.
    fn push(&mut self, event: Arc<JobEvent>, total: &mut usize) {
        match self.events.back().map(|last| last.seq) {
            Some(last) if event.seq <= last => return,
            Some(last) if event.seq > last + 1 => {
                self.clear(total);
                self.trimmed = true;
            }
            _ => {}
        }
        let size = size_of(&event);
        self.bytes += size;
        *total += size;
        self.events.push_back(event);
        self.bound(total);
    }

    /// Drops the oldest events while this window or all of them hold too much.
    fn bound(&mut self, total: &mut usize) {
        while self.events.len() > 1
            && (self.events.len() > WINDOW_EVENTS || self.bytes > WINDOW_BYTES || *total > WINDOWS_BYTES)
        {
            let Some(gone) = self.events.pop_front() else { break };
            let size = size_of(&gone);
            self.bytes -= size;
            *total -= size;
            self.trimmed = true;
        }
    }

    fn clear(&mut self, total: &mut usize) {
        *total -= self.bytes;
        self.bytes = 0;
        self.events.clear();
    }
}

#[derive(Default, Clone)]
pub struct Hub {
    state: Arc<Mutex<State>>,
}

impl Hub {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to the job's live events; for a job this process runs, the window starts here too.
    pub fn subscribe(&self, job: JobId) -> broadcast::Receiver<Live> {
        let mut state = self.state();
        if state.running.contains(&job) {
            state.windows.entry(job).or_default();
        }
        state.channels.entry(job).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    /// Sends a stored event to the job's current subscribers (none is fine), and keeps it in the job's window.
    pub fn publish(&self, event: JobEvent) {
        let mut state = self.state();
        let State { channels, windows, window_bytes, .. } = &mut *state;
        let (channel, window) = (channels.get(&event.job_id), windows.get_mut(&event.job_id));
        if channel.is_none() && window.is_none() {
            return;
        }
        let event = Arc::new(event);
        if let Some(window) = window {
            window.push(event.clone(), window_bytes);
        }
        if let Some(ch) = channel {
            let _ = ch.send(Live::Event(event));
        }
    }

    /// Tells the job's subscribers (if any) that the store has news for them.
    pub fn poke(&self, job: JobId) {
        if let Some(ch) = self.state().channels.get(&job) {
            let _ = ch.send(Live::Stored);
        }
    }

    /// Pokes every subscriber (after notifications may have been missed).
    pub fn poke_all(&self) {
        for ch in self.state().channels.values() {
            let _ = ch.send(Live::Stored);
        }
    }

    /// This process claimed `job`: every event of it passes `publish` until [`Hub::not_running`].
    pub fn running(&self, job: JobId) {
        self.state().running.insert(job);
    }

    /// This process no longer runs `job` (its attempt ended): others may write its next events.
    pub fn not_running(&self, job: JobId) {
        let mut state = self.state();
        state.running.remove(&job);
        state.drop_window(job);
    }

    /// Whether this process runs `job` now, so that it exists and has not finished.
    pub fn is_running(&self, job: JobId) -> bool {
        self.state().running.contains(&job)
    }

    /// The events of `job` after `after`, if its window has them all.
    pub fn recent(&self, job: JobId, after: i64) -> Recent {
        let state = self.state();
        let Some(window) = state.windows.get(&job) else { return Recent::Unknown };
        if window.covers(after) {
            Recent::Events(window.events.iter().filter(|e| e.seq > after).cloned().collect())
        } else if window.trimmed {
            Recent::Unknown
        } else {
            Recent::Fill(window.fill.clone())
        }
    }

    /// Puts the job's history, read from the store from seq 1 on, in front of its window. A history that does not
    /// join the window, or does not fit, leaves the window for later events only.
    pub fn fill(&self, job: JobId, stored: Vec<JobEvent>) {
        let mut state = self.state();
        let State { windows, window_bytes, .. } = &mut *state;
        let Some(window) = windows.get_mut(&job) else { return };
        if window.covers(0) || window.trimmed {
            return;
        }
        let first = window.events.front().map(|e| e.seq);
        let older: Vec<JobEvent> = stored.into_iter().filter(|e| first.is_none_or(|f| e.seq < f)).collect();
        let joins = older.first().is_some_and(|e| e.seq == 1)
            && older.windows(2).all(|w| w[1].seq == w[0].seq + 1)
            && first.is_none_or(|f| older.last().is_some_and(|e| e.seq + 1 == f));
        if !joins {
            window.trimmed = true;
            return;
        }
        for event in older.into_iter().rev() {
            let size = size_of(&event);
            window.bytes += size;
            *window_bytes += size;
            window.events.push_front(Arc::new(event));
        }
        window.bound(window_bytes);
    }

    /// Drops the job's channel: its subscribers see the channel close and finish from the store.
    pub fn close(&self, job: JobId) {
        let mut state = self.state();
        state.channels.remove(&job);
        state.drop_window(job);
    }

    /// Closes every channel (at shutdown): every stream ends after what the store holds.
    pub fn close_all(&self) {
        let mut state = self.state();
        state.channels.clear();
        state.windows.clear();
        state.window_bytes = 0;
    }

    /// Drops the job's channel (and window) if nobody listens any more (called when a subscriber leaves).
    pub fn release(&self, job: JobId) {
        let mut state = self.state();
        if state.channels.get(&job).is_some_and(|ch| ch.receiver_count() == 0) {
            state.channels.remove(&job);
            state.drop_window(job);
        }
    }
}

impl State {
    fn drop_window(&mut self, job: JobId) {
        if let Some(window) = self.windows.remove(&job) {
            self.window_bytes -= window.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventBody;

    fn event(job_id: JobId, seq: i64) -> JobEvent {
        JobEvent { job_id, seq, body: EventBody::Stdout(format!("line {seq}")), at: 0 }
    }

    fn seqs(recent: Recent) -> Option<Vec<i64>> {
        match recent {
            Recent::Events(events) => Some(events.iter().map(|e| e.seq).collect()),
            _ => None,
        }
    }

    #[test]
    fn a_followed_running_job_is_replayed_from_its_window_once_filled() {
        let (hub, job) = (Hub::default(), JobId::generate());
        hub.running(job);
        let _sub = hub.subscribe(job);
        hub.publish(event(job, 3));
        hub.publish(event(job, 3));
        hub.publish(event(job, 4));
        assert_eq!(seqs(hub.recent(job, 2)), Some(vec![3, 4]), "covered from 3 on, duplicates dropped");
        assert!(matches!(hub.recent(job, 0), Recent::Fill(_)), "seq 1 and 2 are in the store only");
        // The store read may see events not yet published: those come with their publication.
        hub.fill(job, (1..=5).map(|s| event(job, s)).collect());
        assert_eq!(seqs(hub.recent(job, 0)), Some(vec![1, 2, 3, 4]));
        hub.publish(event(job, 5));
        hub.publish(event(job, 6));
        assert_eq!(seqs(hub.recent(job, 4)), Some(vec![5, 6]));
        hub.not_running(job);
        assert!(matches!(hub.recent(job, 4), Recent::Unknown), "another node may write its next events");
    }

    #[test]
    fn a_window_is_bounded_and_then_never_claims_the_start() {
        let (hub, job) = (Hub::default(), JobId::generate());
        hub.running(job);
        let _sub = hub.subscribe(job);
        hub.fill(job, vec![event(job, 1)]);
        for seq in 2..=(WINDOW_EVENTS as i64 + 10) {
            hub.publish(event(job, seq));
        }
        let newest = WINDOW_EVENTS as i64 + 10;
        assert!(matches!(hub.recent(job, 0), Recent::Unknown), "the start was dropped: ask the store");
        assert_eq!(seqs(hub.recent(job, newest - 2)), Some(vec![newest - 1, newest]));
        assert_eq!(hub.state().windows[&job].events.len(), WINDOW_EVENTS);
    }

    #[test]
    fn no_window_for_jobs_not_run_here_or_not_followed() {
        let (hub, job) = (Hub::default(), JobId::generate());
        let _sub = hub.subscribe(job);
        hub.publish(event(job, 1));
        assert!(matches!(hub.recent(job, 0), Recent::Unknown));
        let other = JobId::generate();
        hub.running(other);
        hub.publish(event(other, 1));
        assert!(matches!(hub.recent(other, 0), Recent::Unknown));
        assert_eq!(hub.state().window_bytes, 0);
    }
}
