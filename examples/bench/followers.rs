//! Step 8b: a crowd of followers: many `$stream`s of one running job opened at once, on a fresh SQLite server.
//!
//! The job prints `started`, waits for a file, prints `go` and ends. The followers connect at once (a barrier
//! releases them together), without `Last-Event-ID`; each one's time from its request to its first event is
//! measured, then the server's memory once all have caught up with `started`; then the file is created and the
//! time until the last follower holds the final record is measured, and each follower's events are checked: every
//! event of the job, once, in order.
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;

use crate::api::{Api, expect, is_terminal};
use crate::report::{p50_p99, thousands};
use crate::server::{Server, proc_status_kib};
use crate::throughput::POLL_EVERY;

/// The server log line sqlx writes when a connection was slow to come from the pool.
const SLOW_ACQUIRE: &str = "time to acquire exceeded slow threshold";

pub(crate) struct Followers {
    pub n: usize,
    /// Each follower's time from its request to its first event.
    pub first_event: Vec<Duration>,
    /// VmRSS with the job running and one follower, before the crowd / with all connected and caught up.
    pub rss_before_kib: u64,
    pub rss_connected_kib: u64,
    /// From the job's gate opening to the last follower holding the final record.
    pub fan_out: Duration,
    /// Followers that received every event of the job exactly once, in order.
    pub complete: usize,
    /// Events in the job's log.
    pub events: usize,
    /// Slow pool acquires the server logged during the run.
    pub slow_acquires: usize,
}

/// Lets this process hold one socket per follower: the soft open-files limit up to the hard one.
pub(crate) fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

pub(crate) async fn followers(bin: &Path, n: usize, phase_timeout: Duration) -> Result<Followers> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let gate = dir.path().join("gate");
    let server = Server::start(bin, dir.path(), 4, &["--allow", "sh"]).await?;
    let http = reqwest::Client::builder().timeout(phase_timeout).build().context("building the HTTP client")?;
    let api = server.api(&http);
    let script = format!("echo started; while [ ! -e {} ]; do sleep 0.05; done; echo go", gate.display());
    let task = api.create_task(&json!({"name": "bench-followers", "command": format!("sh -c '{script}'")})).await?;
    let job = api.execute(&task).await?;
    let url = api.url(&format!("/api/v1/jobs/{job}/$stream"));
    // One follower sees the job running and printing before the crowd comes.
    let mut first = tokio::spawn(follow(http.clone(), url.clone(), None, None));
    let started = poll_started(&api, &job, phase_timeout).await?;
    ensure!(started, "the job did not print `started` within {phase_timeout:?}");
    let rss_before_kib = proc_status_kib(server.pid, "VmRSS")?;

    let barrier = Arc::new(Barrier::new(n + 1));
    let caught_up = Arc::new(Semaphore::new(0));
    let mut crowd = JoinSet::new();
    for _ in 0..n {
        let (http, url, barrier, caught_up) = (http.clone(), url.clone(), barrier.clone(), caught_up.clone());
        crowd.spawn(async move {
            barrier.wait().await;
            follow(http, url, Some(caught_up), Some(Instant::now())).await
        });
    }
    barrier.wait().await;
    tokio::time::timeout(phase_timeout, caught_up.acquire_many(n as u32))
        .await
        .map_err(|_| anyhow!("not every follower caught up with the running job within {phase_timeout:?}"))??
        .forget();
    let rss_connected_kib = proc_status_kib(server.pid, "VmRSS")?;

    let opened = Instant::now();
    std::fs::write(&gate, b"").context("opening the job's gate")?;
    let mut runs = Vec::with_capacity(n);
    while let Some(run) = tokio::time::timeout(phase_timeout, crowd.join_next())
        .await
        .map_err(|_| anyhow!("the followers did not all finish within {phase_timeout:?}"))?
    {
        runs.push(run.context("a follower panicked")??);
    }
    let reference = tokio::time::timeout(phase_timeout, &mut first).await??.map(|r| r.ids)?;
    let events = reference.len();
    let expected: Vec<i64> = (1..=events as i64).collect();
    let slow_acquires = server.log_count(SLOW_ACQUIRE);
    server.stop().await;
    Ok(Followers {
        n,
        first_event: runs.iter().filter_map(|r| r.first).collect(),
        rss_before_kib,
        rss_connected_kib,
        fan_out: runs.iter().map(|r| r.done.saturating_duration_since(opened)).max().unwrap_or_default(),
        complete: runs.iter().filter(|r| r.ids == expected).count(),
        events,
        slow_acquires,
    })
}

