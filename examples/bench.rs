//! Benchmark: what this machine allows, and what taskyard achieves on it.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench
//! cargo run --release --example bench -- --help
//! ```
//!
//! One run, one machine:
//! 1. the raw spawn rate of `/bin/true` from a tight tokio loop (the physical ceiling for trivial jobs);
//! 2. the real server binary (`target/release/taskyard`) started on a temporary SQLite database;
//! 3. end-to-end jobs/s of a `true` task through the HTTP API, and its ratio to (1);
//! 4. latency from `$execute` to the first SSE event and to the terminal job record;
//! 5. create-task latency and req/s under concurrent clients;
//! 6. the server's RSS when idle at start and its peak (VmHWM) at the end;
//! 7. on a fresh server: one job that prints 1 GiB to stdout (wall time, MB/s, the server's memory meanwhile, and
//!    the job's output totals);
//! 8. on another fresh server: a running job with a retry policy on `lost`, the server killed with SIGKILL and
//!    started again on the same database: time until it listens, and until the job shows its second attempt.
//!
//! 8b. on another fresh server: `--followers` (10,000) `$stream`s of one running job opened at once: connect →
//!     first event, the server's memory per follower, the time until all have the job's last line, and whether
//!     each got every event once (`--followers-only` runs just this).
//!
//! Then the cluster part (skip it with `--no-cluster`): several nodes of the same binary on one PostgreSQL server
//! (`--postgres-url`), each measurement on a fresh database that is dropped afterwards:
//! 9. end-to-end jobs/s as in (3) with 1, 2 and 3 nodes, the `$execute`s spread round-robin over the nodes;
//! 10. latency as in (4) on the 3-node cluster, each `$stream` opened on another node than its `$execute`;
//! 11. on a fresh 3-node cluster with a short lease: six running jobs with a retry policy on `lost`, the node that
//!     runs the most of them killed with SIGKILL: time until a surviving node shows each of them at attempt 2.
//!
//! Results are printed as a Markdown table on stdout; progress goes to stderr.
//! The example does not link the `taskyard` library: it measures the binary a user runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Parser;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[path = "bench/followers.rs"]
mod followers;

/// How often the end-to-end measurement asks the server how many jobs have completed.
const POLL_EVERY: Duration = Duration::from_millis(10);
/// The server's default allow-list (`taskyard serve --help`) plus what the big-output task runs (`sh`, `yes`,
/// `head`): `--allow` replaces the default list rather than adding to it.
const BIG_OUTPUT_ALLOW: &[&str] = &["echo", "true", "false", "sleep", "printf", "date", "env", "sh", "yes", "head"];
/// The line `yes` repeats in the big-output job: 70 characters, 71 bytes with its newline.
const BIG_OUTPUT_LINE: &str = "0123456789012345678901234567890123456789012345678901234567890123456789";
/// How often the server's VmRSS (and the job record) is read while the big-output job runs.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// The job that is running when the server is killed in the rescue measurement.
const RESCUE_COMMAND: &str = "sleep 30";
/// How often the rescue measurement asks for the job record.
const RESCUE_POLL_EVERY: Duration = Duration::from_millis(5);
/// Jobs running when a node of the cluster is killed.
const CLUSTER_RESCUE_JOBS: usize = 6;
/// How often the cluster rescue measurement asks a surviving node for the killed node's jobs.
const CLUSTER_RESCUE_POLL_EVERY: Duration = Duration::from_millis(20);
/// How long the cluster rescue waits for its jobs to end once canceled, before it stops the nodes anyway.
const CLUSTER_CANCEL_WAIT: Duration = Duration::from_secs(10);
/// Prefix of the databases the cluster part creates (and drops); one left behind by an interrupted run is
/// recognizable by it.
const CLUSTER_DATABASE_PREFIX: &str = "taskyard_bench_";

