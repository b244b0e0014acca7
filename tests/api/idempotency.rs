//! `Idempotency-Key` on `$execute`: the same key for the same task answers with the job it created the first time.

use futures_util::future::join_all;
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::Value;

use crate::helpers::{Reply, TestApp, header, ids_of, spawn_app, str_of};

async fn execute_with_key(app: &TestApp, task_id: &str, key: Option<&[u8]>) -> Reply {
    let mut builder = app.request(Method::POST, &format!("/api/v1/tasks/{task_id}/$execute"));
    if let Some(key) = key {
        builder = builder.header("Idempotency-Key", HeaderValue::from_bytes(key).expect("a sendable header value"));
    }
    Reply::send(builder).await
}

/// Executes with this key, asserting 202; returns the job id and whether the answer says it was replayed.
async fn execute_key_ok(app: &TestApp, task_id: &str, key: &str) -> (String, bool) {
    let reply = execute_with_key(app, task_id, Some(key.as_bytes())).await;
    let body = reply.expect(202, &format!("execute with Idempotency-Key {key:?}"));
    let job_id = str_of(&body, "job_id").to_string();
    let location = header(&reply.headers, "location");
    assert!(location.ends_with(&format!("/api/v1/jobs/{job_id}")), "Location {location:?} for job {job_id}");
    (job_id, header(&reply.headers, "idempotency-replayed") == "true")
}

