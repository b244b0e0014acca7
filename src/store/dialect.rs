//! What differs between SQLite and PostgreSQL, in one place: the claim statement, the notifications that let
//! several nodes on one PostgreSQL wake each other and follow each other's jobs, and the database's clock. On
//! SQLite one process owns the file, so there is nobody to notify, and no other clock than this machine's.
use std::sync::LazyLock;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DbBackend, Statement};

use super::{Backend, StoreError, StoreResult};
use crate::domain::{JobId, JobStatus};

/// The PostgreSQL channel all nodes listen on.
const CHANNEL: &str = "taskyard";

/// A cross-node signal. Payloads are tiny (ids only); the data itself is always read from the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notice {
    /// A job became due (queued, or pending again): idle dispatchers should claim.
    Queue,
    /// New events of a job are stored: followers elsewhere should read them.
    Events(JobId),
    /// Someone asked to cancel a running job: its runner, wherever it is, should stop it.
    Cancel(JobId),
}

impl Notice {
    fn payload(self) -> String {
        match self {
            Notice::Queue => "q".to_string(),
            Notice::Events(id) => format!("e {id}"),
            Notice::Cancel(id) => format!("c {id}"),
        }
    }

    fn parse(payload: &str) -> Option<Notice> {
        match payload.split_once(' ') {
            None if payload == "q" => Some(Notice::Queue),
            Some(("e", id)) => id.parse().ok().map(Notice::Events),
            Some(("c", id)) => id.parse().ok().map(Notice::Cancel),
            _ => None,
        }
    }
}

// The claim, one atomic statement per backend, oldest due job first. Statuses are inlined (they are our own
// constants, not input) so that the planner can use the partial index on pending rows. SQLite is told to: left to
// itself it took the (status, id) index and sorted every pending row by run_at for each claim, so that a backlog
// of 100,000 jobs drained at about 60 jobs/s.
static CLAIM_SQLITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET status = '{running}', started_at = ?, node_id = ?, lease_expires_at = ?, \
         last_seq = last_seq + 1 \
         WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_pending_due WHERE status = '{pending}' AND run_at <= ? \
         AND (function IS NULL OR function IN (SELECT value FROM json_each(?))) ORDER BY run_at, id LIMIT ?) \
         RETURNING *",
        running = JobStatus::Running.as_str(),
        pending = JobStatus::Pending.as_str(),
    )
});
// On PostgreSQL several nodes claim at once: SKIP LOCKED lets each take rows the others are not taking, without
// waiting on their locks.
static CLAIM_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH due AS (SELECT id FROM jobs WHERE status = '{pending}' AND run_at <= $1 \
         AND (function IS NULL OR function = ANY($5)) ORDER BY run_at, id \
         LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE jobs SET status = '{running}', started_at = $1, node_id = $2, lease_expires_at = $3, \
         last_seq = jobs.last_seq + 1 FROM due WHERE jobs.id = due.id RETURNING jobs.*",
        running = JobStatus::Running.as_str(),
        pending = JobStatus::Pending.as_str(),
    )
});

/// The claim of up to `limit` due jobs that this node can run: command jobs, and function jobs of `functions`
/// (the ones it registers); the others wait for a node that registers theirs.
pub(crate) fn claim(
    backend: Backend,
    node_id: &str,
    functions: &[String],
    limit: usize,
    now: i64,
    lease_until: i64,
) -> Statement {
    let limit = limit as i64;
    match backend {
        Backend::Sqlite => Statement::from_sql_and_values(
            DbBackend::Sqlite,
            CLAIM_SQLITE.as_str(),
            [
                now.into(),
                node_id.into(),
                lease_until.into(),
                now.into(),
                serde_json::Value::from(functions.to_vec()).to_string().into(),
                limit.into(),
            ],
        ),
        Backend::Postgres => Statement::from_sql_and_values(
            DbBackend::Postgres,
            CLAIM_POSTGRES.as_str(),
            [now.into(), node_id.into(), lease_until.into(), limit.into(), functions.to_vec().into()],
        ),
    }
}