#[derive(Parser, Debug)]
#[command(
    about = "Measure taskyard against this machine's process-spawn ceiling and print a Markdown table",
    after_help = "Build the server first: cargo build --release"
)]
struct Args {
    /// Server binary to start [default: `taskyard` in the same target directory as this example,
    /// normally target/release/taskyard]
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// `--max-concurrency` given to the server (jobs running at once)
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_concurrency: usize,
    /// Processes spawned in the raw spawn measurement
    #[arg(long, default_value_t = 2000, value_name = "N")]
    spawn_n: usize,
    /// Spawns in flight in the raw spawn measurement
    #[arg(long, default_value_t = 16, value_name = "N")]
    spawn_in_flight: usize,
    /// Jobs executed in the end-to-end measurement
    #[arg(long, default_value_t = 2000, value_name = "N")]
    jobs: usize,
    /// Concurrent HTTP clients in the end-to-end and create-task measurements
    #[arg(long, default_value_t = 32, value_name = "N")]
    clients: usize,
    /// Sequential executes in the latency measurement
    #[arg(long, default_value_t = 200, value_name = "N")]
    latency_n: usize,
    /// Tasks created in the create-task measurement
    #[arg(long, default_value_t = 5000, value_name = "N")]
    creates: usize,
    /// Bytes the big-output job prints to stdout (the job must report exactly this many)
    #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
    big_output_bytes: u64,
    /// Give up on a measurement after this many seconds
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    phase_timeout: u64,
    /// Skip the cluster part (several nodes on PostgreSQL)
    #[arg(long)]
    no_cluster: bool,
    /// PostgreSQL server of the cluster part, without a database name; the user must be allowed to create
    /// databases. Each cluster measurement creates its own database there (`taskyard_bench_...`) and drops it after.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432", value_name = "URL")]
    postgres_url: String,
    /// Nodes in the largest cluster: end-to-end runs with 1 up to N nodes; latency and rescue use N (at least 2)
    #[arg(long, default_value_t = 3, value_name = "N")]
    cluster_nodes: usize,
    /// `--lease-seconds` given to the nodes of the cluster rescue measurement
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    cluster_lease_seconds: u64,
    /// Concurrent followers of one running job in the followers measurement (0 skips it)
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    followers: usize,
    /// Run only the followers measurement
    #[arg(long)]
    followers_only: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(err) = run(args).await {
        eprintln!("bench failed: {err:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<()> {
    ensure!(
        args.spawn_n > 0
            && args.spawn_in_flight > 0
            && args.jobs > 0
            && args.clients > 0
            && args.latency_n > 0
            && args.creates > 0
            && args.max_concurrency > 0
            && args.big_output_bytes > 0
            && args.cluster_lease_seconds > 0,
        "every count must be at least 1"
    );
    ensure!(args.no_cluster || args.cluster_nodes >= 2, "--cluster-nodes must be at least 2 (or pass --no-cluster)");
    let server_bin = args.server_bin.clone().unwrap_or_else(default_server_bin);
    if !server_bin.is_file() {
        eprintln!(
            "server binary {} not found.\nBuild it first with `cargo build --release`, or pass --server-bin PATH.",
            server_bin.display()
        );
        std::process::exit(2);
    }
    warn_if_stale(&server_bin);
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow!("a rustls crypto provider was already installed"))?;
    let phase_timeout = Duration::from_secs(args.phase_timeout);
    followers::raise_open_files_limit();
    if args.followers_only {
        ensure!(args.followers > 0, "--followers-only needs --followers N with N at least 1");
        eprintln!("followers: {} `$stream`s of one running job at once, on a fresh server", args.followers);
        let crowd = followers::followers(&server_bin, args.followers, phase_timeout).await?;
        let mut out = format!("\nCommand: `{}`\nMachine: {}.\n\n", invocation(), machine());
        out.push_str("| measurement | how | result |\n| --- | --- | --- |\n");
        followers::report(&mut out, &crowd);
        print!("{out}");
        return Ok(());
    }
    let machine = machine();
    // Before anything else, so that an unreachable PostgreSQL fails the run at once rather than after the SQLite part.
    let postgres = if args.no_cluster { None } else { Some(Postgres::connect(&args.postgres_url).await?) };
    let steps = if args.no_cluster { 7 } else { 10 };

    eprintln!("[1/{steps}] spawning /bin/true {} times, {} in flight", args.spawn_n, args.spawn_in_flight);
    let spawn_rate = raw_spawn_rate(args.spawn_n, args.spawn_in_flight).await?;

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    eprintln!("[2/{steps}] starting {}", server_bin.display());
    let server = Server::start(&server_bin, dir.path(), args.max_concurrency, &[]).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .timeout(phase_timeout)
        .build()
        .context("building the HTTP client")?;
    let api = server.api(&http);
    api.health().await?;
    let idle_rss = proc_status_kib(server.pid, "VmRSS")?;

    eprintln!("[3/{steps}] end to end: {} executes of `true` from {} clients", args.jobs, args.clients);
    let e2e = tokio::time::timeout(phase_timeout, end_to_end(std::slice::from_ref(&api), args.jobs, args.clients))
        .await
        .map_err(|_| anyhow!("end-to-end run did not finish within {phase_timeout:?}"))??;
    eprintln!("      {:.0} jobs/s", args.jobs as f64 / e2e.elapsed.as_secs_f64());

    eprintln!("[4/{steps}] latency: {} sequential executes followed over SSE", args.latency_n);
    let lat = tokio::time::timeout(phase_timeout, latency(std::slice::from_ref(&api), &[], args.latency_n))
        .await
        .map_err(|_| anyhow!("latency run did not finish within {phase_timeout:?}"))??;

    eprintln!("[5/{steps}] create task: {} POST /api/v1/tasks from {} clients", args.creates, args.clients);
    let create = tokio::time::timeout(phase_timeout, create_tasks(&api, args.creates, args.clients))
        .await
        .map_err(|_| anyhow!("create-task run did not finish within {phase_timeout:?}"))??;

    let peak_rss = proc_status_kib(server.pid, "VmHWM")?;
    server.stop().await;

    eprintln!("[6/{steps}] big output: one job printing {} bytes to stdout, on a fresh server", args.big_output_bytes);
    let big = big_output(&server_bin, &api.http, args.max_concurrency, args.big_output_bytes, phase_timeout).await?;

    eprintln!("[7/{steps}] rescue: `{RESCUE_COMMAND}` running, server killed with SIGKILL and started again");
    let rescue = tokio::time::timeout(phase_timeout, rescue(&server_bin, &api.http, args.max_concurrency))
        .await
        .map_err(|_| anyhow!("rescue run did not finish within {phase_timeout:?}"))??;
    if !rescue.survivors.is_empty() {
        eprintln!(
            "warning: processes of the killed server's job outlived the restart (pids {:?}); the bench killed them",
            rescue.survivors
        );
    }
    if !rescue.left_at_end.is_empty() {
        eprintln!(
            "warning: processes of the rescue job were left after cancel and stop (pids {:?}); the bench killed them",
            rescue.left_at_end
        );
    }

    let crowd = match args.followers {
        0 => None,
        n => {
            eprintln!("[7b/{steps}] followers: {n} `$stream`s of one running job at once, on a fresh server");
            Some(followers::followers(&server_bin, n, phase_timeout).await?)
        }
    };

    let cluster = match &postgres {
        Some(postgres) => Some(cluster(&args, &server_bin, &api.http, postgres, phase_timeout).await?),
        None => None,
    };

    let results = Results {
        machine,
        spawn_rate,
        e2e,
        lat,
        create,
        idle_rss_kib: idle_rss,
        peak_rss_kib: peak_rss,
        big,
        rescue,
        crowd,
        cluster,
    };
    print!("{}", report(&args, &server_bin, &results));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (a) the physical ceiling

/// Spawns `/bin/true` `n` times with `in_flight` children alive at once and returns processes/s.
/// The spawn itself runs on the blocking pool: `posix_spawn` blocks its thread until the child execs.
async fn raw_spawn_rate(n: usize, in_flight: usize) -> Result<f64> {
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut set = JoinSet::new();
    let start = Instant::now();
    for _ in 0..n {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        set.spawn(async move {
            let _slot = slot;
            let mut child = tokio::task::spawn_blocking(|| {
                Command::new("/bin/true").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()
            })
            .await?
            .context("spawning /bin/true")?;
            let status = child.wait().await?;
            ensure!(status.success(), "/bin/true ended with {status}");
            Ok(())
        });
        while let Some(done) = set.try_join_next() {
            done??;
        }
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// (b) the server under test

struct Server {
    child: Child,
    pid: u32,
    addr: String,
    /// Its stderr after the `listening on` line.
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `bin serve` on 127.0.0.1:0 (with `extra` flags) and learns its port from the
    /// `listening on http://ADDR` log line. The database is `dir`/bench.db.
    async fn start(bin: &Path, dir: &Path, max_concurrency: usize, extra: &[&str]) -> Result<Server> {
        let database_url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        Server::start_on(bin, dir, &database_url, max_concurrency, extra).await
    }

    /// [`Server::start`] on any database, e.g. a PostgreSQL one shared with other nodes; `dir` is the working
    /// directory.
    async fn start_on(
        bin: &Path,
        dir: &Path,
        database_url: &str,
        max_concurrency: usize,
        extra: &[&str],
    ) -> Result<Server> {
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--database-url"])
            .arg(database_url)
            .arg("--max-concurrency")
            .arg(max_concurrency.to_string())
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The caller's TASKYARD_* settings (an API key, another allow-list) would change what is measured.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TASKYARD_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = listening_addr(&line) {
                    return Ok(Some(addr));
                }
                seen.push(line);
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let addr = match found {
            Ok(Ok(Some(addr))) => addr,
            other => {
                let why = match other {
                    Err(_) => "no `listening on http://` line within 30 s".to_string(),
                    Ok(Err(err)) => format!("reading its stderr failed: {err}"),
                    _ => "it exited before logging `listening on http://`".to_string(),
                };
                let _ = child.kill().await;
                bail!("the server did not start ({why}); its stderr:\n{}", seen.join("\n"));
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe, keeping the warnings.
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("WARN") || line.contains("ERROR") {
                    kept.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            }
        });
        Ok(Server { child, pid, addr, log })
    }

    /// SIGTERM, then SIGKILL if the server is still there after 5 s.
    async fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            eprintln!("warning: the server ignored SIGTERM for 5 s; killing it");
            let _ = self.child.kill().await;
        }
    }

    /// SIGKILL, then reaps it. Returns when the signal was sent.
    async fn kill9(mut self) -> Result<Instant> {
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let at = Instant::now();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).context("SIGKILL the server")?;
        self.child.wait().await.context("reaping the killed server")?;
        Ok(at)
    }

