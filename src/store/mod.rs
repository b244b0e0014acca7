//! The only module that speaks SQL. It turns rows into domain types and back, and hides the differences between
//! SQLite and PostgreSQL (the claim statement, connection set-up) behind [`Backend`]. It never sees HTTP types.
//! The application's [`Metrics`] are made with the store, whose writer records into them first; `backlog` is the
//! one query a scrape makes.
mod audit;
mod backlog;
mod convert;
mod dialect;
mod events;
mod fault;
mod job_artifacts;
mod jobs;
mod nodes;
mod notify;
mod page;
mod runs;
mod schedules;
mod stats;
mod tasks;
mod writer;

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod row_tests;

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

use crate::metrics::Metrics;

pub use audit::AuditStore;
pub use backlog::Backlog;
pub use dialect::{Heard, Listener, Notice};
pub use fault::{Degraded, Fault};
pub use job_artifacts::JobArtifactsStore;
pub use jobs::{CancelRequest, Created, JobFilter, JobsStore, OutputLine, Renewal, Saved};
pub use nodes::NodesStore;
pub use notify::{AttemptResult, DeliveryFilter, OutboxStore, Rules as NotifyRules};
pub use page::{Keyset, Page, PageRequest, Slice};
pub use schedules::SchedulesStore;
pub use stats::{FinishedCount, StatsStore};
pub use tasks::{TaskFilter, TasksStore};

/// Connection pool settings.
#[derive(Debug, Clone, Copy)]
pub struct DbOptions {
    /// PostgreSQL: connections of the pool. SQLite: reader connections (there is always exactly one writer).
    pub max_connections: u32,
    /// PostgreSQL: longest a statement may run before the server cancels it.
    pub statement_timeout: Duration,
    /// SQLite: below this much free space under the database file, new work is refused (0: never).
    pub min_free_bytes: u64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions { max_connections: 16, statement_timeout: Duration::from_secs(30), min_free_bytes: 256 << 20 }
    }
}

/// Which database this is; the few statements that differ are chosen by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the name is taken by another task")]
    NameTaken,
    #[error("the database cannot be written or reached: {0}")]
    Unavailable(#[source] DbErr),
    #[error("the database's storage is full: {0}")]
    Full(#[source] DbErr),
    #[error("free disk space under the database is {free} bytes, below min_free_bytes ({min})")]
    LowDisk { free: u64, min: u64 },
    #[error("database error: {0}")]
    Db(#[source] DbErr),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot listen for notifications: {0}")]
    Listen(String),
    #[error("cannot encode a value for storing: {0}")]
    Encode(String),
    #[error("the job write was aborted by an internal fault and may not have been applied: {0}")]
    WriteAborted(String),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match fault::classify(&err) {
            Some(Fault::Full) => StoreError::Full(err),
            Some(Fault::Unavailable) => StoreError::Unavailable(err),
            None => StoreError::Db(err),
        }
    }
}

impl StoreError {
    /// The storage fault behind this error, if it is one.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            StoreError::Full(_) | StoreError::LowDisk { .. } => Some(Fault::Full),
            StoreError::Unavailable(_) => Some(Fault::Unavailable),
            _ => None,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database. Writes go through `write`, reads through `read`: on SQLite these are a single writer
/// connection and a pool of readers (WAL lets them read while it writes), because several writers on one file
/// only queue on SQLite's lock with millisecond sleeps; on PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Store {
    read: DatabaseConnection,
    write: DatabaseConnection,
    writer: writer::Writer,
    backend: Backend,
    url: String,
    /// SQLite: an exclusive lock on the database file for as long as this process lives, so that no second
    /// server shares the file (each would take the other's running jobs for lost).
    lock: Option<Arc<Flock<File>>>,
    faults: Arc<fault::Faults>,
    /// The application's metrics: made with the store, whose writer records into them first.
    metrics: Metrics,
    /// Which job ends send notifications, read by the job writer.
    notify_rules: Arc<notify::Rules>,
}

/// The two connections every table store uses, and where their writes report storage faults.
#[derive(Clone, Copy)]
pub(crate) struct Conns<'a> {
    pub read: &'a DatabaseConnection,
    pub write: &'a DatabaseConnection,
    pub faults: &'a fault::Faults,
}

impl Conns<'_> {
    /// The outcome of a write, converted, with its storage fault (or success) noted for `/health`.
    pub fn wrote<T, E: Into<StoreError>>(&self, result: Result<T, E>) -> StoreResult<T> {
        let result = result.map_err(Into::into);
        self.faults.note(result.as_ref().err().and_then(StoreError::fault), result.is_ok());
        result
    }

    /// New work (a task written, a job queued) is refused while free disk space is below the minimum.
    pub fn room_for_new_work(&self) -> StoreResult<()> {
        if self.faults.low_disk() {
            let (free, min) = self.faults.disk();
            return Err(StoreError::LowDisk { free, min });
        }
        Ok(())
    }
}

