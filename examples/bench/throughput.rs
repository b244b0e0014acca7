//! Steps 3 and 5: end-to-end throughput of `true` jobs, and create-task latency and rate, under concurrent clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use serde_json::json;
use tokio::task::JoinSet;

use crate::api::Api;

/// How often the end-to-end measurement asks the server how many jobs have completed.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(10);

pub(crate) struct EndToEnd {
    pub(crate) elapsed: Duration,
    pub(crate) submit_elapsed: Duration,
}

/// Executes one `true` task `jobs` times from `clients` concurrent clients, and polls the completed
/// count every [`POLL_EVERY`] until it reaches `jobs`. Measured from the first `$execute` to the poll
/// that saw the last job completed, so the figure errs by at most one poll interval, on the slow side.
/// With several nodes (`apis`), the `$execute`s go to them round-robin (the i-th to node i mod n); the task is
/// created and the count polled on the first.
pub(crate) async fn end_to_end(apis: &[Api], jobs: usize, clients: usize) -> Result<EndToEnd> {
    end_to_end_of(apis, &json!({"name": "bench-true", "command": "true"}), jobs, clients).await
}

/// [`end_to_end`] of the task `task` (a command or a registered function).
pub(crate) async fn end_to_end_of(
    apis: &[Api],
    task: &serde_json::Value,
    jobs: usize,
    clients: usize,
) -> Result<EndToEnd> {
    let api = &apis[0];
    let apis: Arc<[Api]> = apis.into();
    let task_id = api.create_task(task).await?;
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
            ensure!(failed == 0, "{failed} jobs failed, e.g. {sample}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let elapsed = start.elapsed();
    while let Some(submitted) = submitters.join_next().await {
        submit_done = submit_done.max(submitted??);
    }
    Ok(EndToEnd { elapsed, submit_elapsed: submit_done - start })
}

pub(crate) struct Creates {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) elapsed: Duration,
}

pub(crate) async fn create_tasks(api: &Api, n: usize, clients: usize) -> Result<Creates> {
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