    /// Warning and error lines of its log so far that contain `text`.
    fn log_count(&self, text: &str) -> usize {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|l| l.contains(text)).count()
    }

    fn api(&self, http: &reqwest::Client) -> Api {
        Api { http: http.clone(), base: format!("http://{}", self.addr) }
    }
}

/// `... listening on http://127.0.0.1:41234 ...` -> `127.0.0.1:41234`
fn listening_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let addr: String =
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')).collect();
    (!addr.is_empty()).then_some(addr)
}

fn default_server_bin() -> PathBuf {
    // This example runs from <target>/release/examples/bench; the server is <target>/release/taskyard.
    let beside_examples = |exe: PathBuf| {
        let examples = exe.parent()?;
        let profile_dir = examples.parent()?;
        (examples.file_name()? == "examples").then(|| profile_dir.join("taskyard"))
    };
    std::env::current_exe().ok().and_then(beside_examples).unwrap_or_else(|| PathBuf::from("target/release/taskyard"))
}

/// Warns when a source file is newer than the binary: `cargo run --example` does not rebuild the server.
fn warn_if_stale(bin: &Path) {
    let Ok(built) = bin.metadata().and_then(|m| m.modified()) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newest = ["src", "entity/src", "migration/src"].iter().filter_map(|dir| newest_mtime(&root.join(dir))).max();
    if newest.is_some_and(|newest| newest > built) {
        eprintln!(
            "warning: {} is older than the sources; run `cargo build --release` to measure the current code",
            bin.display()
        );
    }
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            if meta.is_dir() { newest_mtime(&entry.path()) } else { meta.modified().ok() }
        })
        .max()
}

/// A `kB` field of /proc/<pid>/status (VmRSS, VmHWM).
fn proc_status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

// ---------------------------------------------------------------------------------------------
// the HTTP API

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn health(&self) -> Result<()> {
        let resp = self.http.get(self.url("/health")).send().await?;
        expect(resp, StatusCode::OK, "GET /health").await?;
        Ok(())
    }

    async fn create_task(&self, body: &Value) -> Result<String> {
        let resp = self.http.post(self.url("/api/v1/tasks")).json(body).send().await?;
        let task = expect(resp, StatusCode::CREATED, "POST /api/v1/tasks").await?;
        string_field(&task, "id")
    }

    async fn execute(&self, task_id: &str) -> Result<String> {
        let resp =
            self.http.post(self.url(&format!("/api/v1/tasks/{task_id}/$execute"))).json(&json!({})).send().await?;
        let accepted = expect(resp, StatusCode::ACCEPTED, "POST /api/v1/tasks/{id}/$execute").await?;
        string_field(&accepted, "job_id")
    }

    /// GET /api/v1/nodes
    async fn nodes(&self) -> Result<Vec<Value>> {
        let resp = self.http.get(self.url("/api/v1/nodes")).send().await?;
        let nodes = expect(resp, StatusCode::OK, "GET /api/v1/nodes").await?;
        nodes.as_array().cloned().with_context(|| format!("GET /api/v1/nodes: not an array: {nodes}"))
    }

    async fn job(&self, job_id: &str) -> Result<Value> {
        let resp = self.http.get(self.url(&format!("/api/v1/jobs/{job_id}"))).send().await?;
        expect(resp, StatusCode::OK, "GET /api/v1/jobs/{id}").await
    }

    async fn cancel(&self, job_id: &str) -> Result<()> {
        let resp = self.http.delete(self.url(&format!("/api/v1/jobs/{job_id}"))).send().await?;
        expect(resp, StatusCode::ACCEPTED, "DELETE /api/v1/jobs/{id}").await?;
        Ok(())
    }

    /// `total` of GET /api/v1/jobs?task_id=..&status=..&page=1&size=1
    async fn count_jobs(&self, task_id: &str, status: &str) -> Result<(u64, Value)> {
        let url = self.url(&format!("/api/v1/jobs?task_id={task_id}&status={status}&page=1&size=1"));
        let resp = self.http.get(url).send().await?;
        let page = expect(resp, StatusCode::OK, "GET /api/v1/jobs?page=1&size=1").await?;
        let total = page["total"].as_u64().context("paginated job list without `total`")?;
        Ok((total, page["items"][0].clone()))
    }
}

async fn expect(resp: reqwest::Response, want: StatusCode, what: &str) -> Result<Value> {
    let status = resp.status();
    let body = resp.text().await?;
    ensure!(status == want, "{what}: expected {want}, got {status}: {body}");
    serde_json::from_str(&body).with_context(|| format!("{what}: body is not JSON: {body}"))
}

fn string_field(value: &Value, key: &str) -> Result<String> {
    value[key].as_str().map(str::to_owned).with_context(|| format!("no string `{key}` in {value}"))
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "canceled")
}

// ---------------------------------------------------------------------------------------------
// (c) end-to-end throughput

struct EndToEnd {
    elapsed: Duration,
    submit_elapsed: Duration,
}