impl Store {
    /// Connects, sets SQLite up for a job queue (WAL, `synchronous=NORMAL`, busy timeout) and PostgreSQL with a
    /// statement timeout, and runs migrations.
    pub async fn connect(url: &str, options: DbOptions) -> anyhow::Result<Store> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL '{url}': use sqlite://PATH?mode=rwc or postgres://USER@HOST/DB");
        };
        let faults = Arc::new(fault::Faults::new(options.min_free_bytes));
        // `writes`: the pool that writes, which opens fresh connections while writes fail for want of one.
        let open = |max: u32, writes: bool| {
            let pg_faults = writes.then(|| faults.clone());
            let sqlite_faults = pg_faults.clone();
            let mut opts = ConnectOptions::new(url.to_string());
            opts.sqlx_logging(false)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(10))
                .max_connections(max)
                .min_connections(1);
            if backend == Backend::Postgres {
                let ms = options.statement_timeout.as_millis().to_string();
                opts.map_sqlx_postgres_opts(move |o: PgConnectOptions| o.options([("statement_timeout", ms.as_str())]))
                    .map_sqlx_postgres_before_acquire(move |conn, _| {
                        let fresh = pg_faults.as_deref().is_some_and(fresh_after_fault);
                        Box::pin(async move { Ok(clean(conn) && !fresh) })
                    });
            }
            if backend == Backend::Sqlite {
                opts.map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .create_if_missing(true)
                })
                .map_sqlx_sqlite_before_acquire(move |conn, _| {
                    let fresh = sqlite_faults.as_deref().is_some_and(fresh_after_fault);
                    Box::pin(async move { Ok(clean(conn) && !fresh) })
                });
                // Unit tests cap the writer's file with `PRAGMA max_page_count`, which holds per connection: every
                // writer connection gets it. Not compiled outside tests.
                #[cfg(test)]
                if writes {
                    opts.map_sqlx_sqlite_pool_opts(|o| o.after_connect(|conn, _| Box::pin(fault_tests::cap(conn))));
                }
            }
            async move { Database::connect(opts).await.map_err(|e| anyhow::anyhow!("cannot open database {url}: {e}")) }
        };
        let write = open(if backend == Backend::Sqlite { 1 } else { options.max_connections }, true).await?;
        let lock = match backend {
            Backend::Sqlite => sqlite_file(url).map(|path| lock_file(&path)).transpose()?,
            Backend::Postgres => None,
        };
        // Nodes starting together must not migrate together: on PostgreSQL an advisory lock lets one at a time in.
        let guard = match backend {
            Backend::Postgres => Some(open(1, false).await?),
            Backend::Sqlite => None,
        };
        if let Some(conn) = &guard {
            conn.execute_raw(dialect::migration_lock(true)).await?;
        }
        let migrated = Migrator::up(&write, None).await;
        if let Some(conn) = guard {
            let _ = conn.execute_raw(dialect::migration_lock(false)).await;
            let _ = conn.close().await;
        }
        migrated.map_err(|e| anyhow::anyhow!("cannot migrate database {url}: {e}"))?;
        let read = match backend {
            Backend::Sqlite => open(options.max_connections, false).await?,
            Backend::Postgres => write.clone(),
        };
        if let Some(file) = sqlite_file(url) {
            fault::watch_disk(&faults, &file);
        } else if backend == Backend::Postgres && options.min_free_bytes > 0 {
            tracing::info!("min_free_bytes does not apply to PostgreSQL (no local database file); not checked");
        }
        let metrics = Metrics::default();
        let notify_rules = Arc::new(notify::Rules::default());
        let writer =
            writer::Writer::start(write.clone(), backend, faults.clone(), metrics.clone(), notify_rules.clone());
        Ok(Store { read, write, writer, backend, url: url.to_string(), lock, faults, metrics, notify_rules })
    }

    fn conns(&self) -> Conns<'_> {
        Conns { read: &self.read, write: &self.write, faults: &self.faults }
    }

    /// Why the storage is not healthy now, if it is not: the newest write failed (full, or unavailable), or free
    /// disk space is below `min_free_bytes`.
    pub fn degraded(&self) -> Option<Degraded> {
        self.faults.degraded()
    }

    /// Free disk space is below `min_free_bytes`: running jobs store no more output.
    pub fn low_disk(&self) -> bool {
        self.faults.low_disk()
    }

    /// The application's metrics, which the engine and the HTTP layer record into too.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn tasks(&self) -> TasksStore<'_> {
        TasksStore::new(self.conns())
    }

    pub fn jobs(&self) -> JobsStore<'_> {
        JobsStore::new(self.conns(), &self.writer, self.backend)
    }

    pub fn schedules(&self) -> SchedulesStore<'_> {
        SchedulesStore::new(self.conns())
    }

    pub fn stats(&self) -> StatsStore<'_> {
        StatsStore::new(self.conns())
    }

    pub fn nodes(&self) -> NodesStore<'_> {
        NodesStore::new(self.conns())
    }

    pub fn audit(&self) -> AuditStore<'_> {
        AuditStore::new(self.conns(), &self.writer)
    }

    /// The notification outbox.
    pub fn outbox(&self) -> OutboxStore<'_> {
        OutboxStore::new(self.conns(), self.backend, &self.notify_rules)
    }

    /// The notification rules job ends are matched against (none until set), and the wake-up of the delivery
    /// worker.
    pub fn notify_rules(&self) -> &NotifyRules {
        &self.notify_rules
    }

    pub fn job_artifacts(&self) -> JobArtifactsStore<'_> {
        JobArtifactsStore::new(self.conns())
    }

    /// Tells the other nodes (PostgreSQL; nothing to do on SQLite).
    pub async fn notify(&self, notice: Notice) -> StoreResult<()> {
        if let Some(stmt) = dialect::notify(self.backend, &[notice]) {
            self.conns().wrote(self.write.execute_raw(stmt).await)?;
        }
        Ok(())
    }

    /// A listener for the other nodes' signals, on PostgreSQL; `None` on SQLite, where no other node can be.
    pub async fn listen(&self) -> StoreResult<Option<Listener>> {
        match self.backend {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => Listener::connect(&self.url).await.map(Some),
        }
    }

    /// The database's clock in Unix milliseconds (PostgreSQL), or `None` where this machine's clock is the one
    /// (SQLite).
    pub async fn clock_ms(&self) -> StoreResult<Option<i64>> {
        let Some(stmt) = dialect::clock(self.backend) else { return Ok(None) };
        let row = self.read.query_one_raw(stmt).await?.ok_or_else(|| StoreError::Corrupt("no clock row".into()))?;
        Ok(Some(row.try_get("", "now_ms")?))
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        let stmt = Statement::from_string(self.read.get_database_backend(), "SELECT 1");
        self.read.query_one_raw(stmt).await?;
        Ok(())
    }

    /// Whether this process alone can be running jobs of this database (SQLite, under the file lock): then a
    /// `running` job at start-up is proof of a dead previous process, with no lease to wait for.
    pub fn exclusive(&self) -> bool {
        self.lock.is_some()
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

/// Whether a pooled connection may be handed out: only outside any transaction. A transaction that outlived its
/// owner would swallow every later statement of the connection into it, acknowledged and never committed. That is
/// what SQLite's automatic rollback after `SQLITE_FULL` or an I/O error used to cause: the driver's `ROLLBACK`
/// then fails ("no transaction is active"), the driver still counts one open transaction, the next `BEGIN`
/// becomes a `SAVEPOINT` and the next rollback a `ROLLBACK TO`, which leaves SQLite inside a transaction for good.
/// Such a connection is closed and the pool opens a fresh one.
fn clean<C: sea_orm::sqlx::Connection>(conn: &mut C) -> bool {
    let dirty = conn.is_in_transaction();
    if dirty {
        tracing::warn!("discarding a database connection left inside a transaction; opening a fresh one");
    }
    !dirty
}

/// While the newest write failed because the storage could not be written or reached, every connection is opened
/// afresh: one opened while the file was read-only stays read-only, and a dead server connection is dead.
fn fresh_after_fault(faults: &fault::Faults) -> bool {
    faults.last_write() == Some(Fault::Unavailable)
}

/// The file behind a `sqlite:` URL, or `None` for an in-memory database (or another backend's URL).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:" && !rest.contains("mode=memory")).then(|| path.into())
}

