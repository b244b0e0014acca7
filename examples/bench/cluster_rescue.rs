//! Step 11: the rescue of a killed node's jobs by the other nodes of a cluster, once their lease expires.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::api::{Api, is_terminal, poll_job_every};
use crate::cluster::{node_ids, start_nodes, stop_nodes};
use crate::rescue::{JobProcessesGuard, job_processes, kill_pids, rescue_task, warn_killed};
use crate::server::Server;

/// Jobs running when a node of the cluster is killed.
pub(crate) const CLUSTER_RESCUE_JOBS: usize = 6;
/// How often the cluster rescue measurement asks a surviving node for the killed node's jobs.
pub(crate) const CLUSTER_RESCUE_POLL_EVERY: Duration = Duration::from_millis(20);
/// How long the cluster rescue waits for its jobs to end once canceled, before it stops the nodes anyway.
pub(crate) const CLUSTER_CANCEL_WAIT: Duration = Duration::from_secs(10);

pub(crate) struct ClusterRescue {
    pub(crate) lease_seconds: u64,
    pub(crate) nodes: usize,
    /// Jobs the killed node ran.
    pub(crate) killed_jobs: usize,
    /// For each of the killed node's jobs: from SIGKILL to a GET on a surviving node that shows it at attempt 2.
    pub(crate) to_next_attempt: Vec<Duration>,
    /// The killed node's jobs that were already running again (rather than pending) when first seen at attempt 2.
    pub(crate) running_again: usize,
    /// Jobs of the surviving nodes, and how many of them were still running their first attempt once the killed
    /// node's jobs all showed attempt 2.
    pub(crate) other_jobs: usize,
    pub(crate) others_untouched: usize,
    /// Processes of the killed node's jobs' first attempts still alive once they all showed attempt 2.
    pub(crate) survivors: Vec<u32>,
    /// Jobs that did not end within [`CLUSTER_CANCEL_WAIT`] of their DELETE.
    pub(crate) not_canceled: Vec<String>,
    /// Processes of the jobs still alive after the jobs were canceled and the nodes stopped (killed by the bench).
    pub(crate) left_at_end: Vec<u32>,
}

impl ClusterRescue {
    /// Says on stderr what of the jobs outlived the rescue, the cancel or the end (the bench killed the processes).
    pub(crate) fn warn_leftovers(&self) {
        warn_killed(&self.survivors, "the killed node's jobs outlived the rescue");
        if !self.not_canceled.is_empty() {
            eprintln!(
                "warning: jobs of the cluster rescue were not canceled within {CLUSTER_CANCEL_WAIT:?} of DELETE: {:?}",
                self.not_canceled
            );
        }
        warn_killed(&self.left_at_end, "the cluster rescue's jobs were left after cancel and stop");
    }
}

/// On a fresh cluster of `n` nodes with a lease of `lease_seconds`: [`CLUSTER_RESCUE_JOBS`] `sleep 30` jobs whose
/// retry policy covers `lost` run; the node that runs the most of them gets SIGKILL, and a surviving node is asked
/// every [`CLUSTER_RESCUE_POLL_EVERY`] for each of the killed node's jobs until it shows attempt 2.
pub(crate) async fn cluster_rescue(
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
    let (job_ids, running, _guards) = start_jobs(&apis).await?;
    let (victim, killed_jobs, other_jobs) = busiest_node(&apis[0], &servers, &job_ids, &running).await?;

    let victim_server = servers.remove(victim);
    apis.remove(victim);
    let survivor = &apis[0];
    let killed_at = victim_server.kill9().await?;
    let (to_next_attempt, running_again) = next_attempts(survivor, &killed_jobs, killed_at).await?;
    let survivors: Vec<u32> = killed_jobs.iter().flat_map(|job_id| job_processes(job_id, Some(1))).collect();
    let mut others_untouched = 0;
    for job_id in &other_jobs {
        let job = survivor.job(job_id).await?;
        others_untouched += usize::from(job["status"] == "running" && job["attempt"] == 1);
    }

    // Clean up: cancel every job, stop the surviving nodes, and kill whatever of the jobs is still there.
    let not_canceled = cancel_all(survivor, &job_ids).await?;
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

/// Executes [`CLUSTER_RESCUE_JOBS`] jobs of a new rescue task round-robin over the nodes and waits until every one
/// is running, with a process of its first attempt to be seen. Returns their ids, their running records, and the
/// guards that kill their processes.
async fn start_jobs(apis: &[Api]) -> Result<(Vec<String>, Vec<Value>, Vec<JobProcessesGuard>)> {
    let task_id = apis[0].create_task(&rescue_task("bench-cluster-rescue")).await?;
    let mut job_ids = Vec::with_capacity(CLUSTER_RESCUE_JOBS);
    let mut guards = Vec::with_capacity(CLUSTER_RESCUE_JOBS);
    for i in 0..CLUSTER_RESCUE_JOBS {
        let job_id = apis[i % apis.len()].execute(&task_id).await?;
        guards.push(JobProcessesGuard(job_id.clone()));
        job_ids.push(job_id);
    }
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
    Ok((job_ids, running, guards))
}

/// The node running the most of the jobs (the first such, on a tie), its jobs, and the other nodes' jobs.
async fn busiest_node(
    api: &Api,
    servers: &[Server],
    job_ids: &[String],
    running: &[Value],
) -> Result<(usize, Vec<String>, Vec<String>)> {
    let n = servers.len();
    let ids = node_ids(api, servers).await?;
    let node_of = |job: &Value| ids.iter().position(|id| job["node_id"].as_str() == Some(id.as_str()));
    let mut per_node = vec![0usize; n];
    for job in running {
        per_node[node_of(job).with_context(|| format!("job on no known node: {job}"))?] += 1;
    }
    let victim = (0..n).max_by_key(|&i| (per_node[i], std::cmp::Reverse(i))).context("no nodes")?;
    let (mut killed_jobs, mut other_jobs) = (Vec::new(), Vec::new());
    for (job_id, job) in job_ids.iter().zip(running) {
        if node_of(job) == Some(victim) { &mut killed_jobs } else { &mut other_jobs }.push(job_id.clone());
    }
    eprintln!("      jobs per node {per_node:?}; killing node {} of {n}", victim + 1);
    Ok((victim, killed_jobs, other_jobs))
}

/// Asks `survivor` every [`CLUSTER_RESCUE_POLL_EVERY`] for each of `killed_jobs` until it shows attempt 2: the time
/// from `killed_at` for each, and how many were already running again.
async fn next_attempts(survivor: &Api, killed_jobs: &[String], killed_at: Instant) -> Result<(Vec<Duration>, usize)> {
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
    Ok((to_next_attempt, running_again))
}

/// Cancels every job on `survivor` and waits up to [`CLUSTER_CANCEL_WAIT`] for them to end: the jobs that did not.
async fn cancel_all(survivor: &Api, job_ids: &[String]) -> Result<Vec<String>> {
    for job_id in job_ids {
        survivor.cancel(job_id).await?;
    }
    let deadline = Instant::now() + CLUSTER_CANCEL_WAIT;
    let mut not_canceled: Vec<String> = job_ids.to_vec();
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
    Ok(not_canceled)
}
