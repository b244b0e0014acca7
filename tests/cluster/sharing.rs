//! Three nodes share 3,100 jobs submitted through all three APIs at once: every job completes, runs exactly once
//! (its side effect is in the file once), jobs run on every node, no node runs more than its `max_concurrency` at a
//! time, and every node's registry shows the three of them.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::harness::{Cluster, all_jobs, count_jobs, nodes_seen_by, poll_until, serve_args};
use crate::helpers::str_of;

const NODES: usize = 3;
const MAX_CONCURRENCY: usize = 8;
/// Jobs that append their id to a file and exit.
const QUICK: usize = 3000;
/// Jobs that print, sleep 0.2 s, append their id to another file and print again.
const SLOW: usize = 100;
/// `$execute` requests in flight at once, over the three nodes.
const IN_FLIGHT: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Quick,
    Slow,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_the_work_and_run_every_job_exactly_once() {
    let args = serve_args(MAX_CONCURRENCY, &["sh", "sleep", "echo", "true"], &[]);
    let Some(cluster) = Cluster::start(NODES, &args).await else { return };
    let quick_file = cluster.dir.path().join("quick.ids");
    let slow_file = cluster.dir.path().join("slow.ids");
    let first = &cluster.nodes[0].api;
    let quick = first.task(&format!("sh -c 'echo $TASKYARD_JOB_ID >> {}'", quick_file.display())).await;
    let slow = first
        .task(&format!("sh -c 'echo start; sleep 0.2; echo $TASKYARD_JOB_ID >> {}; echo end'", slow_file.display()))
        .await;
    let (quick_id, slow_id) = (str_of(&quick, "id"), str_of(&slow, "id"));

    // Round-robin over the nodes' APIs, a slow job every 31st, IN_FLIGHT requests at a time.
    let total = QUICK + SLOW;
    let started = Instant::now();
    let submissions = (0..total).map(|i| {
        let api = &cluster.nodes[i % NODES].api;
        let (kind, task) = if i % 31 == 0 { (Kind::Slow, slow_id) } else { (Kind::Quick, quick_id) };
        async move { (api.execute_ok(task, None).await, kind) }
    });
    let submitted: HashMap<String, Kind> =
        futures_util::stream::iter(submissions).buffer_unordered(IN_FLIGHT).collect().await;
    let accepted_in = started.elapsed();
    assert_eq!(submitted.len(), total, "every $execute answered a new job id");
    assert_eq!(submitted.values().filter(|k| **k == Kind::Slow).count(), SLOW);

    // The queue drains by itself: watch the counts, from another node than the one that took the tasks.
    let watcher = &cluster.nodes[1].api;
    poll_until("end of the queue", Duration::from_secs(120), async || {
        let completed = count_jobs(watcher, "completed").await;
        let failed = count_jobs(watcher, "failed").await;
        let canceled = count_jobs(watcher, "canceled").await;
        assert_eq!(failed + canceled, 0, "jobs ended otherwise than completed: {failed} failed, {canceled} canceled");
        if completed == total as u64 { Ok(()) } else { Err(format!("{completed} of {total} completed")) }
    })
    .await;
    let elapsed = started.elapsed();
    eprintln!(
        "{total} jobs on {NODES} nodes: all accepted in {accepted_in:.2?} ({:.0} req/s), all completed in \
         {elapsed:.2?} ({:.0} jobs/s)",
        total as f64 / accepted_in.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );

    // Every job, as the third node lists it.
    let jobs = all_jobs(&cluster.nodes[2].api).await;
    let listed: HashSet<&str> = jobs.iter().map(|j| str_of(j, "id")).collect();
    assert_eq!(jobs.len(), total, "the list holds every job once");
    assert!(submitted.keys().all(|id| listed.contains(id.as_str())), "the list holds the submitted jobs");
    let node_ids: Vec<&str> = cluster.nodes.iter().map(|n| n.id.as_str()).collect();
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for job in &jobs {
        let kind = submitted[str_of(job, "id")];
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["outcome"], "success", "{job}");
        assert_eq!(job["attempt"], 1, "ran once: {job}");
        let expected_lines = if kind == Kind::Slow { 2 } else { 0 };
        assert_eq!(job["stdout_lines"], expected_lines, "{kind:?} job printed {expected_lines} lines: {job}");
        let node = str_of(job, "node_id");
        assert!(node_ids.contains(&node), "job ran on an unknown node {node}: {job}");
        *per_node.entry(node).or_default() += 1;
    }
    let shares: Vec<usize> = node_ids.iter().map(|id| per_node.get(id).copied().unwrap_or(0)).collect();
    eprintln!("jobs per node: {shares:?}");
    assert!(shares.iter().all(|n| *n > 0), "every node ran jobs: {shares:?}");
    for (node, most) in most_at_once(&jobs) {
        assert!(most <= MAX_CONCURRENCY, "node {node} ran {most} jobs at once (max_concurrency {MAX_CONCURRENCY})");
    }

    // Each job's side effect happened exactly once.
    for (file, kind) in [(&quick_file, Kind::Quick), (&slow_file, Kind::Slow)] {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for line in text.lines() {
            *seen.entry(line).or_default() += 1;
        }
        let twice: Vec<(&&str, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{kind:?} jobs that ran more than once: {twice:?}");
        let expected: HashSet<&str> =
            submitted.iter().filter(|(_, k)| **k == kind).map(|(id, _)| id.as_str()).collect();
        let written: HashSet<&str> = seen.keys().copied().collect();
        assert_eq!(written, expected, "{kind:?}: the ids in {} are exactly the jobs'", file.display());
    }

    // Each node's registry shows the three nodes up, where they listen, with their concurrency.
    for node in &cluster.nodes {
        let registry = nodes_seen_by(&node.api).await;
        assert_eq!(registry.len(), NODES, "{} lists {registry:#?}", node.url());
        for expected in &cluster.nodes {
            let entry = registry
                .iter()
                .find(|n| n["id"] == expected.id.as_str())
                .unwrap_or_else(|| panic!("{} does not list node {}: {registry:#?}", node.url(), expected.id));
            assert_eq!(entry["status"], "up", "{entry}");
            assert_eq!(entry["address"], expected.url().as_str(), "{entry}");
            assert_eq!(entry["pid"], expected.server.pid, "{entry}");
            assert_eq!(entry["max_concurrency"], MAX_CONCURRENCY, "{entry}");
            assert!(entry["running_jobs"].as_u64().is_some_and(|n| n <= MAX_CONCURRENCY as u64), "{entry}");
        }
    }
}

/// For each node, the most jobs whose [started_at, finished_at) overlapped. A slot is taken before the claim
/// stamps `started_at` and given back after the end stamped `finished_at`, so this never exceeds the node's slots.
fn most_at_once(jobs: &[Value]) -> HashMap<String, usize> {
    let ms = |job: &Value, key: &str| {
        chrono::DateTime::parse_from_rfc3339(str_of(job, key))
            .unwrap_or_else(|e| panic!("{key} of {job}: {e}"))
            .timestamp_millis()
    };
    let mut edges: HashMap<String, Vec<(i64, i32)>> = HashMap::new();
    for job in jobs {
        let node = edges.entry(str_of(job, "node_id").to_string()).or_default();
        node.push((ms(job, "started_at"), 1));
        node.push((ms(job, "finished_at"), -1));
    }
    edges
        .into_iter()
        .map(|(node, mut edges)| {
            // At equal times, ends before starts.
            edges.sort();
            let (mut now, mut most) = (0i32, 0i32);
            for (_, delta) in edges {
                now += delta;
                most = most.max(now);
            }
            (node, most as usize)
        })
        .collect()
}
