//! A function job whose server is killed with SIGKILL (the real example server, a real process) is rescued when a
//! server starts again on the database: it runs again only when its retry policy allows, and is lost otherwise.
use std::sync::Arc;

use serde_json::json;

use crate::helpers::{TestApp, TestDb, serve_example, sqlite_only};

#[tokio::test]
async fn a_function_job_rescued_after_kill_9_runs_again_only_under_its_retry_policy() {
    if sqlite_only(
        "a restarted server on SQLite rescues its predecessor's jobs at once (tests/cluster covers PostgreSQL)",
    ) {
        return;
    }
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let db = Arc::new(TestDb::sqlite(dir.path()));
    let mut first = serve_example("functions", db.url(), &[]).await;
    let app = TestApp::external(&first.address, dir.clone(), db.clone());
    let params = json!({ "seconds": 2 });
    let retried = app
        .create_task_ok(json!({ "function": "nap", "params": params, "retry": { "max_attempts": 2, "on": ["lost"] } }))
        .await;
    let once = app.create_task_ok(json!({ "function": "nap", "params": params })).await;
    let mut jobs = Vec::new();
    for task in [&retried, &once] {
        let job_id = app.execute_ok(task["id"].as_str().unwrap(), None).await;
        app.stream(&job_id, None).await.until_status("running").await;
        jobs.push(job_id);
    }
    first.kill9().await;

    let second = serve_example("functions", db.url(), &[]).await;
    let app = TestApp::external(&second.address, dir.clone(), db.clone());
    let again = app.wait_job(&jobs[0]).await;
    assert_eq!((again["status"].as_str(), again["attempt"].as_i64()), (Some("completed"), Some(2)), "{again}");
    assert_eq!(again["result"], json!({ "slept": 2.0 }));
    let lost = app.wait_job(&jobs[1]).await;
    assert_eq!((lost["status"].as_str(), lost["outcome"].as_str()), (Some("failed"), Some("lost")), "{lost}");
    assert_eq!(lost["attempt"], 1);
}
