//! The one clock that decides leases, due times and whether a node is gone.
//!
//! On SQLite one process owns the database, so this machine's clock is the only one. On PostgreSQL several nodes
//! compare times that each of them wrote (a lease one node set is judged expired by another), so every time the
//! engine stores or compares comes from one clock: the database's. It is read at start and with every heartbeat
//! (one round trip, taken at its midpoint) and carried in between by this process's monotonic clock, so a node
//! whose wall clock is off, or jumps, still agrees with the others to within a round trip. Reading the database's
//! clock inside every statement instead would leave the times the engine computes (a lease's end, a retry's due
//! time, an event's time) on the node's clock, and cost nothing less.
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use crate::domain::now_ms;
use crate::store::{Store, StoreResult};

/// A reading slower than this says little about when the database's clock was read: it is not used.
const MAX_ROUND_TRIP: Duration = Duration::from_secs(1);
/// Readings taken at start, of which the one with the shortest round trip is kept.
const START_READINGS: usize = 3;
/// An offset from the database's clock larger than this is worth a warning.
pub const WARN_OFFSET_MS: i64 = 1000;

/// No reading yet (or none needed): the machine's clock.
const LOCAL: i64 = i64::MIN;

pub struct Clock {
    origin: Instant,
    /// The database's time at `origin`, in Unix ms, or `LOCAL`.
    base: AtomicI64,
    /// This machine's wall clock minus the database's at the last reading, in ms.
    offset: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock { origin: Instant::now(), base: AtomicI64::new(LOCAL), offset: AtomicI64::new(0) }
    }
}

impl Clock {
    /// Now, in Unix milliseconds, on the clock that decides.
    pub fn now_ms(&self) -> i64 {
        match self.base.load(Ordering::Relaxed) {
            LOCAL => now_ms(),
            base => base + self.origin.elapsed().as_millis() as i64,
        }
    }

    /// This machine's wall clock minus the database's, in ms, as last read; `None` where they are the same clock.
    pub fn offset_ms(&self) -> Option<i64> {
        (self.base.load(Ordering::Relaxed) != LOCAL).then(|| self.offset.load(Ordering::Relaxed))
    }

    /// At start: reads the database's clock a few times and keeps the reading with the shortest round trip.
    /// `Ok(None)` where this machine's clock is the one (SQLite).
    pub async fn sync_at_start(&self, store: &Store) -> StoreResult<Option<i64>> {
        let mut best: Option<Reading> = None;
        for _ in 0..START_READINGS {
            match Reading::take(store).await? {
                None => return Ok(None),
                Some(r) if best.as_ref().is_none_or(|b| r.round_trip < b.round_trip) => best = Some(r),
                Some(_) => {}
            }
        }
        Ok(best.and_then(|r| self.apply(r)))
    }

    /// Reads the database's clock once more (with each heartbeat), so the monotonic clock's drift never adds up.
    pub async fn sync(&self, store: &Store) -> StoreResult<Option<i64>> {
        Ok(Reading::take(store).await?.and_then(|r| self.apply(r)))
    }

    fn apply(&self, r: Reading) -> Option<i64> {
        if r.round_trip > MAX_ROUND_TRIP {
            return self.offset_ms();
        }
        let at = r.midpoint.saturating_duration_since(self.origin).as_millis() as i64;
        self.offset.store(r.wall_ms - r.database_ms, Ordering::Relaxed);
        self.base.store(r.database_ms - at, Ordering::Relaxed);
        self.offset_ms()
    }
}

/// One reading of the database's clock.
struct Reading {
    database_ms: i64,
    /// When it was (probably) read: halfway through the round trip.
    midpoint: Instant,
    /// This machine's wall clock then.
    wall_ms: i64,
    round_trip: Duration,
}

impl Reading {
    async fn take(store: &Store) -> StoreResult<Option<Reading>> {
        let (sent, wall_sent) = (Instant::now(), now_ms());
        let Some(database_ms) = store.clock_ms().await? else { return Ok(None) };
        let round_trip = sent.elapsed();
        let wall_ms = wall_sent + round_trip.as_millis() as i64 / 2;
        Ok(Some(Reading { database_ms, midpoint: sent + round_trip / 2, wall_ms, round_trip }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_reading_it_is_the_machines_clock() {
        let clock = Clock::default();
        assert_eq!(clock.offset_ms(), None);
        assert!((clock.now_ms() - now_ms()).abs() < 1000);
    }

    #[test]
    fn a_reading_sets_the_time_and_the_offset() {
        let clock = Clock::default();
        let midpoint = Instant::now();
        let wall_ms = now_ms();
        let database_ms = wall_ms - 60_000;
        let reading = Reading { database_ms, midpoint, wall_ms, round_trip: Duration::from_millis(2) };
        assert_eq!(clock.apply(reading), Some(60_000));
        let now = clock.now_ms();
        assert!((database_ms..database_ms + 1000).contains(&now), "{now} is not the database's time {database_ms}");
        let slow = Reading { database_ms: 0, midpoint, wall_ms, round_trip: Duration::from_secs(2) };
        assert_eq!(clock.apply(slow), Some(60_000), "a slow reading is not used");
        assert!(clock.now_ms() >= now);
    }
}
