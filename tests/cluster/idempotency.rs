//! The same `Idempotency-Key` sent to every node at once queues one job: each node answers with its id.

use std::collections::HashSet;

use reqwest::Method;

use crate::harness::{Cluster, count_jobs, serve_args};
use crate::helpers::{Reply, header, str_of};

/// Requests per node, all at once.
const PER_NODE: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_sent_to_every_node_at_once_queues_one_job() {
    let Some(cluster) = Cluster::start(3, &serve_args(4, &["echo"], &[])).await else { return };
    let task = cluster.nodes[0].api.task("echo once").await;
    let path = format!("/api/v1/tasks/{}/$execute", str_of(&task, "id"));
    let requests = cluster.nodes.iter().flat_map(|node| std::iter::repeat_n(&node.api, PER_NODE)).map(|api| {
        Reply::send(
            api.request(Method::POST, &path).header("Idempotency-Key", "cluster-once").json(&serde_json::json!({})),
        )
    });
    let replies = futures_util::future::join_all(requests).await;

    let mut ids = HashSet::new();
    let mut replayed = 0;
    for reply in &replies {
        let body = reply.expect(202, "execute with a shared Idempotency-Key");
        ids.insert(str_of(&body, "job_id").to_string());
        if header(&reply.headers, "idempotency-replayed") == "true" {
            replayed += 1;
        }
    }
    assert_eq!(ids.len(), 1, "every node answered with the same job: {ids:?}");
    assert_eq!(replayed, replies.len() - 1, "all answers but one are replays");
    let job = ids.into_iter().next().expect("one id");
    let done = cluster.nodes[1].api.wait_job(&job).await;
    assert_eq!(done["status"], "completed", "{done}");
    let listed = cluster.nodes[2].api.list_jobs(&format!("?task_id={}", str_of(&task, "id"))).await.expect(200, "list");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "one job for the task: {listed}");
    assert_eq!(count_jobs(&cluster.nodes[2].api, "completed").await, 1);
}
