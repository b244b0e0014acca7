//! API keys: with `api_keys` set, every `/api` route needs `X-API-Key`; health and docs stay open.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Reply, fresh_ulid, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_routes_need_a_valid_key() {
    let app = spawn_app_with(|s| s.api_keys = vec!["first-key".into(), "second-key".into()]).await;
    let unknown = fresh_ulid();
    let routes = [
        (Method::GET, "/api/v1/tasks".to_string()),
        (Method::POST, "/api/v1/tasks".to_string()),
        (Method::GET, format!("/api/v1/tasks/{unknown}")),
        (Method::POST, format!("/api/v1/tasks/{unknown}/$execute")),
        (Method::GET, "/api/v1/tasks/$orphaned".to_string()),
        (Method::GET, "/api/v1/jobs".to_string()),
        (Method::DELETE, format!("/api/v1/jobs/{unknown}")),
        (Method::GET, format!("/api/v1/jobs/{unknown}/output")),
        (Method::GET, format!("/api/v1/jobs/{unknown}/$stream")),
    ];
    let body = json!({ "command": "echo sneaky" });

    let mut failures = Vec::new();
    for (method, path) in &routes {
        for key in [None, Some("wrong-key"), Some("")] {
            let mut request = app.client.request(method.clone(), format!("{}{path}", app.address)).json(&body);
            if let Some(key) = key {
                request = request.header("X-API-Key", key);
            }
            let reply = Reply::send(request).await;
            if let Some(problem) = reply.problem_mismatch(401, "unauthorized") {
                failures.push(format!("{method} {path} with key {key:?}: {problem}"));
            }
        }
    }
    assert!(failures.is_empty(), "unauthenticated requests got through:\n{}", failures.join("\n"));

    // The helpers send the first key.
    let list = app.list_tasks("").await.expect(200, "list with the first key");
    assert_eq!(list, json!([]), "no unauthenticated create went through");
    let created = app.task("echo allowed").await;

    let with_second =
        Reply::send(app.client.get(format!("{}/api/v1/tasks", app.address)).header("X-API-Key", "second-key"))
            .await
            .expect(200, "list with the second key");
    assert_eq!(with_second, json!([created]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_docs_need_no_key() {
    let app = spawn_app_with(|s| s.api_keys = vec!["health-check-key".into()]).await;
    for path in ["/health", "/openapi.json", "/docs/"] {
        let reply = Reply::send(app.client.get(format!("{}{path}", app.address))).await;
        assert_eq!(reply.status.as_u16(), 200, "{path} without a key: {}", reply.text);
    }
}
