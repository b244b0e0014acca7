//! One clock: a node whose wall clock is a minute off (libfaketime, Debian package `faketime`) judges leases, due
//! times and the other nodes by the database's clock, like every other node. It neither takes a healthy job
//! running elsewhere for lost (and kills its processes) nor makes the others wait a minute to rescue its jobs when
//! it dies; it says at start that its clock is off, and the node registry shows by how much.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Cluster, nodes_seen_by, poll_until, serve_args};
use crate::helpers::{SseEvent, env_of, faketime, pids_with_cmdline, str_of, wait_for_processes};

const LEASE_SECONDS: u64 = 2;
/// The healthy job of the first test: a duration no other test uses.
const HEALTHY: [&str; 2] = ["sleep", "41.9"];
/// The first attempt of the second test's job hangs in this sleep; a later attempt completes.
const HANGING: [&str; 2] = ["sleep", "43.1"];
const SCRIPT: &str = "sh -c 'echo attempt $TASKYARD_ATTEMPT; if [ $TASKYARD_ATTEMPT = 1 ]; then sleep 43.1; fi; \
                      echo done $TASKYARD_ATTEMPT'";

fn retrying_on_lost(command: &str) -> Value {
    json!({"command": command, "retry": {"max_attempts": 2, "on": ["lost"], "initial_delay_seconds": 0}})
}

/// The registry's entry of node `id`.
fn entry<'a>(registry: &'a [Value], id: &str) -> &'a Value {
    registry.iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("node {id} not listed: {registry:#?}"))
}

fn offset_of(node: &Value) -> i64 {
    node["clock_offset_ms"].as_i64().unwrap_or_else(|| panic!("no clock_offset_ms on PostgreSQL: {node}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_a_minute_ahead_leaves_a_healthy_job_on_another_node_alone() {
    let lease = Duration::from_secs(LEASE_SECONDS);
    let args = serve_args(4, &["sleep"], &["--lease-seconds", &LEASE_SECONDS.to_string()]);
    let Some(mut cluster) = Cluster::start(1, &args).await else { return };
    cluster.kill_at_end(&HEALTHY);
    let first = &cluster.nodes[0];
    let task = first.api.create_task_ok(retrying_on_lost(&HEALTHY.join(" "))).await;
    let job = first.api.execute_ok(str_of(&task, "id"), None).await;
    first.api.stream(&job, None).await.until_status("running").await;
    let sleeping = wait_for_processes(&HEALTHY, Duration::from_secs(5), |p| p.len() == 1).await;
    assert_eq!(sleeping.len(), 1, "the job's process runs");

    // The second node starts with its clock a minute ahead: by its own clock, the job's lease ran out long ago.
    let ahead = faketime("+60s");
    cluster.add_nodes_with_env(1, &args, &env_of(&ahead)).await;
    let (first, second) = (&cluster.nodes[0], &cluster.nodes[1]);
    let registry = nodes_seen_by(&first.api).await;
    let skewed = offset_of(entry(&registry, &second.id));
    assert!((59_000..=61_000).contains(&skewed), "the node a minute ahead shows its offset: {registry:#?}");
    assert!(offset_of(entry(&registry, &first.id)).abs() < 1_000, "{registry:#?}");
    assert!(
        second.server.log().contains("clock differs from the database's"),
        "the node a minute ahead says so at start; its log:\n{}",
        second.server.log()
    );

    // Let its reaper look at the job's lease a few times: a few heartbeats (same period) after its start.
    let beats = poll_until("three heartbeats of the node a minute ahead", lease * 5, async || {
        let node = entry(&nodes_seen_by(&first.api).await, &second.id).clone();
        let at = |field: &str| chrono::DateTime::parse_from_rfc3339(str_of(&node, field)).expect("RFC 3339");
        let beat = at("last_heartbeat_at") - at("started_at");
        if beat.num_milliseconds() >= 2 * LEASE_SECONDS as i64 * 1000 { Ok(beat) } else { Err(node.to_string()) }
    })
    .await;

    let now = first.api.get_job_ok(&job).await;
    assert_eq!((now["status"].as_str(), now["attempt"].as_i64()), (Some("running"), Some(1)), "{beats}: {now}");
    assert_eq!(now["node_id"], first.id.as_str(), "the job still runs where it started: {now}");
    assert_eq!(pids_with_cmdline(&HEALTHY), sleeping, "the healthy job's process was left alone");
    assert!(
        !second.server.log().contains("killed processes"),
        "the node a minute ahead killed processes:\n{}",
        second.server.log()
    );

    // A cancel through the skewed node still reaches the job, which ends at its first attempt.
    let mut stream = second.api.stream(&job, None).await;
    second.api.cancel(&job).await.expect(202, "cancel through the node a minute ahead");
    let last = stream.until_done().await.last().and_then(SseEvent::job).expect("a final record");
    assert_eq!((last["status"].as_str(), last["attempt"].as_i64()), (Some("canceled"), Some(1)), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_of_a_dead_node_a_minute_ahead_are_rescued_within_a_lease() {
    let lease = Duration::from_secs(LEASE_SECONDS);
    let args = serve_args(4, &["sh", "sleep", "echo"], &["--lease-seconds", &LEASE_SECONDS.to_string()]);
    let Some(mut cluster) = Cluster::start(0, &args).await else { return };
    cluster.kill_at_end(&HANGING);
    // The node a minute ahead starts alone and claims the job; by its clock, the job's lease ends a minute late.
    let ahead = faketime("+60s");
    cluster.add_nodes_with_env(1, &args, &env_of(&ahead)).await;
    let skewed = &cluster.nodes[0];
    let task = skewed.api.create_task_ok(retrying_on_lost(SCRIPT)).await;
    let job = skewed.api.execute_ok(str_of(&task, "id"), None).await;
    let events = skewed.api.stream(&job, None).await.until("the first line", |e| e.event == "stdout").await;
    let running = events.iter().filter_map(SseEvent::job).find(|j| j["status"] == "running").expect("running");
    assert_eq!(running["node_id"], skewed.id.as_str(), "{running}");
    let submitted = chrono::DateTime::parse_from_rfc3339(str_of(&running, "submitted_at")).expect("RFC 3339");
    let drift = (chrono::Utc::now().fixed_offset() - submitted).num_milliseconds();
    assert!(drift.abs() < 5_000, "the skewed node stamps times on the database's clock: {drift} ms off; {running}");

    cluster.add_nodes(1, &args).await;
    let mut stream = cluster.nodes[1].api.stream(&job, None).await;
    stream.until("the first line", |e| e.event == "stdout").await;
    let mut victim = cluster.nodes.remove(0);
    let killed_at = Instant::now();
    victim.server.kill9().await;

    let rescue = stream.until("the rescue", |e| e.event == "retry" || e.is_terminal()).await;
    let took = killed_at.elapsed();
    let bound = lease + lease / 3 + Duration::from_millis(1500);
    assert!(took <= bound, "rescued {took:?} after the kill; expected about a lease (at most {bound:?})");
    assert_eq!(rescue.last().map(|e| e.event.as_str()), Some("retry"), "{rescue:#?}");
    let last = stream.until_done().await.last().and_then(SseEvent::job).expect("a final record");
    assert_eq!((last["status"].as_str(), last["attempt"].as_i64()), (Some("completed"), Some(2)), "{last}");
    let left = wait_for_processes(&HANGING, Duration::from_secs(5), |p| p.is_empty()).await;
    assert!(left.is_empty(), "the dead node's leftover process was killed by the rescuer: {left:?}");
}