/// Locks the database file for this process. A process that already holds the lock (an embedding application or
/// a test opening the same file twice) shares it: the lock keeps other processes out.
fn lock_file(path: &std::path::Path) -> anyhow::Result<Arc<Flock<File>>> {
    static HELD: std::sync::Mutex<Vec<(std::path::PathBuf, std::sync::Weak<Flock<File>>)>> =
        std::sync::Mutex::new(Vec::new());
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| anyhow::anyhow!("cannot open database file {}: {e}", path.display()))?;
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    held.retain(|(_, lock)| lock.strong_count() > 0);
    if let Some(lock) = held.iter().find(|(p, _)| *p == canonical).and_then(|(_, l)| l.upgrade()) {
        return Ok(lock);
    }
    let file =
        File::open(&canonical).map_err(|e| anyhow::anyhow!("cannot open database file {}: {e}", path.display()))?;
    let lock = Arc::new(Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| match errno {
        nix::errno::Errno::EWOULDBLOCK => anyhow::anyhow!(
            "another taskyard server is using the database {}; stop it first, or give this one its own \
             --database-url (several servers share work only on PostgreSQL)",
            path.display()
        ),
        other => anyhow::anyhow!("cannot lock database file {}: {other}", path.display()),
    })?);
    held.push((canonical, Arc::downgrade(&lock)));
    Ok(lock)
}
