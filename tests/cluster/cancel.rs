//! `DELETE /api/v1/jobs/{id}` on node B cancels a job running on node A: the job ends `canceled` and its process is
//! gone.

use std::time::{Duration, Instant};

use crate::harness::{Cluster, serve_args};
use crate::helpers::{SseEvent, str_of, wait_for_processes};

/// A distinctive duration, so that no other test's `sleep` is mistaken for this one's.
const SLEEPER: [&str; 2] = ["sleep", "613.7"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_canceled_from_another_node_than_the_one_running_it() {
    let Some(mut cluster) = Cluster::start(2, &serve_args(4, &["sleep"], &[])).await else { return };
    cluster.kill_at_end(&SLEEPER);
    let submitter = &cluster.nodes[0].api;
    let task = submitter.task(&SLEEPER.join(" ")).await;
    let job = submitter.execute_ok(str_of(&task, "id"), None).await;

    // Whichever node claimed it is A; B is the other.
    let events = submitter.stream(&job, None).await.until_status("running").await;
    let running = events.last().and_then(SseEvent::job).expect("the running record");
    let a = cluster.index_of(str_of(&running, "node_id"));
    let b = &cluster.nodes[1 - a];
    let pids = wait_for_processes(&SLEEPER, Duration::from_secs(5), |p| !p.is_empty()).await;
    assert_eq!(pids.len(), 1, "the job's sleep runs");

    let mut stream = b.api.stream(&job, None).await;
    let asked = Instant::now();
    let reply = b.api.cancel(&job).await.expect(202, "cancel on B a job running on A");
    assert_eq!(reply["id"], job.as_str(), "{reply}");
    let events = stream.until_done().await;
    let took = asked.elapsed();
    stream.assert_ends().await;
    eprintln!("cancel on B of a job running on A: final record after {took:.2?}");

    let last = events.last().and_then(SseEvent::job).expect("the final record");
    assert_eq!(last["status"], "canceled", "{last}");
    assert_eq!(last["outcome"], "canceled", "{last}");
    assert_eq!(last["signal"], 15, "stopped by TERM, well before the kill grace: {last}");
    assert_eq!(last["node_id"], cluster.nodes[a].id.as_str(), "{last}");
    let left = wait_for_processes(&SLEEPER, Duration::from_secs(5), |p| p.is_empty()).await;
    assert!(left.is_empty(), "the canceled job's process outlived it: {left:?}");

    let seen_on_a = cluster.nodes[a].api.get_job_ok(&job).await;
    assert_eq!(seen_on_a["status"], "canceled", "A agrees: {seen_on_a}");
}
