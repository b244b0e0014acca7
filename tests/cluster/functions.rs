//! Two nodes on PostgreSQL where only one registers functions (the example server beside a plain `taskyard
//! serve`): function jobs submitted through the plain node all run on the node that registers their function, the
//! plain node never claims one, and each node's registry entry lists its functions.
use std::time::Duration;

use serde_json::json;

use crate::harness::{Cluster, poll_until, serve_args};
use crate::helpers::{TestApp, serve_example};

const JOBS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_node_that_registers_a_function_runs_its_jobs() {
    let args = serve_args(4, &["true"], &[]);
    let Some(cluster) = Cluster::start(1, &args).await else { return };
    let plain = &cluster.nodes[0];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let example = serve_example("functions", cluster.db.url(), &args).await;
    let with_functions = TestApp::external(&example.address, cluster.dir.clone(), cluster.db.clone());
    let pid = example.pid as i64;
    let example_id = poll_until("the example node to register", Duration::from_secs(10), async || {
        let nodes = plain.api.get("/api/v1/nodes").await.expect(200, "GET /api/v1/nodes");
        let mine = nodes.as_array().and_then(|n| n.iter().find(|n| n["pid"] == pid).cloned());
        mine.and_then(|n| n["id"].as_str().map(str::to_string)).ok_or_else(|| nodes.to_string())
    })
    .await;
    let add = with_functions.get("/api/v1/functions/add").await.expect(200, "GET /functions/add");
    assert_eq!(add["nodes"], json!([example_id]), "{add}");

    let task = plain.api.create_task_ok(json!({ "function": "add", "params": { "a": 1 } })).await;
    let task_id = task["id"].as_str().unwrap();
    let mut jobs = Vec::new();
    for b in 0..JOBS {
        jobs.push(plain.api.execute_ok(task_id, Some(json!({ "b": b }))).await);
    }
    for (b, job_id) in jobs.iter().enumerate() {
        let job = plain.api.wait_job(job_id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["node_id"], example_id.as_str(), "ran on the node that registers add: {job}");
        assert_eq!(job["result"], json!({ "result": 1 + b as i64 }));
    }
    // The plain node takes command jobs as before.
    let command = plain.api.task("true").await;
    let done = plain.api.run_task(&command, None).await;
    assert_eq!(done.job["status"], "completed");
}
