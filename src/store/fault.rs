//! Storage faults: what a database error means for whoever waits on it (the storage is full, or it cannot be
//! written or reached, or it is something else), the store's memory of its newest write fault for `/health`, and
//! the watch on free disk space under the SQLite file (`min_free_bytes`).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::{DbErr, RuntimeErr};

/// How often free disk space is looked at: statvfs is a cheap system call.
const DISK_CHECK_EVERY: Duration = Duration::from_secs(1);

/// A write refused by the storage itself, not by what was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No space: the disk (or the database's quota) is full.
    Full,
    /// The storage cannot be written or reached: I/O error, read-only, unreachable, connection lost.
    Unavailable,
}

/// Which kind of storage fault `err` is, if any. SQLite reports extended result codes (the primary code is the low
/// byte), PostgreSQL SQLSTATEs.
pub fn classify(err: &DbErr) -> Option<Fault> {
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return Some(Fault::Unavailable),
        DbErr::Conn(e) | DbErr::Exec(e) | DbErr::Query(e) => e,
        _ => return None,
    };
    let RuntimeErr::SqlxError(sqlx) = runtime else {
        return matches!(err, DbErr::Conn(_)).then_some(Fault::Unavailable);
    };
    use sea_orm::sqlx::Error as E;
    match &**sqlx {
        E::Database(db) => db.code().and_then(|code| classify_code(&code)),
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
            Some(Fault::Unavailable)
        }
        _ => matches!(err, DbErr::Conn(_)).then_some(Fault::Unavailable),
    }
}

/// A database error code: SQLite's (extended) result code in decimal, or PostgreSQL's five-character SQLSTATE.
fn classify_code(code: &str) -> Option<Fault> {
    if let Ok(sqlite) = code.parse::<i32>()
        && code.len() < 5
    {
        return match sqlite & 0xff {
            13 => Some(Fault::Full), // SQLITE_FULL
            // SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL
            10 | 8 | 14 | 5 | 6 | 15 => Some(Fault::Unavailable),
            _ => None,
        };
    }
    match code {
        // disk_full; out_of_memory and too_many_connections are not about space
        "53100" => Some(Fault::Full),
        c if c.starts_with("53") => Some(Fault::Unavailable),
        // connection exceptions; admin_shutdown, crash_shutdown, cannot_connect_now; read_only_sql_transaction
        c if c.starts_with("08") => Some(Fault::Unavailable),
        "57P01" | "57P02" | "57P03" | "25006" => Some(Fault::Unavailable),
        _ => None,
    }
}

/// Why the storage is not healthy, as `/health` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degraded {
    /// The newest write failed for lack of space.
    StorageFull,
    /// The newest write failed because the storage could not be written or reached.
    StorageUnavailable,
    /// Free disk space under the database is below `min_free_bytes`: new work is refused.
    LowDisk,
}

/// What the store remembers about its storage: the newest write's fault (cleared by a write that succeeds) and
/// whether free disk space is below the minimum. Shared by every clone of the store.
#[derive(Debug, Default)]
pub struct Faults {
    /// 0: the newest write succeeded; else `Fault` + 1.
    last_write: AtomicU8,
    low_disk: AtomicBool,
    free_bytes: AtomicU64,
    min_free_bytes: u64,
}

impl Faults {
    pub fn new(min_free_bytes: u64) -> Faults {
        Faults { min_free_bytes, ..Faults::default() }
    }

    /// Records how a write went: a storage fault is remembered, a success forgets it; other errors say nothing
    /// about the storage.
    pub fn note(&self, fault: Option<Fault>, ok: bool) {
        let value = match (ok, fault) {
            (true, _) => 0,
            (false, Some(Fault::Full)) => 1,
            (false, Some(Fault::Unavailable)) => 2,
            (false, None) => return,
        };
        if self.last_write.swap(value, Ordering::SeqCst) != value {
            match value {
                0 => tracing::info!("writes to the database work again"),
                1 => tracing::error!("the database's storage is full: writes are refused until there is room"),
                _ => tracing::error!("the database cannot be written: writes are refused until it can"),
            }
        }
    }

