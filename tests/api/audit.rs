//! The audit log: every changing request (and every request refused for its key) is recorded once answered, with
//! the key's name, the peer, the route template, the target id and the status; `GET /api/v1/audit` filters it and
//! pages it newest first; retention deletes old entries.
use std::time::Duration;

use serde_json::{Value, json};
use taskyard::access::new_key;
use taskyard::domain::Scope;

use crate::helpers::{Reply, TestApp, poll_until, spawn_app_with, str_of};

fn as_key(app: &TestApp, key: &str) -> TestApp {
    let mut other = TestApp::external(app.address.trim_start_matches("http://"), app.dir.clone(), app.db.clone());
    other.api_key = Some(key.to_string());
    other
}

fn entries(reply: &Reply) -> Vec<Value> {
    reply.json().as_array().cloned().unwrap_or_else(|| panic!("an array: {}", reply.text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_requests_are_recorded_with_key_route_target_and_status() {
    let (admin_key, admin_entry) = new_key("ops", Scope::Admin).unwrap();
    let (ci_key, ci_entry) = new_key("ci", Scope::Execute).unwrap();
    let (viewer_key, viewer_entry) = new_key("viewer", Scope::Read).unwrap();
    let mut admin = spawn_app_with(|s| s.keys = vec![admin_entry, ci_entry, viewer_entry]).await;
    admin.api_key = Some(admin_key);
    let (ci, viewer) = (as_key(&admin, &ci_key), as_key(&admin, &viewer_key));

    let task = admin.task("true").await;
    let task_id = str_of(&task, "id").to_string();
    let job_id = ci.execute_ok(&task_id, None).await;
    ci.wait_job(&job_id).await;
    viewer.delete_task(&task_id).await.expect_problem(403, "missing_scope", "a read key deletes");
    viewer.list_tasks("").await.expect(200, "reads are not recorded");
    let wrong = Reply::send(
        admin.client.delete(format!("{}/api/v1/tasks/{task_id}", admin.address)).header("X-API-Key", "tyk_wrong"),
    )
    .await;
    assert_eq!(wrong.status.as_u16(), 401, "{}", wrong.text);

    let log = entries(&admin.get("/api/v1/audit").await);
    let seen: Vec<(Value, Value, Value, Value, Value)> = log
        .iter()
        .map(|e| {
            (
                e["key_name"].clone(),
                e["method"].clone(),
                e["route"].clone(),
                e["target_id"].clone(),
                e["status"].clone(),
            )
        })
        .collect();
    let expected = vec![
        (Value::Null, json!("DELETE"), json!("/api/v1/tasks/{id}"), json!(task_id), json!(401)),
        (json!("viewer"), json!("DELETE"), json!("/api/v1/tasks/{id}"), json!(task_id), json!(403)),
        (json!("ci"), json!("POST"), json!("/api/v1/tasks/{id}/$execute"), json!(task_id), json!(202)),
        (json!("ops"), json!("POST"), json!("/api/v1/tasks"), Value::Null, json!(201)),
    ];
    assert_eq!(seen, expected, "newest first: {log:#?}");
    for entry in &log {
        assert_eq!(entry["remote_addr"], "127.0.0.1", "{entry}");
        assert!(entry["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{entry}");
    }

    // Filters, alone and together.
    let by_key = entries(&admin.get("/api/v1/audit?key=ci").await);
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0]["key_name"], "ci");
    let refused = entries(&admin.get("/api/v1/audit?status=403").await);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["key_name"], "viewer");
    let route = entries(&admin.get("/api/v1/audit?route=/api/v1/tasks/%7Bid%7D&status=401").await);
    assert_eq!(route.len(), 1, "{route:?}");
    let newest = log[0]["at"].as_str().unwrap();
    let oldest = log[3]["at"].as_str().unwrap();
    let since = entries(&admin.get(&format!("/api/v1/audit?since={}", urlencode(newest))).await);
    assert!(!since.is_empty() && since.iter().all(|e| e["at"].as_str().unwrap() >= newest), "{since:?}");
    let until = entries(&admin.get(&format!("/api/v1/audit?until={}", urlencode(oldest))).await);
    assert!(until.is_empty(), "nothing before the first entry: {until:?}");
    admin.get("/api/v1/audit?since=yesterday").await.expect_problem(400, "invalid_query", "a time that is no time");

    // Keyset paging: one at a time, following the Link header, gives the whole log in order.
    let mut paged = Vec::new();
    let mut next = Some("/api/v1/audit?size=1".to_string());
    while let Some(path) = next.take() {
        let reply = admin.get(&path).await;
        paged.extend(entries(&reply));
        if let Some(after) = reply.json().as_array().and_then(|a| a.last()).map(|e| e["id"].clone())
            && reply.headers.contains_key("link")
        {
            next = Some(format!("/api/v1/audit?size=1&after={}", after.as_str().unwrap()));
        }
    }
    assert_eq!(paged, log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_changes_are_recorded_without_a_name() {
    let app = spawn_app_with(|_| {}).await;
    let task = app.task("true").await;
    app.delete_task(str_of(&task, "id")).await;
    let log = entries(&app.get("/api/v1/audit").await);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|e| e["key_name"].is_null()), "{log:?}");
    assert_eq!(log[0]["method"], "DELETE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_entries() {
    let app = spawn_app_with(|s| {
        s.retention_days = 1.0;
        s.retention_check_seconds = 1;
    })
    .await;
    app.task("true").await;
    app.task("false").await;
    // Make the first entry two days old, as the clock would have.
    let db = sea_orm::Database::connect(app.db.url()).await.expect("open the database from the test");
    let first = entries(&app.get("/api/v1/audit").await)[1]["id"].as_str().unwrap().to_string();
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!("UPDATE audit_events SET at = at - {} WHERE id = '{first}'", 2 * 86_400_000i64),
    )
    .await
    .expect("age the entry");
    let _ = db.close().await;
    let left = poll_until("the old entry to go", Duration::from_secs(10), async || {
        let log = entries(&app.get("/api/v1/audit").await);
        if log.len() == 1 { Ok(log) } else { Err(format!("{log:?}")) }
    })
    .await;
    assert_ne!(left[0]["id"], first.as_str());
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}