/// Executes one `true` task `jobs` times from `clients` concurrent clients, and polls the completed
/// count every [`POLL_EVERY`] until it reaches `jobs`. Measured from the first `$execute` to the poll
/// that saw the last job completed, so the figure errs by at most one poll interval, on the slow side.
/// With several nodes (`apis`), the `$execute`s go to them round-robin (the i-th to node i mod n); the task is
/// created and the count polled on the first.
async fn end_to_end(apis: &[Api], jobs: usize, clients: usize) -> Result<EndToEnd> {
    let api = &apis[0];
    let apis: Arc<[Api]> = apis.into();
    let task_id = api.create_task(&json!({"name": "bench-true", "command": "true"})).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let mut submitters = JoinSet::new();
    let start = Instant::now();
    for _ in 0..clients.min(jobs) {
        let (apis, next, task_id) = (Arc::clone(&apis), Arc::clone(&next), task_id.clone());
        submitters.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    break;
                }
                apis[i % apis.len()].execute(&task_id).await?;
            }
            Ok::<_, anyhow::Error>(Instant::now())
        });
    }
    let mut submit_done = start;
    let mut polls = 0u64;
    loop {
        while let Some(submitted) = submitters.try_join_next() {
            submit_done = submit_done.max(submitted??);
        }
        let (completed, _) = api.count_jobs(&task_id, "completed").await?;
        if completed >= jobs as u64 {
            break;
        }
        polls += 1;
        if polls.is_multiple_of(50) {
            let (failed, sample) = api.count_jobs(&task_id, "failed").await?;
            ensure!(failed == 0, "{failed} `true` jobs failed, e.g. {sample}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let elapsed = start.elapsed();
    while let Some(submitted) = submitters.join_next().await {
        submit_done = submit_done.max(submitted??);
    }
    Ok(EndToEnd { elapsed, submit_elapsed: submit_done - start })
}

// ---------------------------------------------------------------------------------------------
// (d) latency over SSE

struct Latency {
    accepted: Vec<Duration>,
    first_event: Vec<Duration>,
    finished: Vec<Duration>,
    /// Jobs that ran on another node than the one their `$stream` was opened on (counted only when the nodes'
    /// boot ids are given).
    ran_elsewhere: usize,
}

/// `n` sequential executes of `true`; each job's `$stream` is opened right after the 202. With several nodes
/// (`apis`), the i-th `$execute` goes to node i mod n and its `$stream` to node i+1 mod n; `node_ids` (boot ids,
/// in the order of `apis`, or empty) tell on which node's stream the job ran elsewhere.
async fn latency(apis: &[Api], node_ids: &[String], n: usize) -> Result<Latency> {
    let task_id = apis[0].create_task(&json!({"name": "bench-latency", "command": "true"})).await?;
    let mut lat = Latency {
        accepted: Vec::with_capacity(n),
        first_event: Vec::with_capacity(n),
        finished: Vec::with_capacity(n),
        ran_elsewhere: 0,
    };
    for i in 0..n {
        let (exec_api, stream_at) = (&apis[i % apis.len()], (i + 1) % apis.len());
        let stream_api = &apis[stream_at];
        let t0 = Instant::now();
        let job_id = exec_api.execute(&task_id).await?;
        lat.accepted.push(t0.elapsed());
        let resp = stream_api.http.get(stream_api.url(&format!("/api/v1/jobs/{job_id}/$stream"))).send().await?;
        ensure!(resp.status() == StatusCode::OK, "GET /api/v1/jobs/{{id}}/$stream: {}", resp.status());
        // The first bytes are the `retry:` field, sent at once; what a client waits for is the first event.
        let mut events = resp.bytes_stream().eventsource();
        let (mut last_job, mut first) = (None, true);
        while let Some(event) = events.next().await {
            let event = event.map_err(|err| anyhow!("job {job_id} stream: {err}"))?;
            if std::mem::take(&mut first) {
                lat.first_event.push(t0.elapsed());
            }
            if event.event != "message" {
                continue;
            }
            let job: Value =
                serde_json::from_str(&event.data).with_context(|| format!("job record is not JSON: {}", event.data))?;
            if is_terminal(job["status"].as_str().unwrap_or_default()) {
                lat.finished.push(t0.elapsed());
                last_job = Some(job);
                break;
            }
        }
        let job = last_job.with_context(|| format!("job {job_id}: stream ended before a terminal record"))?;
        ensure!(job["status"] == "completed", "job {job_id} did not complete: {job}");
        if let Some(stream_node) = node_ids.get(stream_at)
            && job["node_id"].as_str() != Some(stream_node.as_str())
        {
            lat.ran_elsewhere += 1;
        }
    }
    Ok(lat)
}

// ---------------------------------------------------------------------------------------------
// (e) create-task latency and rate

struct Creates {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

async fn create_tasks(api: &Api, n: usize, clients: usize) -> Result<Creates> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    let start = Instant::now();
    for _ in 0..clients.min(n) {
        let (api, next) = (api.clone(), Arc::clone(&next));
        set.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let body = json!({
                    "name": format!("bench-task-{i}"),
                    "command": "echo hello {who}",
                    "params": {"who": "bench"},
                    "tags": ["bench"],
                });
                let t0 = Instant::now();
                api.create_task(&body).await?;
                latencies.push(t0.elapsed());
            }
        });
    }
    let mut latencies = Vec::with_capacity(n);
    while let Some(done) = set.join_next().await {
        latencies.extend(done??);
    }
    Ok(Creates { latencies, elapsed: start.elapsed() })
}

// ---------------------------------------------------------------------------------------------
// (f) one job printing a lot

struct BigOutput {
    /// The job record's `duration_ms` (started_at to finished_at).
    duration: Duration,
    /// VmRSS of the fresh server with the task created, right before `$execute`.
    rss_before_kib: u64,
    /// The largest VmRSS sampled every [`RSS_SAMPLE_EVERY`] while the job ran.
    rss_max_sampled_kib: u64,
    /// VmHWM after the job ended: the server's peak over its whole (short) life. The kernel updates it lazily
    /// (when memory is unmapped), so it can read a little below the largest sampled VmRSS.
    hwm_after_kib: u64,
    stdout_bytes: u64,
    stdout_lines: u64,
    dropped_bytes: u64,
    dropped_lines: u64,
}

/// On a fresh server (so that VmHWM means "memory while printing this much"), runs one job that prints `bytes`
/// bytes to stdout and waits for its final record, sampling the server's VmRSS meanwhile.
async fn big_output(
    bin: &Path,
    http: &reqwest::Client,
    max_concurrency: usize,
    bytes: u64,
    phase_timeout: Duration,
) -> Result<BigOutput> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let extra: Vec<&str> = BIG_OUTPUT_ALLOW.iter().flat_map(|program| ["--allow", program]).collect();
    let server = Server::start(bin, dir.path(), max_concurrency, &extra).await?;
    let api = server.api(http);
    api.health().await?;
    let command = format!("sh -c 'yes {BIG_OUTPUT_LINE} | head -c {bytes}'");
    let task_id = api.create_task(&json!({"name": "bench-big-output", "command": command})).await?;
    let rss_before_kib = proc_status_kib(server.pid, "VmRSS")?;
    let job_id = api.execute(&task_id).await?;
    let mut rss_max_sampled_kib = rss_before_kib;
    // The job's own time is measured by the server; this deadline only stops a run that hangs.
    let deadline = Instant::now() + phase_timeout;
    let job = loop {
        rss_max_sampled_kib = rss_max_sampled_kib.max(proc_status_kib(server.pid, "VmRSS")?);
        let job = api.job(&job_id).await?;
        if is_terminal(job["status"].as_str().unwrap_or_default()) {
            break job;
        }
        ensure!(Instant::now() < deadline, "the big-output job did not finish within {phase_timeout:?}: {job}");
        tokio::time::sleep(RSS_SAMPLE_EVERY).await;
    };
    let hwm_after_kib = proc_status_kib(server.pid, "VmHWM")?;
    server.stop().await;

    ensure!(job["status"] == "completed", "the big-output job did not complete: {job}");
    let field = |key: &str| job[key].as_u64().with_context(|| format!("no `{key}` in the job record {job}"));
    let stdout_bytes = field("stdout_bytes")?;
    ensure!(
        stdout_bytes == bytes,
        "the big-output job printed {bytes} bytes but its record says {stdout_bytes}: {job}"
    );
    Ok(BigOutput {
        duration: Duration::from_millis(field("duration_ms")?),
        rss_before_kib,
        rss_max_sampled_kib,
        hwm_after_kib,
        stdout_bytes,
        stdout_lines: field("stdout_lines")?,
        dropped_bytes: field("dropped_bytes")?,
        dropped_lines: field("dropped_lines")?,
    })
}