/// Whether the job has printed its first line, by its record's `stdout_lines` (polled).
async fn poll_started(api: &Api, job: &str, deadline: Duration) -> Result<bool> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        let resp = api.http.get(api.url(&format!("/api/v1/jobs/{job}"))).send().await?;
        let record = expect(resp, StatusCode::OK, "GET /api/v1/jobs/{id}").await?;
        if record["stdout_lines"].as_u64().unwrap_or(0) >= 1 {
            return Ok(true);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    Ok(false)
}

struct Run {
    first: Option<Duration>,
    ids: Vec<i64>,
    done: Instant,
}

/// Follows the job to its final record; `caught_up` gets a permit once `started` arrived (or the follower failed,
/// so that nobody waits for it; its error comes with its result).
async fn follow(
    http: reqwest::Client,
    url: String,
    caught_up: Option<Arc<Semaphore>>,
    sent: Option<Instant>,
) -> Result<Run> {
    let mut told = false;
    let run = follow_to_end(http, url, caught_up.as_deref(), sent, &mut told).await;
    if let (Some(caught_up), false) = (&caught_up, told) {
        caught_up.add_permits(1);
    }
    run
}

async fn follow_to_end(
    http: reqwest::Client,
    url: String,
    caught_up: Option<&Semaphore>,
    sent: Option<Instant>,
    told: &mut bool,
) -> Result<Run> {
    let resp = http.get(&url).header("Accept", "text/event-stream").send().await?;
    ensure!(resp.status() == StatusCode::OK, "GET $stream: {}", resp.status());
    let mut events = resp.bytes_stream().eventsource();
    let mut run = Run { first: None, ids: Vec::new(), done: Instant::now() };
    while let Some(event) = events.next().await {
        let event = event.map_err(|err| anyhow!("stream: {err}"))?;
        if run.ids.is_empty() {
            run.first = sent.map(|at| at.elapsed());
        }
        run.ids.push(event.id.parse().with_context(|| format!("event id {:?}", event.id))?);
        if event.event == "stdout" && event.data == "started" {
            if let Some(caught_up) = caught_up {
                caught_up.add_permits(1);
                *told = true;
            }
        } else if event.event == "message" {
            let job: Value = serde_json::from_str(&event.data).context("a job record that is not JSON")?;
            if is_terminal(job["status"].as_str().unwrap_or_default()) {
                run.done = Instant::now();
                return Ok(run);
            }
        }
    }
    bail!("the stream ended before the final record")
}

pub(crate) fn report(out: &mut String, f: &Followers) {
    let n = thousands(f.n as f64);
    let max = f.first_event.iter().max().copied().unwrap_or_default();
    let _ = writeln!(
        out,
        "| followers: connect → first event | {n} `$stream`s of one running job opened at once (no `Last-Event-ID`), fresh SQLite server; from each request to its first event | {}, max {:.0} ms |",
        p50_p99(&f.first_event),
        max.as_secs_f64() * 1000.0
    );
    let per = (f.rss_connected_kib.saturating_sub(f.rss_before_kib)) as f64 / f.n as f64;
    let _ = writeln!(
        out,
        "| followers: server RSS | VmRSS with the job running, before the crowd / with all {n} connected and caught up | {:.1} MiB / {:.1} MiB, {:.1} KiB per follower |",
        f.rss_before_kib as f64 / 1024.0,
        f.rss_connected_kib as f64 / 1024.0,
        per
    );
    let _ = writeln!(
        out,
        "| followers: the job's last line to all | the job prints one more line and ends; until the last follower has the final record / followers that got every one of the job's {} events once, in order / slow pool acquires logged | {:.0} ms / {} of {n} / {} |",
        f.events,
        f.fan_out.as_secs_f64() * 1000.0,
        thousands(f.complete as f64),
        f.slow_acquires
    );
}
