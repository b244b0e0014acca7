//! `POST /api/v1/jobs/$bulk`: retry or delete several jobs, each as its own request would, with a result per id.
use reqwest::Method;
use serde_json::json;

use crate::helpers::{fresh_ulid, spawn_app, str_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_retried_and_deleted_together_with_a_result_for_each() {
    let app = spawn_app().await;
    let a = app.run("false").await.job_id;
    let b = app.run("false").await.job_id;
    let unknown = fresh_ulid();

    let reply = app
        .send_json(Method::POST, "/api/v1/jobs/$bulk", &json!({"action": "retry", "ids": [a, "nope", unknown, b]}))
        .await
        .expect(200, "bulk retry");
    let results = reply["results"].as_array().expect("results");
    let statuses: Vec<_> = results.iter().map(|r| (r["status"].as_u64(), r["code"].as_str())).collect();
    assert_eq!(
        statuses,
        [(Some(202), None), (Some(400), Some("invalid_id")), (Some(404), Some("job_not_found")), (Some(202), None)],
        "{reply}"
    );
    let retried = results[0]["job"]["id"].as_str().expect("the new job").to_string();
    assert_ne!(retried, a);
    app.wait_job(&retried).await;

    let reply = app
        .send_json(Method::POST, "/api/v1/jobs/$bulk", &json!({"action": "delete", "ids": [a, b, a]}))
        .await
        .expect(200, "bulk delete");
    let statuses: Vec<_> = reply["results"].as_array().expect("results").iter().map(|r| r["status"].as_u64()).collect();
    assert_eq!(statuses, [Some(204), Some(204), Some(404)], "the repeated id is gone by its turn: {reply}");
    app.get_job(&a).await.expect_problem(404, "job_not_found", "deleted");
    app.get_job(&retried).await.expect(200, "the retry stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_request_holds_one_to_a_hundred_ids() {
    let app = spawn_app().await;
    let many: Vec<String> = (0..101).map(|_| fresh_ulid()).collect();
    for (ids, what) in [(json!([]), "no ids"), (json!(many), "101 ids")] {
        app.send_json(Method::POST, "/api/v1/jobs/$bulk", &json!({"action": "delete", "ids": ids}))
            .await
            .expect_problem(422, "validation_failed", what);
    }
    app.send_json(Method::POST, "/api/v1/jobs/$bulk", &json!({"action": "cancel", "ids": [fresh_ulid()]}))
        .await
        .expect_problem(422, "invalid_body", "an unknown action");
}

/// By filter: the newest 100 matching jobs, then `next` to send back as `after` for the older ones, so that a
/// second request never takes a job of the first; a retry by filter leaves the other jobs alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_acted_on_by_filter_a_hundred_at_a_time() {
    let app = spawn_app().await;
    let tagged = app.create_task_ok(json!({ "command": "false", "tags": ["nightly"] })).await;
    let failed = [app.run_task(&tagged, None).await.job_id, app.run_task(&tagged, None).await.job_id];
    app.run("false").await;
    let bulk = async |body: serde_json::Value| app.send_json(Method::POST, "/api/v1/jobs/$bulk", &body).await;

    let reply = bulk(json!({"action": "retry", "filter": {"status": "failed", "tags": ["nightly"]}})).await;
    let reply = reply.expect(200, "retry by filter");
    let acted: Vec<&str> = reply["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(acted, [&*failed[1], &*failed[0]], "newest first: {reply}");
    assert!(reply["results"].as_array().unwrap().iter().all(|r| r["status"] == 202), "{reply}");
    assert_eq!(reply["next"], json!(null));
    let jobs = app.list_jobs("").await.expect(200, "jobs");
    assert_eq!(jobs.as_array().map(Vec::len), Some(5), "2 retried, the untagged failure left alone: {jobs}");

    // 101 pending jobs (due in an hour): a delete by filter cancels the newest 100, then the one left.
    let later = app.task("true").await;
    let mut pending = Vec::new();
    for _ in 0..101 {
        let accepted = app.execute(str_of(&later, "id"), Some(&json!({ "delay_seconds": 3600 }))).await;
        pending.push(str_of(&accepted.expect(202, "delayed"), "job_id").to_string());
    }
    let filter = json!({"status": "pending", "task_id": str_of(&later, "id")});
    let first = bulk(json!({"action": "delete", "filter": filter})).await.expect(200, "the first 100");
    let first_ids: Vec<&str> = first["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(first_ids.len(), 100);
    assert_eq!(first["next"].as_str(), Some(first_ids[99]), "{}", first["next"]);
    let rest =
        bulk(json!({"action": "delete", "filter": filter, "after": first["next"]})).await.expect(200, "the rest");
    let rest_ids: Vec<&str> = rest["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!((rest_ids, rest["next"].clone()), (vec![pending[0].as_str()], json!(null)), "the oldest, once");
    let left = app.list_jobs("?status=pending").await.expect(200, "pending");
    assert_eq!(left, json!([]), "every pending job was canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_request_names_ids_or_a_filter_and_the_filter_must_parse() {
    let app = spawn_app().await;
    let id = fresh_ulid();
    let cases = [
        (json!({"action": "retry"}), "validation_failed", "or a filter"),
        (json!({"action": "retry", "ids": [id], "filter": {}}), "validation_failed", "not both"),
        (json!({"action": "retry", "ids": [id], "after": id}), "validation_failed", "only with a filter"),
        (json!({"action": "retry", "filter": {"since": "yesterday"}}), "validation_failed", "filter.since"),
        (json!({"action": "retry", "filter": {"tags": [""]}}), "validation_failed", "filter.tags"),
        (json!({"action": "retry", "filter": {"task_id": "x"}}), "validation_failed", "filter.task_id"),
        (json!({"action": "retry", "filter": {}, "after": "x"}), "validation_failed", "after"),
        (json!({"action": "retry", "filter": {"status": "sleeping"}}), "invalid_body", "status"),
        (json!({"action": "retry", "filter": {"owner": "me"}}), "invalid_body", "owner"),
    ];
    for (body, code, detail) in cases {
        let reply = app.send_json(Method::POST, "/api/v1/jobs/$bulk", &body).await;
        reply.expect_problem(422, code, &body.to_string());
        assert!(reply.text.contains(detail), "{body}: {}", reply.text);
    }
}
