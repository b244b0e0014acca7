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
//! 4. latency from `$execute` to the first SSE byte and to the terminal job record;
//! 5. create-task latency and req/s under concurrent clients;
//! 6. the server's RSS when idle at start and its peak (VmHWM) at the end;
//! 7. on a fresh server: one job that prints 1 GiB to stdout (wall time, MB/s, the server's memory meanwhile, and
//!    the job's output totals);
//! 8. on another fresh server: a running job with a retry policy on `lost`, the server killed with SIGKILL and
//!    started again on the same database: time until it listens, and until the job shows its second attempt.
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
use futures_util::{StreamExt, stream};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

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
            && args.big_output_bytes > 0,
        "every count must be at least 1"
    );
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
    let machine = machine();

    eprintln!("[1/7] spawning /bin/true {} times, {} in flight", args.spawn_n, args.spawn_in_flight);
    let spawn_rate = raw_spawn_rate(args.spawn_n, args.spawn_in_flight).await?;

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    eprintln!("[2/7] starting {}", server_bin.display());
    let server = Server::start(&server_bin, dir.path(), args.max_concurrency, &[]).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .timeout(phase_timeout)
        .build()
        .context("building the HTTP client")?;
    let api = Api { http, base: format!("http://{}", server.addr) };
    api.health().await?;
    let idle_rss = proc_status_kib(server.pid, "VmRSS")?;

    eprintln!("[3/7] end to end: {} executes of `true` from {} clients", args.jobs, args.clients);
    let e2e = tokio::time::timeout(phase_timeout, end_to_end(&api, args.jobs, args.clients))
        .await
        .map_err(|_| anyhow!("end-to-end run did not finish within {phase_timeout:?}"))??;
    eprintln!("      {:.0} jobs/s", args.jobs as f64 / e2e.elapsed.as_secs_f64());

    eprintln!("[4/7] latency: {} sequential executes followed over SSE", args.latency_n);
    let lat = tokio::time::timeout(phase_timeout, latency(&api, args.latency_n))
        .await
        .map_err(|_| anyhow!("latency run did not finish within {phase_timeout:?}"))??;

    eprintln!("[5/7] create task: {} POST /api/v1/tasks from {} clients", args.creates, args.clients);
    let create = tokio::time::timeout(phase_timeout, create_tasks(&api, args.creates, args.clients))
        .await
        .map_err(|_| anyhow!("create-task run did not finish within {phase_timeout:?}"))??;

    let peak_rss = proc_status_kib(server.pid, "VmHWM")?;
    server.stop().await;

    eprintln!("[6/7] big output: one job printing {} bytes to stdout, on a fresh server", args.big_output_bytes);
    let big = big_output(&server_bin, &api.http, args.max_concurrency, args.big_output_bytes, phase_timeout).await?;

    eprintln!("[7/7] rescue: `{RESCUE_COMMAND}` running, server killed with SIGKILL and started again");
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

    let results =
        Results { machine, spawn_rate, e2e, lat, create, idle_rss_kib: idle_rss, peak_rss_kib: peak_rss, big, rescue };
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
}

impl Server {
    /// Starts `bin serve` on 127.0.0.1:0 (with `extra` flags) and learns its port from the
    /// `listening on http://ADDR` log line. The database is `dir`/bench.db.
    async fn start(bin: &Path, dir: &Path, max_concurrency: usize, extra: &[&str]) -> Result<Server> {
        let database_url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--database-url"])
            .arg(&database_url)
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
        // Keep draining stderr so the server never blocks on a full pipe.
        let mut rest = lines.into_inner();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
        });
        Ok(Server { child, pid, addr })
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
async fn end_to_end(api: &Api, jobs: usize, clients: usize) -> Result<EndToEnd> {
    let task_id = api.create_task(&json!({"name": "bench-true", "command": "true"})).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let mut submitters = JoinSet::new();
    let start = Instant::now();
    for _ in 0..clients.min(jobs) {
        let (api, next, task_id) = (api.clone(), Arc::clone(&next), task_id.clone());
        submitters.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < jobs {
                api.execute(&task_id).await?;
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
    first_byte: Vec<Duration>,
    finished: Vec<Duration>,
}

/// `n` sequential executes of `true`; each job's `$stream` is opened right after the 202.
async fn latency(api: &Api, n: usize) -> Result<Latency> {
    let task_id = api.create_task(&json!({"name": "bench-latency", "command": "true"})).await?;
    let mut lat =
        Latency { accepted: Vec::with_capacity(n), first_byte: Vec::with_capacity(n), finished: Vec::with_capacity(n) };
    for _ in 0..n {
        let t0 = Instant::now();
        let job_id = api.execute(&task_id).await?;
        lat.accepted.push(t0.elapsed());
        let resp = api.http.get(api.url(&format!("/api/v1/jobs/{job_id}/$stream"))).send().await?;
        ensure!(resp.status() == StatusCode::OK, "GET /api/v1/jobs/{{id}}/$stream: {}", resp.status());
        let mut bytes = resp.bytes_stream();
        let first = bytes.next().await;
        lat.first_byte.push(t0.elapsed());
        let mut events = stream::iter(first).chain(bytes).eventsource();
        let mut last_job = None;
        while let Some(event) = events.next().await {
            let event = event.map_err(|err| anyhow!("job {job_id} stream: {err}"))?;
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
    loop {
        let job = api.job(job_id).await?;
        if done(&job) {
            return Ok(job);
        }
        tokio::time::sleep(RESCUE_POLL_EVERY).await;
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
}

fn report(args: &Args, server_bin: &Path, r: &Results) -> String {
    let Results { machine, spawn_rate, e2e, lat, create, idle_rss_kib, peak_rss_kib, big, rescue } = r;
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
        "| `$execute` → first SSE byte | same; `$stream` opened right after the 202 | {} |",
        p50_p99(&lat.first_byte)
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
    out
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