// ---------------------------------------------------------------------------------------------
// (g) rescue after SIGKILL

struct Rescue {
    /// From SIGKILL to the new server's `listening on` line.
    listening: Duration,
    /// From SIGKILL to a GET that shows the job at attempt 2 (pending or running).
    next_attempt: Duration,
    /// The job's status in that GET.
    next_status: String,
    /// Processes of the first attempt seen before the kill.
    first_attempt_processes: usize,
    /// Processes of the first attempt still alive once the job showed attempt 2.
    survivors: Vec<u32>,
    /// Processes of the job still alive after the job was canceled and the server stopped (killed by the bench).
    left_at_end: Vec<u32>,
}

/// On a fresh server: a `sleep 30` job whose retry policy covers `lost` is running; the server gets SIGKILL and is
/// started again on the same database.
async fn rescue(bin: &Path, http: &reqwest::Client, max_concurrency: usize) -> Result<Rescue> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let server = Server::start(bin, dir.path(), max_concurrency, &[]).await?;
    let api = server.api(http);
    api.health().await?;
    let task_id = api
        .create_task(&json!({
            "name": "bench-rescue",
            "command": RESCUE_COMMAND,
            "retry": {"max_attempts": 2, "on": ["lost"], "initial_delay_seconds": 0},
        }))
        .await?;
    let job_id = api.execute(&task_id).await?;
    let _guard = JobProcessesGuard(job_id.clone());

    let job = poll_job(&api, &job_id, |job| job["status"] != "pending").await?;
    ensure!(job["status"] == "running" && job["attempt"] == 1, "the rescue job did not start: {job}");
    let first_attempt_processes = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = job_processes(&job_id, Some(1));
            if !pids.is_empty() || Instant::now() > deadline {
                break pids.len();
            }
            tokio::time::sleep(RESCUE_POLL_EVERY).await;
        }
    };
    ensure!(first_attempt_processes > 0, "job {job_id} is running but no process of it was found");

    let killed_at = server.kill9().await?;
    let server = Server::start(bin, dir.path(), max_concurrency, &[]).await?;
    let listening = killed_at.elapsed();
    let api = server.api(http);
    let job = poll_job(&api, &job_id, |job| {
        job["attempt"].as_u64().is_some_and(|a| a >= 2) || is_terminal(job["status"].as_str().unwrap_or_default())
    })
    .await?;
    let next_attempt = killed_at.elapsed();
    let next_status = job["status"].as_str().unwrap_or_default().to_string();
    ensure!(
        job["attempt"] == 2 && matches!(next_status.as_str(), "pending" | "running"),
        "after the restart the job should be at attempt 2, pending or running: {job}"
    );
    let survivors = job_processes(&job_id, Some(1));

    // Clean up: cancel the second attempt, stop the server, and kill whatever of the job is still there.
    api.cancel(&job_id).await?;
    let job = poll_job(&api, &job_id, |job| is_terminal(job["status"].as_str().unwrap_or_default())).await?;
    ensure!(job["status"] == "canceled", "the rescued job should end canceled: {job}");
    server.stop().await;
    let left_at_end = job_processes(&job_id, None);
    kill_pids(&left_at_end);
    Ok(Rescue { listening, next_attempt, next_status, first_attempt_processes, survivors, left_at_end })
}

/// GETs the job every [`RESCUE_POLL_EVERY`] until `done` says so (the caller's timeout bounds it).
async fn poll_job(api: &Api, job_id: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
    poll_job_every(api, job_id, RESCUE_POLL_EVERY, done).await
}

/// GETs the job every `every` until `done` says so (the caller's timeout bounds it).
async fn poll_job_every(api: &Api, job_id: &str, every: Duration, done: impl Fn(&Value) -> bool) -> Result<Value> {
    loop {
        let job = api.job(job_id).await?;
        if done(&job) {
            return Ok(job);
        }
        tokio::time::sleep(every).await;
    }
}

/// Live processes of a job (of one attempt, if given), found by the `TASKYARD_JOB_ID` and `TASKYARD_ATTEMPT`
/// variables the server puts in every job's environment. Zombies have no readable environment and are not counted.
fn job_processes(job_id: &str, attempt: Option<u32>) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let job_var = format!("TASKYARD_JOB_ID={job_id}");
    let attempt_var = attempt.map(|a| format!("TASKYARD_ATTEMPT={a}"));
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
            let has = |var: &str| environ.split(|b| *b == 0).any(|v| v == var.as_bytes());
            has(&job_var) && attempt_var.as_deref().is_none_or(has)
        })
        .collect()
}

