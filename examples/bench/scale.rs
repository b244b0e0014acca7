//! Scale (`--scale-only`): what a large database costs, on SQLite.
//!
//! 1. Backlog: `--backlog` (100,000) pending `true` jobs, all due at once, then a server with the default settings
//!    (no `--max-concurrency`) started on them: jobs/s from its start until all have completed.
//! 2. History: `--history` (1,000,000) finished jobs, one in ten failed, each with its state events and 20 lines
//!    of output: p50/p99 of `GET /api/v1/jobs?status=failed&size=50` and of a job's output page
//!    (`GET /api/v1/jobs/{id}/output`), and database bytes per finished job.
//!
//! Both databases are made by cloning rows of real jobs (run through the API first) with the server stopped: a
//! recursive `INSERT … SELECT` gives each clone an id of the template's first 16 characters and a 10-digit serial
//! (digits are ULID characters, so the ids parse and sort). Every column of the template is copied, whatever the
//! schema holds, so the rows are what the server itself writes, at SQL speed instead of HTTP speed.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::json;

use crate::api::{Api, expect};
use crate::server::Server;

pub(crate) struct Scale {
    pub(crate) backlog: usize,
    /// From the server's start to the last job completed.
    pub(crate) drain: Duration,
    pub(crate) history: usize,
    pub(crate) list_failed: Vec<Duration>,
    pub(crate) output_page: Vec<Duration>,
    pub(crate) bytes_per_job: f64,
    pub(crate) db_bytes: u64,
}

/// Requests timed in each read measurement of the history.
pub(crate) const READS: usize = 500;
/// Lines each history job printed.
const LINES: usize = 20;

pub(crate) async fn scale(bin: &Path, http: &reqwest::Client, backlog: usize, history: usize) -> Result<Scale> {
    let (backlog_n, drain) = measure_backlog(bin, http, backlog).await?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let server = Server::start(bin, dir.path(), 0, &["--allow", "seq", "--allow", "false"]).await?;
    let api = server.api(http);
    let done = api.create_task(&json!({"name": "done", "command": format!("seq 1 {LINES}")})).await?;
    let failing = api.create_task(&json!({"name": "failing", "command": "false"})).await?;
    let done_job = run(&api, &done).await?;
    let failed_job = run(&api, &failing).await?;
    server.stop().await;

    eprintln!("      cloning {history} finished jobs");
    let db = open(dir.path()).await?;
    clone_job(&db, &failed_job, "1", history / 10).await?;
    clone_job(&db, &done_job, "2", history - history / 10).await?;
    db.execute_unprepared("VACUUM").await.context("VACUUM")?;
    db.close().await.ok();
    let db_bytes = std::fs::metadata(dir.path().join("bench.db")).context("the database file")?.len();

    let server = Server::start(bin, dir.path(), 0, &["--allow", "seq", "--allow", "false"]).await?;
    let api = server.api(http);
    let list_failed = timed(READS, || get(&api, "/api/v1/jobs?status=failed&size=50")).await?;
    let sample = format!("/api/v1/jobs/{}/output", clone_id(&done_job, "2", history / 2));
    let output_page = timed(READS, || get(&api, &sample)).await?;
    server.stop().await;
    Ok(Scale {
        backlog: backlog_n,
        drain,
        history,
        list_failed,
        output_page,
        bytes_per_job: db_bytes as f64 / (history + 2) as f64,
        db_bytes,
    })
}

