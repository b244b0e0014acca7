//! Where a test's data lives. By default a SQLite file in the test's temporary directory. When
//! `TASKYARD_TEST_DATABASE_URL` names a PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432`), each test
//! gets a fresh database of its own on it instead, created before the application starts and dropped when the last
//! application using it is dropped, so that the same tests prove both backends.

use std::path::Path;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

/// Names the PostgreSQL server the API suite runs on instead of SQLite.
pub const DATABASE_ENV: &str = "TASKYARD_TEST_DATABASE_URL";
/// How to get PostgreSQL going on this machine (Debian's packaging).
pub const START_POSTGRES: &str = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/// The PostgreSQL server the API suite should use, if one is configured.
pub fn postgres_server() -> Option<String> {
    std::env::var(DATABASE_ENV).ok().filter(|url| !url.trim().is_empty())
}

/// For the few tests that only make sense on SQLite (they lock or open its file, or test what a restart on one
/// means): true, with the reason printed, when the suite runs on PostgreSQL; the test then returns at once.
pub fn sqlite_only(reason: &str) -> bool {
    let on_postgres = postgres_server().is_some();
    if on_postgres {
        eprintln!("skipped on PostgreSQL (SQLite only: {reason})");
    }
    on_postgres
}

/// A test's database: its URL for `Settings::database_url` or `--database-url`.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    postgres: Option<PgDatabase>,
}

#[derive(Debug)]
struct PgDatabase {
    /// The server's URL with the maintenance database `postgres` as its path.
    admin_url: String,
    name: String,
}

impl TestDb {
    /// The SQLite file `taskyard.db` in `dir`, created on first use.
    pub fn sqlite(dir: &Path) -> TestDb {
        TestDb { url: format!("sqlite://{}?mode=rwc", db_path(dir).display()), postgres: None }
    }

    /// A new, empty database on the PostgreSQL server at `server` (e.g. `postgres://postgres@127.0.0.1:5432`),
    /// dropped again when this value is dropped.
    pub async fn postgres(server: &str) -> Result<TestDb, String> {
        let name = format!("ty_{}", ulid::Ulid::generate().to_string().to_lowercase());
        let admin_url = with_database(server, "postgres")?;
        let url = with_database(server, &name)?;
        let admin = admin_connection(&admin_url).await?;
        let created = admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await;
        let _ = admin.close().await;
        created.map_err(|e| format!("cannot create database {name} on {server}: {e}"))?;
        Ok(TestDb { url, postgres: Some(PgDatabase { admin_url, name }) })
    }

    /// The database the API suite uses for a new application: PostgreSQL when `DATABASE_ENV` is set (and then it
    /// must be reachable), else SQLite in `dir`.
    pub async fn for_suite(dir: &Path) -> TestDb {
        match postgres_server() {
            None => TestDb::sqlite(dir),
            Some(server) => TestDb::postgres(&server).await.unwrap_or_else(|e| {
                panic!("{DATABASE_ENV}={server}, but: {e}\nIs PostgreSQL running? Start it with `{START_POSTGRES}`")
            }),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    /// Drop is synchronous and may run inside (or after) the test's runtime, so the database is dropped from a
    /// thread of its own with its own small runtime. `WITH (FORCE)` ends the connections of applications still
    /// running on it.
    fn drop(&mut self) {
        let Some(PgDatabase { admin_url, name }) = self.postgres.take() else { return };
        let dropper = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = admin_connection(&admin_url).await?;
                let dropped = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                let _ = admin.close().await;
                dropped.map(|_| ()).map_err(|e| format!("cannot drop database {name}: {e}"))
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: {e}"),
            Err(_) => eprintln!("warning: the thread dropping a test database panicked"),
        }
    }
}

/// The SQLite file of a test's application (for the tests that are SQLite-only).
pub fn db_path(dir: &Path) -> std::path::PathBuf {
    dir.join("taskyard.db")
}

/// `server` with its path replaced by `/database`, keeping user, host, port and query.
fn with_database(server: &str, database: &str) -> Result<String, String> {
    let mut url = reqwest::Url::parse(server).map_err(|e| format!("{server:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!("{server:?} is not a postgres:// URL"));
    }
    url.set_path(&format!("/{database}"));
    Ok(url.to_string())
}

async fn admin_connection(admin_url: &str) -> Result<DatabaseConnection, String> {
    let mut options = ConnectOptions::new(admin_url.to_string());
    options
        .sqlx_logging(false)
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10));
    Database::connect(options).await.map_err(|e| format!("cannot connect to {admin_url}: {e}"))
}
