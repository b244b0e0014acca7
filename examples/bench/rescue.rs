//! Step 8: the rescue of a running job after the server is killed with SIGKILL and started again on the same
//! database, and the job processes the bench finds and kills.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::api::{Api, is_terminal, poll_job_every};
use crate::server::Server;

/// The job that is running when the server is killed in the rescue measurement.
pub(crate) const RESCUE_COMMAND: &str = "sleep 30";
/// How often the rescue measurement asks for the job record.
pub(crate) const RESCUE_POLL_EVERY: Duration = Duration::from_millis(5);

pub(crate) struct Rescue {
    /// From SIGKILL to the new server's `listening on` line.
    pub(crate) listening: Duration,
    /// From SIGKILL to a GET that shows the job at attempt 2 (pending or running).
    pub(crate) next_attempt: Duration,
    /// The job's status in that GET.
    pub(crate) next_status: String,
    /// Processes of the first attempt seen before the kill.
    pub(crate) first_attempt_processes: usize,
    /// Processes of the first attempt still alive once the job showed attempt 2.
    pub(crate) survivors: Vec<u32>,
    /// Processes of the job still alive after the job was canceled and the server stopped (killed by the bench).
    pub(crate) left_at_end: Vec<u32>,
}

impl Rescue {
    /// Says on stderr which processes of the job outlived the restart or the end (the bench killed them).
    pub(crate) fn warn_leftovers(&self) {
        warn_killed(&self.survivors, "the killed server's job outlived the restart");
        warn_killed(&self.left_at_end, "the rescue job were left after cancel and stop");
    }
}

/// `warning: processes of {what} (pids ...); the bench killed them`, unless there are none.
pub(crate) fn warn_killed(pids: &[u32], what: &str) {
    if !pids.is_empty() {
        eprintln!("warning: processes of {what} (pids {pids:?}); the bench killed them");
    }
}

/// On a fresh server: a `sleep 30` job whose retry policy covers `lost` is running; the server gets SIGKILL and is
/// started again on the same database.
pub(crate) async fn rescue(bin: &Path, http: &reqwest::Client, max_concurrency: usize) -> Result<Rescue> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let server = Server::start(bin, dir.path(), max_concurrency, &[]).await?;
    let api = server.api(http);
    api.health().await?;
    let task_id = api.create_task(&rescue_task("bench-rescue")).await?;
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

/// The task of the rescue measurements: [`RESCUE_COMMAND`], retried once, at once, when its job is lost.
pub(crate) fn rescue_task(name: &str) -> Value {
    json!({
        "name": name,
        "command": RESCUE_COMMAND,
        "retry": {"max_attempts": 2, "on": ["lost"], "initial_delay_seconds": 0},
    })
}

/// GETs the job every [`RESCUE_POLL_EVERY`] until `done` says so (the caller's timeout bounds it).
pub(crate) async fn poll_job(api: &Api, job_id: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
    poll_job_every(api, job_id, RESCUE_POLL_EVERY, done).await
}

/// Live processes of a job (of one attempt, if given), found by the `TASKYARD_JOB_ID` and `TASKYARD_ATTEMPT`
/// variables the server puts in every job's environment. Zombies have no readable environment and are not counted.
pub(crate) fn job_processes(job_id: &str, attempt: Option<u32>) -> Vec<u32> {
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

pub(crate) fn kill_pids(pids: &[u32]) {
    for pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Kills every process of the job when dropped, so that no `sleep 30` outlives a failed run of the bench.
pub(crate) struct JobProcessesGuard(pub(crate) String);

impl Drop for JobProcessesGuard {
    fn drop(&mut self) {
        kill_pids(&job_processes(&self.0, None));
    }
}
