//! The only module that speaks SQL. It turns rows into domain types and back, and hides the differences between
//! SQLite and PostgreSQL (the claim statement, connection set-up) behind [`Backend`]. It never sees HTTP types.
mod convert;
mod jobs;
mod tasks;
mod writer;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement};

pub use jobs::{JobFilter, JobsStore, OutputLine};
pub use tasks::TasksStore;

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
}

/// The two connections every table store uses.
#[derive(Clone, Copy)]
pub(crate) struct Conns<'a> {
    pub read: &'a DatabaseConnection,
    pub write: &'a DatabaseConnection,
}

impl Store {
    /// Connects, sets SQLite up for a job queue (WAL, `synchronous=NORMAL`, busy timeout) and runs migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
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
        let write = open(if backend == Backend::Sqlite { 1 } else { 16 }).await?;
        Migrator::up(&write, None).await.map_err(|e| anyhow::anyhow!("cannot migrate database {url}: {e}"))?;
        let read = match backend {
            Backend::Sqlite => open(8).await?,
            Backend::Postgres => write.clone(),
        };
        let writer = writer::Writer::start(write.clone());
        Ok(Store { read, write, writer, backend })
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

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        let stmt = Statement::from_string(self.read.get_database_backend(), "SELECT 1");
        self.read.query_one_raw(stmt).await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

pub(crate) fn db_backend(backend: Backend) -> DbBackend {
    match backend {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::Postgres => DbBackend::Postgres,
    }
}
