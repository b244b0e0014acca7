//! `GET /metrics`: scraped over HTTP and parsed; the counters and histograms move by exactly what happened, the
//! backlog and the running jobs are read at scrape time, labels are route templates (never a raw path or an id),
//! and the API key guards it unless `metrics_public` is set.
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Reply, TestApp, poll_until, spawn_app_with, str_of};

async fn run(app: &TestApp, task: &serde_json::Value) -> String {
    let id = app.execute_ok(str_of(task, "id"), None).await;
    app.wait_job(&id).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_a_failure_and_a_retry_move_the_counters_by_exactly_that() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let ok = app.task("true").await;
    let failing = app.task("false").await;
    let retry = json!({ "max_attempts": 2, "backoff": "fixed", "initial_delay_seconds": 0 });
    let retried = app.create_task_ok(json!({ "command": "sh -c 'exit 3'", "retry": retry })).await;
    let before = app.scrape().await;

    let mut ids = Vec::new();
    for task in [&ok, &failing, &retried] {
        ids.push(run(&app, task).await);
    }
    let after = app.scrape().await;
    let moved = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
    let observed =
        |name: &str, labels: &[(&str, &str)]| after.observations(name, labels) - before.observations(name, labels);

    assert_eq!(moved("taskyard_jobs_started_total", &[]), 4.0, "three jobs, one of them twice:\n{}", after.text);
    assert_eq!(moved("taskyard_jobs_finished_total", &[("outcome", "success")]), 1.0, "{}", after.text);
    assert_eq!(moved("taskyard_jobs_finished_total", &[("outcome", "exit_code")]), 2.0, "{}", after.text);
    assert_eq!(moved("taskyard_job_retries_total", &[]), 1.0, "{}", after.text);
    assert_eq!(moved("taskyard_jobs_rescued_total", &[]), 0.0, "{}", after.text);
    assert_eq!(observed("taskyard_job_duration_seconds", &[]), 3.0, "one per finished job:\n{}", after.text);
    assert_eq!(observed("taskyard_job_queue_wait_seconds", &[]), 4.0, "one per attempt:\n{}", after.text);
    assert!(observed("taskyard_db_write_batch_size", &[]) >= 4.0, "every job was written:\n{}", after.text);
    assert_eq!(
        observed("taskyard_db_write_batch_size", &[]),
        observed("taskyard_db_commit_duration_seconds", &[]),
        "each group is one batch and one commit:\n{}",
        after.text
    );
    let executes = [("method", "POST"), ("route", "/api/v1/tasks/{id}/$execute"), ("status", "202")];
    assert_eq!(moved("taskyard_http_requests_total", &executes), 3.0, "{}", after.text);
    let streams = [("method", "GET"), ("route", "/api/v1/jobs/{id}/$stream")];
    assert_eq!(observed("taskyard_http_request_duration_seconds", &streams), 3.0, "{}", after.text);
    for id in &ids {
        assert!(!after.text.contains(id.as_str()), "a job id is never a label:\n{}", after.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_running_jobs_and_sse_clients_are_read_at_scrape_time() {
    let app = spawn_app_with(|s| s.max_concurrency = 1).await;
    let sleeper = app.task("sleep 30").await;
    let quick = app.task("true").await;
    let running = app.execute_ok(str_of(&sleeper, "id"), None).await;
    let mut stream = app.stream(&running, None).await;
    stream.until_status("running").await;
    let waiting = [app.execute_ok(str_of(&quick, "id"), None).await, app.execute_ok(str_of(&quick, "id"), None).await];

    let busy = app.scrape().await;
    assert_eq!(busy.value("taskyard_jobs_running", &[]), 1.0, "{}", busy.text);
    assert_eq!(busy.value("taskyard_jobs_pending_due", &[]), 2.0, "{}", busy.text);
    let age = busy.value("taskyard_oldest_pending_age_seconds", &[]);
    assert!((0.0..60.0).contains(&age), "the oldest pending job waits since its submit: {age}\n{}", busy.text);
    assert_eq!(busy.value("taskyard_sse_clients", &[]), 1.0, "{}", busy.text);

    app.cancel(&running).await.expect(202, "cancel the sleeper");
    stream.until_done().await;
    drop(stream);
    for id in &waiting {
        app.wait_job(id).await;
    }
    poll_until("an idle node", Duration::from_secs(10), async || {
        let idle = app.scrape().await;
        let figures = ["taskyard_jobs_running", "taskyard_jobs_pending_due", "taskyard_sse_clients"]
            .map(|name| idle.value(name, &[]));
        let age = idle.value("taskyard_oldest_pending_age_seconds", &[]);
        if figures == [0.0; 3] && age == 0.0 { Ok(()) } else { Err(format!("{figures:?} {age}")) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_route_templates_and_known_methods_never_raw_paths() {
    let app = spawn_app_with(|_| {}).await;
    let id = run(&app, &app.task("true").await).await;
    app.get(&format!("/api/v1/jobs/{id}")).await.expect(200, "get the job");
    app.get("/api/v1/jobs/01J0000000000000000000SECRET/output").await;
    app.get("/no/such/path/01J00000000000000000000NOPE").await;
    Reply::send(app.request(Method::from_bytes(b"BREW").expect("a method"), "/api/v1/jobs")).await;

    let m = app.scrape().await;
    let routes = m.label_values("route");
    assert!(routes.contains(&"/api/v1/jobs/{id}".to_string()), "{routes:?}");
    assert!(routes.contains(&"unmatched".to_string()), "an unknown path is `unmatched`: {routes:?}");
    assert!(routes.iter().all(|r| !r.contains("01J")), "no id in a route label: {routes:?}");
    assert!(!m.text.contains(&id) && !m.text.contains("SECRET") && !m.text.contains("NOPE"), "{}", m.text);
    let methods = m.label_values("method");
    assert!(methods.contains(&"other".to_string()) && !methods.iter().any(|m| m == "BREW"), "{methods:?}");
    let bad_id = [("route", "/api/v1/jobs/{id}/output"), ("status", "400")];
    assert_eq!(m.value("taskyard_http_requests_total", &bad_id), 1.0, "a malformed id is its route's 400:\n{}", m.text);
    let unknown = [("route", "unmatched"), ("status", "404")];
    assert_eq!(m.value("taskyard_http_requests_total", &unknown), 1.0, "{}", m.text);
    let brew = [("method", "other"), ("route", "/api/v1/jobs"), ("status", "405")];
    assert_eq!(m.value("taskyard_http_requests_total", &brew), 1.0, "{}", m.text);
}

/// A client of `app` that sends no API key.
fn without_key(app: &TestApp) -> TestApp {
    TestApp::external(app.address.trim_start_matches("http://"), app.dir.clone(), app.db.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_api_key_unless_public() {
    let guarded = spawn_app_with(|s| s.api_keys = vec!["metrics-key".into()]).await;
    let anonymous = without_key(&guarded);
    anonymous.get("/metrics").await.expect_problem(401, "unauthorized", "no key");
    let wrong = Reply::send(anonymous.request(Method::GET, "/metrics").header("X-API-Key", "not-the-key")).await;
    wrong.expect_problem(401, "unauthorized", "a wrong key");
    guarded.scrape().await;

    let public = spawn_app_with(|s| {
        s.api_keys = vec!["metrics-key".into()];
        s.metrics_public = true;
    })
    .await;
    let anonymous = without_key(&public);
    anonymous.scrape().await;
    anonymous.get("/api/v1/jobs").await.expect_problem(401, "unauthorized", "the API itself stays guarded");
}
