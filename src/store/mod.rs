//! The only module that speaks SQL. It turns rows into domain types and back, and hides the differences between
//! SQLite and PostgreSQL (the claim statement, connection set-up) behind [`Backend`]. It never sees HTTP types.
mod convert;
mod dialect;
mod jobs;
mod nodes;
mod tasks;
mod writer;

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

pub use dialect::{Heard, Listener, Notice};
pub use jobs::{Created, JobFilter, JobsStore, OutputLine};
pub use nodes::NodesStore;
pub use tasks::TasksStore;

/// Connection pool settings.
#[derive(Debug, Clone, Copy)]
pub struct DbOptions {
    /// PostgreSQL: connections of the pool. SQLite: reader connections (there is always exactly one writer).
    pub max_connections: u32,
    /// PostgreSQL: longest a statement may run before the server cancels it.
    pub statement_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions { max_connections: 16, statement_timeout: Duration::from_secs(30) }
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
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] DbErr),
    #[error("database error: {0}")]
    Db(#[source] DbErr),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot listen for notifications: {0}")]
    Listen(String),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(err),
            other => StoreError::Db(other),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A page request: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub size: u64,
}

/// One page of items plus the total count over all pages.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

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
}

/// The two connections every table store uses.
#[derive(Clone, Copy)]
pub(crate) struct Conns<'a> {
    pub read: &'a DatabaseConnection,
    pub write: &'a DatabaseConnection,
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
        let open = |max: u32| {
            let mut opts = ConnectOptions::new(url.to_string());
            opts.sqlx_logging(false)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(10))
                .max_connections(max)
                .min_connections(1);
            if backend == Backend::Postgres {
                let ms = options.statement_timeout.as_millis().to_string();
                opts.map_sqlx_postgres_opts(move |o: PgConnectOptions| o.options([("statement_timeout", ms.as_str())]));
            }
            if backend == Backend::Sqlite {
                opts.map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .create_if_missing(true)
                });
            }
            async move { Database::connect(opts).await.map_err(|e| anyhow::anyhow!("cannot open database {url}: {e}")) }
        };
        let write = open(if backend == Backend::Sqlite { 1 } else { options.max_connections }).await?;
        let lock = match backend {
            Backend::Sqlite => sqlite_file(url).map(|path| lock_file(&path)).transpose()?,
            Backend::Postgres => None,
        };
        // Nodes starting together must not migrate together: on PostgreSQL an advisory lock lets one at a time in.
        let guard = match backend {
            Backend::Postgres => Some(open(1).await?),
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
            Backend::Sqlite => open(options.max_connections).await?,
            Backend::Postgres => write.clone(),
        };
        let writer = writer::Writer::start(write.clone(), backend);
        Ok(Store { read, write, writer, backend, url: url.to_string(), lock })
    }

    fn conns(&self) -> Conns<'_> {
        Conns { read: &self.read, write: &self.write }
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

    pub fn nodes(&self) -> NodesStore<'_> {
        NodesStore::new(self.conns())
    }

    /// Tells the other nodes (PostgreSQL; nothing to do on SQLite).
    pub async fn notify(&self, notice: Notice) -> StoreResult<()> {
        if let Some(stmt) = dialect::notify(self.backend, &[notice]) {
            self.write.execute_raw(stmt).await?;
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

/// The file behind a `sqlite:` URL, or `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
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