fn kill_pids(pids: &[u32]) {
    for pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Kills every process of the job when dropped, so that no `sleep 30` outlives a failed run of the bench.
struct JobProcessesGuard(String);

impl Drop for JobProcessesGuard {
    fn drop(&mut self) {
        kill_pids(&job_processes(&self.0, None));
    }
}

// ---------------------------------------------------------------------------------------------
// (h) the cluster: several nodes on PostgreSQL

/// An administrative connection to the PostgreSQL server of the cluster part, which creates and drops one database
/// per measurement.
struct Postgres {
    /// `postgres://user@host:port`, without a database.
    base: String,
    admin: sea_orm::DatabaseConnection,
    /// `SHOW server_version`
    version: String,
}

impl Postgres {
    async fn connect(url: &str) -> Result<Postgres> {
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
    async fn with_fresh_database<T>(
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

struct ClusterResults {
    /// PostgreSQL's version.
    postgres: String,
    /// End-to-end runs with 1, 2, ... nodes.
    e2e: Vec<EndToEnd>,
    /// Latency on the largest cluster, streams opened on another node than the `$execute`.
    lat: Latency,
    rescue: ClusterRescue,
}

/// The cluster part: end-to-end runs with 1 up to `--cluster-nodes` nodes (the latency measurement follows the
/// last one, on the same nodes), then the rescue of a killed node's jobs. Each on a fresh database.
async fn cluster(
    args: &Args,
    bin: &Path,
    http: &reqwest::Client,
    postgres: &Postgres,
    phase_timeout: Duration,
) -> Result<ClusterResults> {
    let max_nodes = args.cluster_nodes;
    eprintln!(
        "[8/10] cluster end to end on PostgreSQL {}: {} executes of `true` from {} clients, 1 to {max_nodes} nodes",
        postgres.version, args.jobs, args.clients
    );
    let mut e2e = Vec::with_capacity(max_nodes);
    let mut lat = None;
    for nodes in 1..=max_nodes {
        let last = nodes == max_nodes;
        let what = format!("cluster end-to-end run with {nodes} node(s)");
        // The latency measurement runs on the same nodes after the last end-to-end run: give it its own time.
        let timeout = if last { phase_timeout * 2 } else { phase_timeout };
        let (run, latency) = postgres
            .with_fresh_database(&what, timeout, async |database_url| {
                let dir = tempfile::tempdir().context("creating a temporary directory")?;
                let servers = start_nodes(bin, dir.path(), &database_url, nodes, args.max_concurrency, &[]).await?;
                let apis: Vec<Api> = servers.iter().map(|server| server.api(http)).collect();
                for api in &apis {
                    api.health().await?;
                }
                let run = end_to_end(&apis, args.jobs, args.clients).await?;
                eprintln!("      {nodes} node(s): {:.0} jobs/s", args.jobs as f64 / run.elapsed.as_secs_f64());
                let latency = if last {
                    eprintln!(
                        "[9/10] cluster latency: {} sequential executes on {nodes} nodes, each followed over SSE on \
                         another node",
                        args.latency_n
                    );
                    let node_ids = node_ids(&apis[0], &servers).await?;
                    Some(latency(&apis, &node_ids, args.latency_n).await?)
                } else {
                    None
                };
                stop_nodes(servers).await;
                Ok((run, latency))
            })
            .await?;
        e2e.push(run);
        lat = lat.or(latency);
    }
    let lat = lat.context("no latency measurement")?;

    eprintln!(
        "[10/10] cluster rescue: {CLUSTER_RESCUE_JOBS} `{RESCUE_COMMAND}` jobs on {max_nodes} nodes with \
         --lease-seconds {}, the busiest node killed with SIGKILL",
        args.cluster_lease_seconds
    );
    let rescue = postgres
        .with_fresh_database("cluster rescue", phase_timeout, async |database_url| {
            cluster_rescue(bin, http, &database_url, max_nodes, args.max_concurrency, args.cluster_lease_seconds).await
        })
        .await?;
    if !rescue.survivors.is_empty() {
        eprintln!(
            "warning: processes of the killed node's jobs outlived the rescue (pids {:?}); the bench killed them",
            rescue.survivors
        );
    }
    if !rescue.not_canceled.is_empty() {
        eprintln!(
            "warning: jobs of the cluster rescue were not canceled within {CLUSTER_CANCEL_WAIT:?} of DELETE: {:?}",
            rescue.not_canceled
        );
    }
    if !rescue.left_at_end.is_empty() {
        eprintln!(
            "warning: processes of the cluster rescue's jobs were left after cancel and stop (pids {:?}); the bench \
             killed them",
            rescue.left_at_end
        );
    }
    Ok(ClusterResults { postgres: postgres.version.clone(), e2e, lat, rescue })
}

/// Starts `n` nodes on `database_url`, one after the other (each waits for the previous one's `listening on`).
async fn start_nodes(
    bin: &Path,
    dir: &Path,
    database_url: &str,
    n: usize,
    max_concurrency: usize,
    extra: &[&str],
) -> Result<Vec<Server>> {
    let mut servers = Vec::with_capacity(n);
    for i in 0..n {
        let server = Server::start_on(bin, dir, database_url, max_concurrency, extra)
            .await
            .with_context(|| format!("starting node {} of {n}", i + 1))?;
        servers.push(server);
    }
    Ok(servers)
}

/// Stops the nodes all at once (SIGTERM each, SIGKILL any still there after 5 s).
async fn stop_nodes(servers: Vec<Server>) {
    futures_util::future::join_all(servers.into_iter().map(Server::stop)).await;
}

/// The boot ids of `servers`, in their order, from `GET /api/v1/nodes` (matched by pid). A node registers itself
/// shortly after it starts listening, so this asks again for up to 5 s until every node is there.
async fn node_ids(api: &Api, servers: &[Server]) -> Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let nodes = api.nodes().await?;
        let ids: Result<Vec<String>> = servers
            .iter()
            .map(|server| {
                nodes
                    .iter()
                    .find(|node| node["pid"].as_u64() == Some(u64::from(server.pid)) && node["status"] == "up")
                    .and_then(|node| node["id"].as_str().map(str::to_owned))
                    .with_context(|| format!("no `up` node with pid {} in GET /api/v1/nodes: {nodes:?}", server.pid))
            })
            .collect();
        if ids.is_ok() || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct ClusterRescue {
    lease_seconds: u64,
    nodes: usize,
    /// Jobs the killed node ran.
    killed_jobs: usize,
    /// For each of the killed node's jobs: from SIGKILL to a GET on a surviving node that shows it at attempt 2.
    to_next_attempt: Vec<Duration>,
    /// The killed node's jobs that were already running again (rather than pending) when first seen at attempt 2.
    running_again: usize,
    /// Jobs of the surviving nodes, and how many of them were still running their first attempt once the killed
    /// node's jobs all showed attempt 2.
    other_jobs: usize,
    others_untouched: usize,
    /// Processes of the killed node's jobs' first attempts still alive once they all showed attempt 2.
    survivors: Vec<u32>,
    /// Jobs that did not end within [`CLUSTER_CANCEL_WAIT`] of their DELETE.
    not_canceled: Vec<String>,
    /// Processes of the jobs still alive after the jobs were canceled and the nodes stopped (killed by the bench).
    left_at_end: Vec<u32>,
}

/// On a fresh cluster of `n` nodes with a lease of `lease_seconds`: [`CLUSTER_RESCUE_JOBS`] `sleep 30` jobs whose
/// retry policy covers `lost` run; the node that runs the most of them gets SIGKILL, and a surviving node is asked
/// every [`CLUSTER_RESCUE_POLL_EVERY`] for each of the killed node's jobs until it shows attempt 2.
async fn cluster_rescue(
    bin: &Path,
    http: &reqwest::Client,
    database_url: &str,
    n: usize,
    max_concurrency: usize,
    lease_seconds: u64,
) -> Result<ClusterRescue> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let lease = lease_seconds.to_string();
    let mut servers =
        start_nodes(bin, dir.path(), database_url, n, max_concurrency, &["--lease-seconds", &lease]).await?;
    let mut apis: Vec<Api> = servers.iter().map(|server| server.api(http)).collect();
    for api in &apis {
        api.health().await?;
    }
    let task_id = apis[0]
        .create_task(&json!({
            "name": "bench-cluster-rescue",
            "command": RESCUE_COMMAND,
            "retry": {"max_attempts": 2, "on": ["lost"], "initial_delay_seconds": 0},
        }))
        .await?;
    let mut job_ids = Vec::with_capacity(CLUSTER_RESCUE_JOBS);
    let mut _guards = Vec::with_capacity(CLUSTER_RESCUE_JOBS);
    for i in 0..CLUSTER_RESCUE_JOBS {
        let job_id = apis[i % n].execute(&task_id).await?;
        _guards.push(JobProcessesGuard(job_id.clone()));
        job_ids.push(job_id);
    }

    // Every job running, with a process of its first attempt to be seen.
    let mut running = Vec::with_capacity(job_ids.len());
    for job_id in &job_ids {
        let job = poll_job_every(&apis[0], job_id, CLUSTER_RESCUE_POLL_EVERY, |job| job["status"] != "pending").await?;
        ensure!(job["status"] == "running" && job["attempt"] == 1, "a cluster rescue job did not start: {job}");
        running.push(job);
    }
    for job_id in &job_ids {
        while job_processes(job_id, Some(1)).is_empty() {
            tokio::time::sleep(CLUSTER_RESCUE_POLL_EVERY).await;
        }
    }

    // The node running the most of them (the first such, on a tie).
    let ids = node_ids(&apis[0], &servers).await?;
    let node_of = |job: &Value| ids.iter().position(|id| job["node_id"].as_str() == Some(id.as_str()));
    let mut per_node = vec![0usize; n];
    for job in &running {
        per_node[node_of(job).with_context(|| format!("job on no known node: {job}"))?] += 1;
    }
    let victim = (0..n).max_by_key(|&i| (per_node[i], std::cmp::Reverse(i))).context("no nodes")?;
    let (mut killed_jobs, mut other_jobs) = (Vec::new(), Vec::new());
    for (job_id, job) in job_ids.iter().zip(&running) {
        if node_of(job) == Some(victim) { &mut killed_jobs } else { &mut other_jobs }.push(job_id.clone());
    }
    eprintln!("      jobs per node {per_node:?}; killing node {} of {n}", victim + 1);

    let victim_server = servers.remove(victim);
    apis.remove(victim);
    let survivor = &apis[0];
    let killed_at = victim_server.kill9().await?;
    let mut to_next_attempt = Vec::with_capacity(killed_jobs.len());
    let mut running_again = 0;
    let mut waiting: Vec<&String> = killed_jobs.iter().collect();
    while !waiting.is_empty() {
        let mut still = Vec::with_capacity(waiting.len());
        for job_id in waiting {
            let job = survivor.job(job_id).await?;
            let status = job["status"].as_str().unwrap_or_default();
            if job["attempt"].as_u64().is_some_and(|a| a >= 2) || is_terminal(status) {
                let at = killed_at.elapsed();
                ensure!(
                    job["attempt"] == 2 && matches!(status, "pending" | "running"),
                    "after the kill, the job should be at attempt 2, pending or running: {job}"
                );
                to_next_attempt.push(at);
                running_again += usize::from(status == "running");
            } else {
                still.push(job_id);
            }
        }
        waiting = still;
        if !waiting.is_empty() {
            tokio::time::sleep(CLUSTER_RESCUE_POLL_EVERY).await;
        }
    }
    let survivors: Vec<u32> = killed_jobs.iter().flat_map(|job_id| job_processes(job_id, Some(1))).collect();
    let mut others_untouched = 0;
    for job_id in &other_jobs {
        let job = survivor.job(job_id).await?;
        others_untouched += usize::from(job["status"] == "running" && job["attempt"] == 1);
    }

    // Clean up: cancel every job, stop the surviving nodes, and kill whatever of the jobs is still there.
    for job_id in &job_ids {
        survivor.cancel(job_id).await?;
    }
    let deadline = Instant::now() + CLUSTER_CANCEL_WAIT;
    let mut not_canceled: Vec<String> = job_ids.clone();
    while !not_canceled.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for job_id in not_canceled {
            let job = survivor.job(&job_id).await?;
            if !is_terminal(job["status"].as_str().unwrap_or_default()) {
                still.push(job_id);
            }
        }
        not_canceled = still;
        if !not_canceled.is_empty() {
            tokio::time::sleep(CLUSTER_RESCUE_POLL_EVERY).await;
        }
    }
    stop_nodes(servers).await;
    let left_at_end: Vec<u32> = job_ids.iter().flat_map(|job_id| job_processes(job_id, None)).collect();
    kill_pids(&left_at_end);
    Ok(ClusterRescue {
        lease_seconds,
        nodes: n,
        killed_jobs: killed_jobs.len(),
        to_next_attempt,
        running_again,
        other_jobs: other_jobs.len(),
        others_untouched,
        survivors,
        not_canceled,
        left_at_end,
    })
}

// ---------------------------------------------------------------------------------------------
// the report

struct Results {
    machine: String,
    spawn_rate: f64,
    e2e: EndToEnd,
    lat: Latency,
    create: Creates,
    idle_rss_kib: u64,
    peak_rss_kib: u64,
    big: BigOutput,
    rescue: Rescue,
    crowd: Option<followers::Followers>,
    cluster: Option<ClusterResults>,
}

fn report(args: &Args, server_bin: &Path, r: &Results) -> String {
    let Results { machine, spawn_rate, e2e, lat, create, idle_rss_kib, peak_rss_kib, big, rescue, crowd, cluster } = r;
    let spawn_rate = *spawn_rate;
    let jobs_per_s = args.jobs as f64 / e2e.elapsed.as_secs_f64();
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(out, "Command: `{}`", invocation());
    let _ = writeln!(
        out,
        "Machine: {}; server `{}` on SQLite (temporary directory), `--max-concurrency {}`.",
        machine,
        server_bin.display(),
        args.max_concurrency
    );
    match cluster {
        Some(cluster) => {
            let _ = writeln!(
                out,
                "Cluster rows: nodes of the same binary on PostgreSQL {} at `{}`, `--max-concurrency {}` each, a fresh database per measurement.",
                cluster.postgres, args.postgres_url, args.max_concurrency
            );
        }
        None => {
            let _ = writeln!(out, "Cluster part skipped (`--no-cluster`).");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "| measurement | how | result |");
    let _ = writeln!(out, "| --- | --- | --- |");
    let _ = writeln!(
        out,
        "| spawn `/bin/true` (the ceiling) | tokio::process inside `spawn_blocking`, {} in flight, N={} | {} proc/s |",
        args.spawn_in_flight,
        thousands(args.spawn_n as f64),
        thousands(spawn_rate)
    );
    let _ = writeln!(
        out,
        "| end-to-end `true` jobs | {} `$execute` from {} clients; first `$execute` to last job `completed` (completed count polled every {} ms) | {} jobs/s ({:.0}% of spawn) |",
        thousands(args.jobs as f64),
        args.clients,
        POLL_EVERY.as_millis(),
        thousands(jobs_per_s),
        100.0 * jobs_per_s / spawn_rate
    );
    let _ = writeln!(
        out,
        "| `$execute` accepted (202) | same run, until the last 202 | {} req/s |",
        thousands(args.jobs as f64 / e2e.submit_elapsed.as_secs_f64())
    );
    let _ = writeln!(
        out,
        "| `$execute` → 202 | {} sequential executes of `true` | {} |",
        args.latency_n,
        p50_p99(&lat.accepted)
    );
    let _ = writeln!(
        out,
        "| `$execute` → first SSE event | same; `$stream` opened right after the 202 | {} |",
        p50_p99(&lat.first_event)
    );
    let _ = writeln!(out, "| `$execute` → terminal SSE record | same | {} |", p50_p99(&lat.finished));
    let _ = writeln!(
        out,
        "| create task | {} `POST /api/v1/tasks` from {} clients | {}, {} req/s |",
        thousands(args.creates as f64),
        args.clients,
        p50_p99(&create.latencies),
        thousands(args.creates as f64 / create.elapsed.as_secs_f64())
    );
    let _ = writeln!(
        out,
        "| server RSS | idle after start (VmRSS) / peak at the end (VmHWM) | {:.1} MiB / {:.1} MiB |",
        *idle_rss_kib as f64 / 1024.0,
        *peak_rss_kib as f64 / 1024.0
    );
    let big_secs = big.duration.as_secs_f64();
    let _ = writeln!(
        out,
        "| big output | one job `sh -c 'yes <70 chars> \\| head -c {}'` on a fresh server; the job record's `duration_ms` | {} bytes in {:.2} s, {} MB/s |",
        args.big_output_bytes,
        thousands(args.big_output_bytes as f64),
        big_secs,
        thousands(big.stdout_bytes as f64 / 1e6 / big_secs)
    );
    let _ = writeln!(
        out,
        "| server RSS, big output | VmRSS before `$execute` / max VmRSS sampled every {} ms during the job / VmHWM after | {:.1} MiB / {:.1} MiB / {:.1} MiB |",
        RSS_SAMPLE_EVERY.as_millis(),
        big.rss_before_kib as f64 / 1024.0,
        big.rss_max_sampled_kib as f64 / 1024.0,
        big.hwm_after_kib as f64 / 1024.0
    );
    let _ = writeln!(
        out,
        "| big output, job record | `stdout_bytes` / `stdout_lines` / `dropped_bytes` (`dropped_lines`) | {} / {} / {} ({}) |",
        thousands(big.stdout_bytes as f64),
        thousands(big.stdout_lines as f64),
        thousands(big.dropped_bytes as f64),
        thousands(big.dropped_lines as f64)
    );
    let _ = writeln!(
        out,
        "| rescue: `kill -9` → listening | `{RESCUE_COMMAND}` running (retry on `lost`, 2 attempts, no delay); SIGKILL the server, start it on the same SQLite file; until its `listening on` line | {:.0} ms |",
        rescue.listening.as_secs_f64() * 1000.0
    );
    let _ = writeln!(
        out,
        "| rescue: `kill -9` → attempt 2 | same; until `GET /api/v1/jobs/{{id}}` shows attempt 2 (polled every {} ms) | {:.0} ms ({}) |",
        RESCUE_POLL_EVERY.as_millis(),
        rescue.next_attempt.as_secs_f64() * 1000.0,
        rescue.next_status
    );
    let _ = writeln!(
        out,
        "| rescue: leftover processes | attempt-1 processes alive once attempt 2 shows (of those before the kill) / job processes left after cancel and stop | {} (of {}) / {} |",
        rescue.survivors.len(),
        rescue.first_attempt_processes,
        rescue.left_at_end.len()
    );
    if let Some(crowd) = crowd {
        followers::report(&mut out, crowd);
    }
    if let Some(cluster) = cluster {
        report_cluster(&mut out, args, spawn_rate, jobs_per_s, cluster);
    }
    out
}

fn report_cluster(out: &mut String, args: &Args, spawn_rate: f64, sqlite_jobs_per_s: f64, cluster: &ClusterResults) {
    let ClusterResults { e2e, lat, rescue, .. } = cluster;
    for (i, run) in e2e.iter().enumerate() {
        let nodes = i + 1;
        let jobs_per_s = args.jobs as f64 / run.elapsed.as_secs_f64();
        let how = if nodes == 1 {
            format!(
                "as the SQLite row: {} `$execute` from {} clients, to the one node; fresh database",
                thousands(args.jobs as f64),
                args.clients
            )
        } else {
            format!("same, the `$execute`s round-robin over the {nodes} nodes; completed count polled on the first")
        };
        let _ = writeln!(
            out,
            "| end-to-end `true` jobs, PostgreSQL, {nodes} node{} | {how} | {} jobs/s ({:.0}% of spawn, {:.2}× SQLite's {}); 202s at {} req/s |",
            if nodes == 1 { "" } else { "s" },
            thousands(jobs_per_s),
            100.0 * jobs_per_s / spawn_rate,
            jobs_per_s / sqlite_jobs_per_s,
            thousands(sqlite_jobs_per_s),
            thousands(args.jobs as f64 / run.submit_elapsed.as_secs_f64())
        );
    }
    let nodes = e2e.len();
    let _ = writeln!(
        out,
        "| cluster `$execute` → 202 | {nodes} nodes, after the {nodes}-node run: {} sequential executes of `true`, the i-th sent to node i mod {nodes} | {} |",
        args.latency_n,
        p50_p99(&lat.accepted)
    );
    let _ = writeln!(
        out,
        "| cluster `$execute` → first SSE event | same; `$stream` opened right after the 202 on another node (i+1 mod {nodes}); the job ran on another node than the stream's in {} of {} | {} |",
        lat.ran_elsewhere,
        args.latency_n,
        p50_p99(&lat.first_event)
    );
    let _ = writeln!(out, "| cluster `$execute` → terminal SSE record | same | {} |", p50_p99(&lat.finished));
    let _ = writeln!(
        out,
        "| cluster rescue: `kill -9` → attempt 2 | fresh {} nodes, `--lease-seconds {}`; {CLUSTER_RESCUE_JOBS} `{RESCUE_COMMAND}` jobs running (retry on `lost`, 2 attempts, no delay); SIGKILL the node running the most ({} of them); until `GET /api/v1/jobs/{{id}}` on a surviving node shows attempt 2 for each (polled every {} ms) | max {:.0} ms, median {:.0} ms (lease {} s; {} of {} already running again) |",
        rescue.nodes,
        rescue.lease_seconds,
        rescue.killed_jobs,
        CLUSTER_RESCUE_POLL_EVERY.as_millis(),
        rescue.to_next_attempt.iter().max().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        median(&rescue.to_next_attempt).as_secs_f64() * 1000.0,
        rescue.lease_seconds,
        rescue.running_again,
        rescue.killed_jobs
    );
    let _ = writeln!(
        out,
        "| cluster rescue: the rest | surviving nodes' jobs still at attempt 1, running / killed node's attempt-1 processes alive once all showed attempt 2 / jobs not ended {} s after DELETE / job processes left after cancel and stop | {} of {} / {} / {} / {} |",
        CLUSTER_CANCEL_WAIT.as_secs(),
        rescue.others_untouched,
        rescue.other_jobs,
        rescue.survivors.len(),
        rescue.not_canceled.len(),
        rescue.left_at_end.len()
    );
}

/// The middle sample (the mean of the two middle ones for an even count); zero for none.
fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// Nearest-rank percentiles, in milliseconds.
fn p50_p99(samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |p: f64| {
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1000.0
    };
    format!("p50 {:.2} ms, p99 {:.2} ms", at(0.50), at(0.99))
}

/// 12345.6 -> "12,346"
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The command that reproduces this run.
fn invocation() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cmd = "cargo run --release --example bench".to_string();
    if !args.is_empty() {
        cmd.push_str(" --");
        for arg in args {
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
                cmd.push_str(&format!(" '{}'", arg.replace('\'', r"'\''")));
            } else {
                cmd.push(' ');
                cmd.push_str(&arg);
            }
        }
    }
    cmd
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|k| k.trim().to_string()).unwrap_or_default();
    // Other work on the machine skews every figure; the load average says how much there was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string());
    format!("{cpus} CPUs ({model}), Linux {kernel}, load average {load} at start")
}