async fn job_ids_of_task(app: &TestApp, task_id: &str) -> Vec<String> {
    ids_of(&app.list_jobs(&format!("?task_id={task_id}")).await.expect(200, "jobs of the task"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_twice_gives_the_same_job() {
    let app = spawn_app().await;
    let task = app.task("echo once").await;
    let task_id = str_of(&task, "id");

    let (job_id, replayed) = execute_key_ok(&app, task_id, "order-42").await;
    assert!(!replayed, "the first request is not a replay");
    let (again, replayed) = execute_key_ok(&app, task_id, "order-42").await;
    assert_eq!(again, job_id, "the same key answers with the same job");
    assert!(replayed, "the second answer carries Idempotency-Replayed: true");

    let job = app.wait_job(&job_id).await;
    assert_eq!(job["idempotency_key"], "order-42", "{job}");
    let (after_end, replayed) = execute_key_ok(&app, task_id, "order-42").await;
    assert_eq!(after_end, job_id, "a finished job is still the answer to its key");
    assert!(replayed);
    assert_eq!(job_ids_of_task(&app, task_id).await, [job_id.as_str()], "one job ran");
    assert_eq!(app.stream_job_until_done(&job_id).await.iter().filter(|e| e.event == "stdout").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_keys_other_tasks_and_no_key_give_new_jobs() {
    let app = spawn_app().await;
    let task = app.task("echo a").await;
    let other = app.task("echo b").await;
    let (task_id, other_id) = (str_of(&task, "id"), str_of(&other, "id"));

    let (first, _) = execute_key_ok(&app, task_id, "key-1").await;
    let (second, replayed) = execute_key_ok(&app, task_id, "key-2").await;
    assert_ne!(first, second, "another key is another job");
    assert!(!replayed);
    let (elsewhere, replayed) = execute_key_ok(&app, other_id, "key-1").await;
    assert_ne!(elsewhere, first, "the same key on another task is another job");
    assert!(!replayed);
    assert_eq!(app.get_job_ok(&elsewhere).await["idempotency_key"], "key-1");
    // Keys are case-sensitive strings, not normalised.
    let (upper, _) = execute_key_ok(&app, task_id, "KEY-1").await;
    assert_ne!(upper, first);

    let plain = [app.execute_ok(task_id, None).await, app.execute_ok(task_id, None).await];
    assert_ne!(plain[0], plain[1], "without a key every request queues a run");
    let job = app.wait_job(&plain[0]).await;
    assert!(job.get("idempotency_key").is_some_and(Value::is_null), "{job}");

    let mut ids = job_ids_of_task(&app, task_id).await;
    ids.sort();
    let mut expected = vec![first, second, upper, plain[0].clone(), plain[1].clone()];
    expected.sort();
    assert_eq!(ids, expected);
    for id in &ids {
        app.wait_job(id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_create_one_job() {
    let app = spawn_app().await;
    let task = app.task("echo racing").await;
    let task_id = str_of(&task, "id");

    let answers = join_all((0..8).map(|_| execute_key_ok(&app, task_id, "race-key"))).await;
    let job_id = answers[0].0.clone();
    assert!(answers.iter().all(|(id, _)| *id == job_id), "one job for one key: {answers:?}");
    let fresh = answers.iter().filter(|(_, replayed)| !replayed).count();
    assert_eq!(fresh, 1, "exactly one answer created the job, the others are replays: {answers:?}");
    assert_eq!(job_ids_of_task(&app, task_id).await, [job_id.as_str()]);
    app.wait_job(&job_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_keys_are_rejected_with_400() {
    let app = spawn_app().await;
    let task = app.task("echo keyed").await;
    let task_id = str_of(&task, "id");

    let longest = "k".repeat(255);
    let (job_id, _) = execute_key_ok(&app, task_id, &longest).await;
    assert_eq!(app.get_job_ok(&job_id).await["idempotency_key"], longest.as_str(), "255 characters are allowed");

    let too_long = "k".repeat(256);
    let bad: [(&str, &[u8]); 5] = [
        ("empty", b""),
        ("256 characters", too_long.as_bytes()),
        ("non-ASCII", "schlüssel".as_bytes()),
        ("a space", b"two words"),
        ("a tab", b"tab\tkey"),
    ];
    let mut failures = Vec::new();
    for (what, key) in bad {
        let reply = execute_with_key(&app, task_id, Some(key)).await;
        if let Some(mismatch) = reply.problem_mismatch(400, "invalid_header") {
            failures.push(format!("{what}: {mismatch}"));
        } else if !reply.json()["detail"].as_str().unwrap_or_default().contains("Idempotency-Key") {
            failures.push(format!("{what}: the detail does not name the header: {}", reply.text));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(job_ids_of_task(&app, task_id).await, [job_id.as_str()], "rejected requests queue nothing");
    let job = app.wait_job(&job_id).await;
    assert_eq!(job["status"], "completed", "{job}");
}

/// A repeat is answered with the first job whatever it says now: a body that would be refused, a task disabled
/// since. The first request is what counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_gets_the_first_answer_whatever_its_body_says() {
    let app = spawn_app().await;
    let task = app.task("echo {who}").await;
    let task_id = str_of(&task, "id");
    let first = app
        .request(Method::POST, &format!("/api/v1/tasks/{task_id}/$execute"))
        .header("Idempotency-Key", "k-1")
        .json(&serde_json::json!({ "params": { "who": "world" } }));
    let body = Reply::send(first).await.expect(202, "first execute");
    let job_id = str_of(&body, "job_id").to_string();

    app.update_task(task_id, &serde_json::json!({ "enabled": false })).await.expect(200, "disable the task");
    for (what, body) in [
        ("no params", None),
        ("malformed JSON", Some("not json")),
        ("an unknown field", Some(r#"{"bogus": 1}"#)),
        ("a bad run_at", Some(r#"{"run_at": "yesterday"}"#)),
    ] {
        let mut repeat = app
            .request(Method::POST, &format!("/api/v1/tasks/{task_id}/$execute"))
            .header("Idempotency-Key", "k-1")
            .header("Content-Type", "application/json");
        if let Some(body) = body {
            repeat = repeat.body(body);
        }
        let reply = Reply::send(repeat).await;
        let answer = reply.expect(202, &format!("a repeat with {what}"));
        assert_eq!(str_of(&answer, "job_id"), job_id, "a repeat with {what}");
        assert_eq!(header(&reply.headers, "idempotency-replayed"), "true", "a repeat with {what}");
    }
    assert_eq!(job_ids_of_task(&app, task_id).await, [job_id.as_str()], "one job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keys_in_one_request_are_rejected() {
    let app = spawn_app().await;
    let task = app.task("echo twice").await;
    let task_id = str_of(&task, "id");
    let request = app
        .request(Method::POST, &format!("/api/v1/tasks/{task_id}/$execute"))
        .header("Idempotency-Key", "k1")
        .header("Idempotency-Key", "k2");
    Reply::send(request).await.expect_problem(400, "invalid_header", "two Idempotency-Key headers");
    assert!(job_ids_of_task(&app, task_id).await.is_empty(), "nothing was queued");
}
