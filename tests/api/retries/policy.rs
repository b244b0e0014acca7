//! The retry policy as stored: which policies are rejected and why, removing one with `PATCH`, and the policy a
//! queued job keeps.

use reqwest::Method;
use serde_json::{Value, json};

use super::{at_once, shell_app, task_with_retry};
use crate::helpers::{KillOnDrop, Reply, TestApp, spawn_app_with, str_of};

/// A rejected policy, checked on create and on update; `field` must appear in the problem's detail.
struct Bad {
    retry: Value,
    status: u16,
    code: &'static str,
    field: &'static str,
}

fn bad(retry: Value, status: u16, code: &'static str, field: &'static str) -> Bad {
    Bad { retry, status, code, field }
}

fn check_rejection(reply: &Reply, case: &Bad, what: &str) -> Option<String> {
    if let Some(mismatch) = reply.problem_mismatch(case.status, case.code) {
        return Some(format!("{what} with retry {}: {mismatch}", case.retry));
    }
    let detail = reply.json()["detail"].as_str().unwrap_or_default().to_string();
    (!detail.contains(case.field))
        .then(|| format!("{what} with retry {}: detail does not name {:?}: {detail:?}", case.retry, case.field))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_retry_policies_are_rejected_naming_the_field() {
    let app = shell_app().await;
    let valid = at_once(2);
    let task = task_with_retry(&app, "sh -c 'exit 3'", valid.clone()).await;
    let task_id = str_of(&task, "id");

    #[rustfmt::skip]
    let cases = [
        // Values that parse but break a rule: 422 validation_failed, the detail names the field.
        bad(json!({ "max_attempts": 0 }), 422, "validation_failed", "max_attempts"),
        bad(json!({ "max_attempts": 101 }), 422, "validation_failed", "max_attempts"),
        bad(json!({ "max_attempts": 2, "on": [] }), 422, "validation_failed", "on"),
        bad(json!({ "max_attempts": 2, "initial_delay_seconds": 5, "max_delay_seconds": 1 }), 422, "validation_failed", "max_delay_seconds"),
        bad(json!({ "max_attempts": 2, "initial_delay_seconds": -1 }), 422, "validation_failed", "initial_delay_seconds"),
        bad(json!({ "max_attempts": 2, "exit_codes": [0] }), 422, "validation_failed", "exit_codes"),
        bad(json!({ "max_attempts": 2, "exit_codes": [256] }), 422, "validation_failed", "exit_codes"),
        // Bodies that do not deserialize: what the API answers for unknown fields and wrong types.
        bad(json!({ "max_attempts": 2, "tries": 5 }), 422, "invalid_body", "tries"),
        bad(json!({ "max_attempts": 2, "backoff": "linear" }), 422, "invalid_body", "linear"),
        bad(json!({ "max_attempts": 2, "on": ["canceled"] }), 422, "invalid_body", "canceled"),
        bad(json!({ "backoff": "fixed" }), 422, "invalid_body", "max_attempts"),
        bad(json!({ "max_attempts": "3" }), 422, "invalid_body", ""),
        bad(json!("always"), 422, "invalid_body", ""),
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let created = app.create_task(&json!({ "command": "sh -c 'exit 3'", "retry": case.retry })).await;
        failures.extend(check_rejection(&created, case, "POST /tasks"));
        let updated = app.update_task(task_id, &json!({ "retry": case.retry })).await;
        failures.extend(check_rejection(&updated, case, "PUT /tasks/{id}"));
        let patched = patch_task(&app, task_id, &json!({ "retry": case.retry })).await;
        failures.extend(check_rejection(&patched, case, "PATCH /tasks/{id}"));
    }
    assert!(failures.is_empty(), "{} of {} checks failed:\n{}", failures.len(), cases.len() * 3, failures.join("\n"));

    let tasks = app.list_tasks("").await.expect(200, "list tasks");
    assert_eq!(tasks.as_array().map(Vec::len), Some(1), "no rejected task was created: {tasks}");
    let unchanged = app.get_task(task_id).await.expect(200, "get task");
    assert_eq!(unchanged["retry"], task["retry"], "no rejected update changed the policy");
}

async fn patch_task(app: &TestApp, task_id: &str, body: &Value) -> Reply {
    app.send_json(Method::PATCH, &format!("/api/v1/tasks/{task_id}"), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patching_retry_to_null_removes_the_policy() {
    let app = shell_app().await;
    let task = task_with_retry(&app, "sh -c 'exit 3'", at_once(3)).await;
    let task_id = str_of(&task, "id");

    let renamed = patch_task(&app, task_id, &json!({ "name": "renamed" })).await.expect(200, "rename");
    assert_eq!(renamed["retry"], task["retry"], "an update without `retry` keeps the policy: {renamed}");

    let cleared = patch_task(&app, task_id, &json!({ "retry": null })).await.expect(200, "PATCH retry: null");
    assert!(cleared.get("retry").is_some_and(Value::is_null), "{cleared}");
    assert!(app.get_task(task_id).await.expect(200, "get")["retry"].is_null(), "the removal is stored");
    let job = app.run_task(&cleared, None).await.job;
    assert_eq!((job["attempt"].clone(), job["max_attempts"].clone()), (json!(1), json!(1)), "{job}");

    let set = app.update_task(task_id, &json!({ "retry": at_once(2) })).await.expect(200, "PUT a policy");
    assert_eq!(set["retry"]["max_attempts"], 2, "{set}");
    let job = app.run_task(&set, None).await.job;
    assert_eq!((job["attempt"].clone(), job["max_attempts"].clone()), (json!(2), json!(2)), "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_keeps_the_policy_it_was_submitted_with() {
    const BLOCKER: &[&str] = &["sleep", "41.3"];
    let _cleanup = KillOnDrop(&[BLOCKER]);
    let app = spawn_app_with(|s| {
        s.allow.push("sh".into());
        s.max_concurrency = 1;
    })
    .await;
    let blocker = app.execute_ok(str_of(&app.task(&BLOCKER.join(" ")).await, "id"), None).await;
    app.stream(&blocker, None).await.until_status("running").await;

    let task = task_with_retry(&app, "sh -c 'exit 3'", at_once(3)).await;
    let queued = app.execute_ok(str_of(&task, "id"), None).await;
    assert_eq!(app.get_job_ok(&queued).await["max_attempts"], 3);
    app.update_task(str_of(&task, "id"), &json!({ "retry": null })).await.expect(200, "remove the policy");

    app.cancel(&blocker).await.expect(202, "release the runner slot");
    let job = app.wait_job(&queued).await;
    assert_eq!(job["attempt"], 3, "the policy was copied at submission: {job}");
    assert_eq!(job["max_attempts"], 3, "{job}");
    let fresh = app.run_task(&app.get_task(str_of(&task, "id")).await.expect(200, "task"), None).await.job;
    assert_eq!((fresh["attempt"].clone(), fresh["max_attempts"].clone()), (json!(1), json!(1)), "{fresh}");
}
