//! A cluster: real `taskyard serve` processes on a fresh PostgreSQL database of the test's own. Dropping it kills
//! the servers, then any workload processes the test named, then drops the database.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

pub use crate::helpers::poll_until;
use crate::helpers::{DATABASE_ENV, START_POSTGRES, Server, TestApp, TestDb, kill_pids, pids_with_cmdline, serve};

/// Where PostgreSQL is when `TASKYARD_TEST_DATABASE_URL` does not say.
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
/// `TASKYARD_SKIP_PG=1` skips the cluster tests.
pub const SKIP_ENV: &str = "TASKYARD_SKIP_PG";
/// `TASKYARD_REQUIRE_PG=1` (CI sets it) makes an unreachable PostgreSQL, or `TASKYARD_SKIP_PG`, a failure.
pub const REQUIRE_ENV: &str = "TASKYARD_REQUIRE_PG";

/// The clusters take turns: each test starts several servers on two cores and some measure times (rescue, cancel)
/// that a concurrent cluster would distort.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One server process, a client for its API, and its boot id (the `node_id` of the jobs it runs).
pub struct Node {
    pub server: Server,
    pub api: TestApp,
    pub id: String,
}

impl Node {
    /// `http://127.0.0.1:PORT`, as the node registry shows it.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.address)
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Scratch files of the test (side-effect files, gates).
    pub dir: Arc<TempDir>,
    pub db: Arc<TestDb>,
    /// Command lines of workload processes to kill when the test ends, however it ends.
    leftovers: Vec<Vec<String>>,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Servers first (their job processes die with them), then what their jobs' shells left behind; the
        // database goes last, with the fields.
        self.nodes.clear();
        for argv in &self.leftovers {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            kill_pids(&pids_with_cmdline(&argv));
        }
    }
}

impl Cluster {
    /// Starts `count` nodes on a new database, each with `args` after `serve --bind 127.0.0.1:0 --database-url`.
    /// `None` (the test returns, saying so loudly) when `TASKYARD_SKIP_PG=1` or PostgreSQL is unreachable, unless
    /// `TASKYARD_REQUIRE_PG=1`: then both are a failure, so that CI never skips these tests unnoticed.
    pub async fn start(count: usize, args: &[String]) -> Option<Cluster> {
        let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
        if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
            assert!(!required, "{SKIP_ENV}=1 and {REQUIRE_ENV}=1: the cluster tests may not be skipped here");
            let _ = writeln!(std::io::stderr(), "SKIPPED: {SKIP_ENV}=1 (the cluster tests need PostgreSQL)");
            return None;
        }
        let turn = TURN.lock().await;
        let server = std::env::var(DATABASE_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_POSTGRES.to_string());
        // One failed connect (it takes the pool's acquire timeout) answers for every test after it.
        static UNREACHABLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let reached = match UNREACHABLE.get() {
            Some(e) => Err(e.clone()),
            None => TestDb::postgres(&server).await.inspect_err(|e| {
                let _ = UNREACHABLE.set(e.clone());
            }),
        };
        let db = match reached {
            Ok(db) => db,
            Err(e) => {
                let hint = format!(
                    "the cluster tests need PostgreSQL at {server}, but: {e}\n\
                     Start it with `{START_POSTGRES}` (or point {DATABASE_ENV} at another server) to run them."
                );
                assert!(!required, "{hint}\n{REQUIRE_ENV}=1: they may not be skipped here");
                // Straight to stderr, past the test harness's capture: a skip must be seen.
                let _ = writeln!(std::io::stderr(), "SKIPPED: {hint}");
                return None;
            }
        };
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir: Arc::new(tempfile::tempdir().expect("create a temp dir")),
            db: Arc::new(db),
            leftovers: Vec::new(),
            _turn: turn,
        };
        cluster.add_nodes(count, args).await;
        Some(cluster)
    }

    /// Starts `count` more nodes at once and waits until each has registered.
    pub async fn add_nodes(&mut self, count: usize, args: &[String]) {
        self.add_nodes_with_env(count, args, &[]).await;
    }

    /// Like [`Cluster::add_nodes`], with these environment variables set for the new nodes.
    pub async fn add_nodes_with_env(&mut self, count: usize, args: &[String], env: &[(&str, &str)]) {
        let url = self.db.url().to_string();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let servers = futures_util::future::join_all((0..count).map(|_| serve(&url, &args, env))).await;
        for server in servers {
            let api = TestApp::external(&server.address, self.dir.clone(), self.db.clone());
            let pid = server.pid as i64;
            let id = poll_until("the node to register", Duration::from_secs(10), async || {
                let nodes = api.get("/api/v1/nodes").await.expect(200, "GET /api/v1/nodes");
                let mine = nodes.as_array().and_then(|n| n.iter().find(|n| n["pid"] == pid).cloned());
                mine.and_then(|n| n["id"].as_str().map(str::to_string)).ok_or_else(|| nodes.to_string())
            })
            .await;
            self.nodes.push(Node { server, api, id });
        }
    }

    /// Kills processes with exactly this command line when the test ends.
    pub fn kill_at_end(&mut self, argv: &[&str]) {
        self.leftovers.push(argv.iter().map(|a| a.to_string()).collect());
    }

    /// The index of the node with this boot id.
    pub fn index_of(&self, node_id: &str) -> usize {
        let ids: Vec<&str> = self.nodes.iter().map(|n| n.id.as_str()).collect();
        ids.iter().position(|id| *id == node_id).unwrap_or_else(|| panic!("node_id {node_id} is none of {ids:?}"))
    }
}

/// `--max-concurrency N` and `--allow P` for each program.
pub fn serve_args(max_concurrency: usize, allow: &[&str], more: &[&str]) -> Vec<String> {
    let mut args = vec!["--max-concurrency".to_string(), max_concurrency.to_string()];
    for program in allow {
        args.extend(["--allow".to_string(), program.to_string()]);
    }
    args.extend(more.iter().map(|a| a.to_string()));
    args
}

/// How many jobs have this status, from `GET /api/v1/jobs?status=S&page=1&size=1`.
pub async fn count_jobs(api: &TestApp, status: &str) -> u64 {
    let page = api.list_jobs(&format!("?status={status}&page=1&size=1")).await.expect(200, "count jobs");
    page["total"].as_u64().unwrap_or_else(|| panic!("a page without total: {page}"))
}

/// Every job, from `GET /api/v1/jobs?page=P&size=1000`.
pub async fn all_jobs(api: &TestApp) -> Vec<Value> {
    let mut jobs = Vec::new();
    for page in 1.. {
        let reply = api.list_jobs(&format!("?page={page}&size=1000")).await.expect(200, "list jobs");
        let items = reply["items"].as_array().unwrap_or_else(|| panic!("a page without items: {reply}"));
        jobs.extend(items.iter().cloned());
        if page >= reply["pages"].as_u64().expect("pages") {
            break;
        }
    }
    jobs
}

/// The node registry as `api` sees it.
pub async fn nodes_seen_by(api: &TestApp) -> Vec<Value> {
    let nodes = api.get("/api/v1/nodes").await.expect(200, "GET /api/v1/nodes");
    nodes.as_array().unwrap_or_else(|| panic!("GET /api/v1/nodes is not an array: {nodes}")).clone()
}