// When the earliest pending job a node can run is due: the first row of the same partial index that passes the
// function condition, instead of a MIN over every pending row.
static NEXT_DUE_SQLITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT run_at FROM jobs INDEXED BY jobs_pending_due WHERE status = '{pending}' \
         AND (function IS NULL OR function IN (SELECT value FROM json_each(?))) ORDER BY run_at, id LIMIT 1",
        pending = JobStatus::Pending.as_str(),
    )
});
static NEXT_DUE_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT run_at FROM jobs WHERE status = '{pending}' AND (function IS NULL OR function = ANY($1)) \
         ORDER BY run_at, id LIMIT 1",
        pending = JobStatus::Pending.as_str(),
    )
});

/// The due time of the earliest pending job that a node registering `functions` can run (one row, or none).
pub(crate) fn next_due(backend: Backend, functions: &[String]) -> Statement {
    match backend {
        Backend::Sqlite => Statement::from_sql_and_values(
            DbBackend::Sqlite,
            NEXT_DUE_SQLITE.as_str(),
            [serde_json::Value::from(functions.to_vec()).to_string().into()],
        ),
        Backend::Postgres => {
            Statement::from_sql_and_values(DbBackend::Postgres, NEXT_DUE_POSTGRES.as_str(), [functions.to_vec().into()])
        }
    }
}

/// The statement that sends `signals` (each once) when its transaction commits; `None` when there is nobody to tell.
pub(crate) fn notify(backend: Backend, signals: &[Notice]) -> Option<Statement> {
    if backend != Backend::Postgres || signals.is_empty() {
        return None;
    }
    let mut payloads: Vec<String> = signals.iter().map(|s| s.payload()).collect();
    payloads.sort_unstable();
    payloads.dedup();
    Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT pg_notify('{CHANNEL}', p) FROM unnest($1::text[]) AS p"),
        [payloads.into()],
    ))
}

/// The statement that reads the database's clock as Unix milliseconds (column `now_ms`), on PostgreSQL; `None` on
/// SQLite, whose clock is this machine's. `clock_timestamp()`, not `now()`: the time of the reading, not of the
/// transaction's start.
pub(crate) fn clock(backend: Backend) -> Option<Statement> {
    (backend == Backend::Postgres).then(|| {
        Statement::from_string(
            DbBackend::Postgres,
            "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) AS now_ms",
        )
    })
}

/// PostgreSQL: takes (or releases) the session lock that serialises migrations between nodes starting together.
pub(crate) fn migration_lock(take: bool) -> Statement {
    // Any constant works, as long as every node uses the same one: "taskyard" in ASCII, as an integer.
    const KEY: i64 = 0x7461736b79617264;
    let function = if take { "pg_advisory_lock" } else { "pg_advisory_unlock" };
    Statement::from_string(DbBackend::Postgres, format!("SELECT {function}({KEY})"))
}

/// Signals from the other nodes. Reconnects by itself when its connection drops.
pub struct Listener {
    inner: PgListener,
}

/// What the listener heard.
pub enum Heard {
    Notice(Notice),
    /// The connection dropped and is being re-established: signals may have been missed meanwhile.
    Reconnected,
}

impl Listener {
    pub(crate) async fn connect(url: &str) -> StoreResult<Listener> {
        let mut inner = PgListener::connect(url).await.map_err(|e| StoreError::Listen(e.to_string()))?;
        inner.listen(CHANNEL).await.map_err(|e| StoreError::Listen(e.to_string()))?;
        Ok(Listener { inner })
    }

    /// The next signal (unknown payloads are skipped).
    pub async fn recv(&mut self) -> StoreResult<Heard> {
        loop {
            match self.inner.try_recv().await {
                Ok(Some(n)) => {
                    if let Some(signal) = Notice::parse(n.payload()) {
                        return Ok(Heard::Notice(signal));
                    }
                }
                Ok(None) => return Ok(Heard::Reconnected),
                Err(e) => return Err(StoreError::Listen(e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let id = JobId::generate();
        for s in [Notice::Queue, Notice::Events(id), Notice::Cancel(id)] {
            assert_eq!(Notice::parse(&s.payload()), Some(s));
        }
        assert_eq!(Notice::parse("x 1"), None);
        assert_eq!(Notice::parse("e not-an-id"), None);
    }

    #[test]
    fn sqlite_sends_nothing() {
        assert!(notify(Backend::Sqlite, &[Notice::Queue]).is_none());
        assert!(notify(Backend::Postgres, &[]).is_none());
        assert!(notify(Backend::Postgres, &[Notice::Queue, Notice::Queue]).is_some());
    }
}