/// The backlog: one pending job due in the future, cloned `n` times with the server stopped; then a server with
/// default settings drains them.
async fn measure_backlog(bin: &Path, http: &reqwest::Client, n: usize) -> Result<(usize, Duration)> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let server = Server::start(bin, dir.path(), 0, &[]).await?;
    let api = server.api(http);
    let task = api.create_task(&json!({"name": "backlog", "command": "true"})).await?;
    let resp = api
        .http
        .post(api.url(&format!("/api/v1/tasks/{task}/$execute")))
        .json(&json!({"delay_seconds": 3600}))
        .send()
        .await?;
    let template = expect(resp, reqwest::StatusCode::ACCEPTED, "$execute")
        .await?
        .get("job_id")
        .and_then(|v| v.as_str())
        .context("no job_id")?
        .to_string();
    server.stop().await;

    eprintln!("      cloning {n} pending jobs");
    let db = open(dir.path()).await?;
    clone_job(&db, &template, "1", n).await?;
    // All due now (the template too, which then counts as one more).
    db.execute_unprepared("UPDATE jobs SET run_at = 0 WHERE status = 'pending'").await.context("making them due")?;
    db.close().await.ok();

    let start = Instant::now();
    let server = Server::start(bin, dir.path(), 0, &[]).await?;
    let api = server.api(http);
    let total = n as u64 + 1;
    loop {
        let (completed, _) = api.count_jobs(&task, "completed").await?;
        if completed >= total {
            break;
        }
        let (failed, sample) = api.count_jobs(&task, "failed").await?;
        ensure!(failed == 0, "{failed} backlog jobs failed, e.g. {sample}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain = start.elapsed();
    server.stop().await;
    Ok((n + 1, drain))
}

async fn run(api: &Api, task: &str) -> Result<String> {
    let job = api.execute(task).await?;
    let finished = |j: &serde_json::Value| crate::api::is_terminal(j["status"].as_str().unwrap_or_default());
    crate::api::poll_job_every(api, &job, Duration::from_millis(20), finished).await?;
    Ok(job)
}

async fn open(dir: &Path) -> Result<DatabaseConnection> {
    let url = format!("sqlite://{}?mode=rw", dir.join("bench.db").display());
    let mut options = sea_orm::ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await.context("opening the database")?;
    db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF").await?;
    Ok(db)
}

/// The id of the `i`-th clone (1-based) of `template` in series `series` (one digit).
fn clone_id(template: &str, series: &str, i: usize) -> String {
    format!("{}{series}{i:09}", &template[..16])
}

/// Copies job `template`, and its rows in every table keyed by `job_id`, `n` times.
async fn clone_job(db: &DatabaseConnection, template: &str, series: &str, n: usize) -> Result<()> {
    ensure!(n < 1_000_000_000, "at most 999,999,999 clones");
    let tables: Vec<String> = query_strings(db, "SELECT name FROM sqlite_master WHERE type = 'table'", "name").await?;
    for table in tables.iter().filter(|t| !t.starts_with("sqlite_") && *t != "seaql_migrations") {
        let columns = query_strings(db, &format!("SELECT name FROM pragma_table_info('{table}')"), "name").await?;
        let key = match (table.as_str(), columns.iter().any(|c| c == "job_id")) {
            ("jobs", _) => "id",
            (_, true) => "job_id",
            _ => continue,
        };
        let (mut into, mut select) = (Vec::new(), Vec::new());
        for column in &columns {
            into.push(format!("\"{column}\""));
            select.push(match column.as_str() {
                c if c == key => format!("substr(t.\"{c}\", 1, 16) || '{series}' || printf('%09d', n.i)"),
                // Autoincrement keys are left to SQLite.
                "id" => "NULL".to_string(),
                "idempotency_key" => "NULL".to_string(),
                c => format!("t.\"{c}\""),
            });
        }
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             INSERT INTO \"{table}\" ({}) SELECT {} FROM n, \"{table}\" t WHERE t.\"{key}\" = '{template}'",
            into.join(", "),
            select.join(", ")
        );
        let started = Instant::now();
        let res = db.execute_unprepared(&sql).await.with_context(|| format!("cloning rows of {table}"))?;
        eprintln!("      {table}: {} rows in {:.1} s", res.rows_affected(), started.elapsed().as_secs_f64());
    }
    Ok(())
}

async fn query_strings(db: &DatabaseConnection, sql: &str, column: &str) -> Result<Vec<String>> {
    let rows = db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.context(sql.to_string())?;
    rows.iter().map(|r| r.try_get::<String>("", column).map_err(Into::into)).collect()
}

async fn get(api: &Api, path: &str) -> Result<()> {
    let resp = api.http.get(api.url(path)).send().await?;
    ensure!(resp.status().is_success(), "GET {path}: {}", resp.status());
    let _ = resp.bytes().await?;
    Ok(())
}

async fn timed<F: Future<Output = Result<()>>>(n: usize, mut f: impl FnMut() -> F) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        f().await?;
        out.push(t0.elapsed());
    }
    Ok(out)
}

/// The rows of the scale report.
pub(crate) fn report(out: &mut String, r: &Scale) {
    use std::fmt::Write as _;
    let (p50_p99, thousands) = (crate::report::p50_p99, crate::report::thousands);
    let _ = writeln!(
        out,
        "| backlog drain | {} pending `true` jobs due at once (rows cloned from one submitted job), then a server with default settings started on them; from its start until all completed (polled every 100 ms) | {} jobs/s ({:.1} s) |",
        thousands(r.backlog as f64),
        thousands(r.backlog as f64 / r.drain.as_secs_f64()),
        r.drain.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| failed jobs, first page | {} finished jobs stored (cloned; 1 in 10 failed, each with its events and {LINES} output lines); {READS} sequential `GET /api/v1/jobs?status=failed&size=50` | {} |",
        thousands(r.history as f64),
        p50_p99(&r.list_failed)
    );
    let _ = writeln!(
        out,
        "| a job's output page | same database; {READS} sequential `GET /api/v1/jobs/{{id}}/output` of a job in the middle | {} |",
        p50_p99(&r.output_page)
    );
    let _ = writeln!(
        out,
        "| database bytes per finished job | same database after `VACUUM`: file size / jobs | {:.0} bytes ({:.1} MiB in all) |",
        r.bytes_per_job,
        r.db_bytes as f64 / (1024.0 * 1024.0)
    );
}
