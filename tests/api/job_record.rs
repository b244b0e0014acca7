//! The fields the job engine added to the job record, on GET, in lists and in the stream's records.

use serde_json::Value;

use crate::helpers::{JOB_KEYS, SseEvent, assert_keys, spawn_app, utc_time};

const ENGINE_KEYS: &[&str] = &["max_attempts", "run_at", "node_id", "progress", "idempotency_key"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_records_carry_attempts_run_at_node_progress_and_key() {
    let app = spawn_app().await;
    let finished = app.run("echo fields").await;
    let records: Vec<Value> = finished.events.iter().filter_map(SseEvent::job).collect();
    let listed = app.list_jobs("").await.expect(200, "list jobs")[0].clone();
    let fetched = app.get_job_ok(&finished.job_id).await;
    for (what, job) in [("pending record", &records[0]), ("final record", &finished.job), ("listed", &listed)] {
        assert_keys(job, JOB_KEYS, what);
        assert_keys(job, ENGINE_KEYS, what);
        assert_eq!(job["max_attempts"], 1, "{what}: {job}");
        assert!(job["progress"].is_null(), "{what}: {job}");
        assert!(job["idempotency_key"].is_null(), "{what}: {job}");
        utc_time(&job["run_at"], "run_at");
    }
    assert_eq!(listed, fetched, "a listed job equals GET /jobs/{{id}}");
    assert!(records[0]["node_id"].is_null(), "no node before it runs: {}", records[0]);
    let running = &records[1];
    assert_eq!(running["status"], "running");
    assert!(running["node_id"].as_str().is_some_and(|n| !n.is_empty()), "the runner's boot id: {running}");
    assert_eq!(finished.job["node_id"], running["node_id"], "the node that ran it: {}", finished.job);
}