    pub fn last_write(&self) -> Option<Fault> {
        match self.last_write.load(Ordering::SeqCst) {
            1 => Some(Fault::Full),
            2 => Some(Fault::Unavailable),
            _ => None,
        }
    }

    /// Below `min_free_bytes`: new jobs and task writes are refused, job output is no longer stored.
    pub fn low_disk(&self) -> bool {
        self.low_disk.load(Ordering::Relaxed)
    }

    /// (free bytes, the minimum) as last measured.
    pub fn disk(&self) -> (u64, u64) {
        (self.free_bytes.load(Ordering::Relaxed), self.min_free_bytes)
    }

    /// The worst of the current conditions, if any.
    pub fn degraded(&self) -> Option<Degraded> {
        match self.last_write() {
            Some(Fault::Full) => Some(Degraded::StorageFull),
            Some(Fault::Unavailable) => Some(Degraded::StorageUnavailable),
            None => self.low_disk().then_some(Degraded::LowDisk),
        }
    }

    fn measure(&self, dir: &Path) {
        let free = match nix::sys::statvfs::statvfs(dir) {
            Ok(s) => s.blocks_available().saturating_mul(s.fragment_size()),
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "cannot measure free disk space");
                return;
            }
        };
        self.free_bytes.store(free, Ordering::Relaxed);
        let low = free < self.min_free_bytes;
        if self.low_disk.swap(low, Ordering::Relaxed) != low {
            if low {
                tracing::error!(
                    free_bytes = free,
                    min_free_bytes = self.min_free_bytes,
                    "free disk space under the database is below min_free_bytes: refusing new jobs and task \
                     writes, and storing no more job output, until there is room"
                );
            } else {
                tracing::info!(free_bytes = free, "free disk space is back above min_free_bytes");
            }
        }
    }
}

/// Measures free space under `db_file` now and then every second, for as long as `faults` is in use.
pub fn watch_disk(faults: &Arc<Faults>, db_file: &Path) {
    if faults.min_free_bytes == 0 {
        return;
    }
    let dir: PathBuf = match db_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    faults.measure(&dir);
    let weak: Weak<Faults> = Arc::downgrade(faults);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(DISK_CHECK_EVERY).await;
            let Some(faults) = weak.upgrade() else { return };
            let dir = dir.clone();
            // statvfs can block on a sick file system; keep it off the async workers.
            let measured = tokio::task::spawn_blocking(move || faults.measure(&dir)).await;
            if measured.is_err() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        let cases = [
            ("13", Some(Fault::Full)),
            ("778", Some(Fault::Unavailable)), // SQLITE_IOERR_WRITE
            ("8", Some(Fault::Unavailable)),
            ("1032", Some(Fault::Unavailable)), // SQLITE_READONLY_DBMOVED
            ("14", Some(Fault::Unavailable)),
            ("2067", None), // SQLITE_CONSTRAINT_UNIQUE
            ("53100", Some(Fault::Full)),
            ("57P01", Some(Fault::Unavailable)),
            ("08006", Some(Fault::Unavailable)),
            ("23505", None),
        ];
        for (code, want) in cases {
            assert_eq!(classify_code(code), want, "{code}");
        }
    }

    #[test]
    fn a_success_clears_the_fault_and_low_disk_is_the_mildest() {
        let faults = Faults::new(10);
        faults.low_disk.store(true, Ordering::Relaxed);
        assert_eq!(faults.degraded(), Some(Degraded::LowDisk));
        faults.note(Some(Fault::Full), false);
        assert_eq!(faults.degraded(), Some(Degraded::StorageFull));
        faults.note(None, false);
        assert_eq!(faults.degraded(), Some(Degraded::StorageFull), "a constraint error says nothing");
        faults.note(None, true);
        assert_eq!(faults.degraded(), Some(Degraded::LowDisk));
    }
}
