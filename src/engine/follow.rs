//! Following a job: replay its stored events after a given sequence number, then its live ones, with no gap and
//! no duplicate, until its final record.
//!
//! The order matters: subscribe to the hub first, then replay from the store, then forward live events, dropping
//! any already sent. Events are stored before they are published, so the store holds everything published before
//! the replay and the subscription everything after: no gap. A live event that skips ahead (the subscriber
//! lagged) is preceded by the missing events, read from the store.
//!
//! A job this process runs replays from the hub's window instead, when the window covers the follower's
//! `Last-Event-ID`: it holds every event from its first up to the newest published, so the same argument holds,
//! and a crowd of followers connecting to a running job costs one store read (the window's fill), not one each.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use super::Engine;
use super::hub::{Live, Recent, WINDOW_EVENTS};
use crate::domain::{JobEvent, JobId};
use crate::store::StoreError;

/// What opening a follow gives: a stream of what is left, or nothing, because the job is finished and the client
/// already holds its final record.
#[derive(Debug)]
pub enum Opened {
    Stream(mpsc::Receiver<Followed>),
    Finished,
}

/// What a follower yields: an event, or a sign that nothing happened for a while (for keep-alives).
#[derive(Debug, Clone)]
pub enum Followed {
    Event(Arc<JobEvent>),
    Idle,
}

const REPLAY_PAGE: u64 = 1000;

/// Where a replay found the events it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The hub's window of a job this process runs.
    Window,
    Store,
}

/// Opens a follow of `job` after `after_seq`: [`Opened::Finished`] when the job has finished and `after_seq` is
/// at or past its final record, else a stream of the events after `after_seq`. `StoreError::NotFound` for an
/// unknown job.
pub async fn open(engine: &Engine, job: JobId, after_seq: i64, idle_every: Duration) -> Result<Opened, StoreError> {
    // A job this process runs exists and has not finished: no need to ask the store.
    if !engine.hub().is_running(job) {
        let record = engine.store().jobs().get(job).await?;
        if record.status.is_terminal() && after_seq >= record.last_seq {
            return Ok(Opened::Finished);
        }
    }
    Ok(Opened::Stream(follow(engine, job, after_seq, idle_every)))
}

/// Starts following `job` after `after_seq`. The receiver ends after the final record, or early on a store
/// error. Dropping the receiver stops the follower.
fn follow(engine: &Engine, job: JobId, after_seq: i64, idle_every: Duration) -> mpsc::Receiver<Followed> {
    let (tx, rx) = mpsc::channel(64);
    let engine = engine.clone();
    let sub = engine.hub().subscribe(job);
    tokio::spawn(async move {
        let mut follower = Follower { engine: engine.clone(), job, last: after_seq, tx };
        if let Err(err) = follower.run(sub, idle_every).await {
            tracing::warn!(job = %job, error = %err, "stream ended early");
        }
        engine.hub().release(job);
    });
    rx
}

struct Follower {
    engine: Engine,
    job: JobId,
    last: i64,
    tx: mpsc::Sender<Followed>,
}

/// Why following stopped.
enum Ended {
    Done,
    Store(StoreError),
}

impl From<StoreError> for Ended {
    fn from(e: StoreError) -> Self {
        Ended::Store(e)
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Done => f.write_str("done"),
            Ended::Store(e) => e.fmt(f),
        }
    }
}

impl Follower {
    async fn run(&mut self, mut sub: broadcast::Receiver<Live>, idle_every: Duration) -> Result<(), Ended> {
        match self.follow(&mut sub, idle_every).await {
            Ok(()) | Err(Ended::Done) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn follow(&mut self, sub: &mut broadcast::Receiver<Live>, idle_every: Duration) -> Result<(), Ended> {
        // Resumed at or past the final record of a finished job: nothing more will come. (A job whose window
        // answered runs here: its final record is yet to be published.)
        if self.replay().await? == Source::Store {
            let job = self.engine.store().jobs().get(self.job).await?;
            if job.status.is_terminal() && self.last >= job.last_seq {
                return Ok(());
            }
        }
        loop {
            match tokio::time::timeout(idle_every, sub.recv()).await {
                Err(_) => {
                    // A quiet while: look at the store anyway, in case a notification from another node was lost.
                    self.replay().await?;
                    self.send(Followed::Idle).await?;
                }
                Ok(Ok(Live::Stored)) => {
                    self.replay().await?;
                }
                Ok(Ok(Live::Event(event))) => {
                    if event.seq <= self.last {
                        continue;
                    }
                    if event.seq > self.last + 1 {
                        self.replay().await?;
                    }
                    if event.seq > self.last {
                        self.emit(event).await?;
                    }
                }
                // Missed some: whatever they were, the store has them.
                Ok(Err(RecvError::Lagged(_))) => {
                    self.replay().await?;
                }
                // The job finished (or the server is stopping) and its channel closed: the rest is in the store.
                Ok(Err(RecvError::Closed)) => return self.replay().await.map(drop),
            }
        }
    }

    /// Sends the events after `last`: from the hub's window if it has them all, else from the store, page by page.
    async fn replay(&mut self) -> Result<Source, Ended> {
        if let Some(events) = self.recent().await? {
            for event in events {
                if event.seq > self.last {
                    self.emit(event).await?;
                }
            }
            return Ok(Source::Window);
        }
        loop {
            let page = self.engine.store().jobs().events_after(self.job, self.last, REPLAY_PAGE, &[]).await?;
            let full = page.len() as u64 == REPLAY_PAGE;
            for event in page {
                self.emit(Arc::new(event)).await?;
            }
            if !full {
                return Ok(Source::Store);
            }
        }
    }

    /// The window's events after `last`, if it has them all, filling it from the store first if need be: the
    /// first follower to get here reads the job's history once, the others wait for it without a connection.
    async fn recent(&self) -> Result<Option<Vec<Arc<JobEvent>>>, Ended> {
        let hub = self.engine.hub();
        let lock = match hub.recent(self.job, self.last) {
            Recent::Events(events) => return Ok(Some(events)),
            Recent::Unknown => return Ok(None),
            Recent::Fill(lock) => lock,
        };
        let _filling = lock.lock().await;
        if let Recent::Fill(_) = hub.recent(self.job, self.last) {
            let history = self.engine.store().jobs().events_after(self.job, 0, WINDOW_EVENTS as u64 + 1, &[]).await?;
            hub.fill(self.job, history);
        }
        Ok(match hub.recent(self.job, self.last) {
            Recent::Events(events) => Some(events),
            Recent::Fill(_) | Recent::Unknown => None,
        })
    }

    async fn emit(&mut self, event: Arc<JobEvent>) -> Result<(), Ended> {
        let terminal = event.is_terminal();
        self.last = event.seq;
        self.send(Followed::Event(event)).await?;
        if terminal { Err(Ended::Done) } else { Ok(()) }
    }

    async fn send(&self, item: Followed) -> Result<(), Ended> {
        self.tx.send(item).await.map_err(|_| Ended::Done)
    }
}
