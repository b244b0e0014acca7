//! `POST /api/v1/jobs/$bulk`: retry or delete several jobs, each as its own request would, with a result per id.
use reqwest::Method;
use serde_json::json;

use crate::helpers::{fresh_ulid, spawn_app};

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
