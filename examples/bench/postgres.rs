//! The PostgreSQL server of the cluster part: one administrative connection that creates and drops a database per
//! measurement.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};

/// Prefix of the databases the cluster part creates (and drops); one left behind by an interrupted run is
/// recognizable by it.
const CLUSTER_DATABASE_PREFIX: &str = "taskyard_bench_";

/// An administrative connection to the PostgreSQL server of the cluster part, which creates and drops one database
/// per measurement.
pub(crate) struct Postgres {
    /// `postgres://user@host:port`, without a database.
    pub(crate) base: String,
    pub(crate) admin: sea_orm::DatabaseConnection,
    /// `SHOW server_version`
    pub(crate) version: String,
}

impl Postgres {
    pub(crate) async fn connect(url: &str) -> Result<Postgres> {
        use sea_orm::ConnectionTrait as _;
        let base = url.trim_end_matches('/').to_string();
        let unreachable = |why: String| {
            anyhow!(
                "the cluster part needs PostgreSQL, but {base} is unreachable: {why}\n\
                 Start PostgreSQL there, point --postgres-url at another server, or skip the cluster part with \
                 --no-cluster."
            )
        };
        let mut options = sea_orm::ConnectOptions::new(format!("{base}/postgres"));
        options
            .max_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false);
        let admin = tokio::time::timeout(Duration::from_secs(10), sea_orm::Database::connect(options))
            .await
            .map_err(|_| unreachable("no connection within 10 s".to_string()))?
            .map_err(|err| unreachable(err.to_string()))?;
        let row = admin
            .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SHOW server_version"))
            .await
            .map_err(|err| unreachable(err.to_string()))?
            .context("SHOW server_version returned no row")?;
        let version: String = row.try_get("", "server_version").context("reading server_version")?;
        Ok(Postgres { base, admin, version })
    }

    /// Creates a database with a name no other run uses, runs `measure` with its URL within `timeout`, and drops
    /// the database (terminating whatever connections are left), whether `measure` succeeded or not. When the
    /// timeout strikes, `measure`'s servers are dropped, which kills them.
    pub(crate) async fn with_fresh_database<T>(
        &self,
        what: &str,
        timeout: Duration,
        measure: impl AsyncFnOnce(String) -> Result<T>,
    ) -> Result<T> {
        use sea_orm::ConnectionTrait as _;
        static DATABASES: AtomicUsize = AtomicUsize::new(0);
        let unix_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let name = format!(
            "{CLUSTER_DATABASE_PREFIX}{}_{unix_ms}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        self.admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("CREATE DATABASE {name} on {}", self.base))?;
        let result = tokio::time::timeout(timeout, measure(format!("{}/{name}", self.base)))
            .await
            .map_err(|_| anyhow!("{what} did not finish within {timeout:?}"))
            .and_then(|measured| measured.with_context(|| format!("{what} (database {name})")));
        let dropped = self
            .admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .with_context(|| format!("DROP DATABASE {name} on {}", self.base));
        let value = result?;
        dropped?;
        Ok(value)
    }
}
