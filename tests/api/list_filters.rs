//! servicekit's list filters: `GET /tasks?enabled=` and `?tags=a,b` (tasks having all the tags), in both list
//! forms and through the keyset `Link`; `GET /jobs?status_filter=` as another name of `?status=`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, ids_of, spawn_app, str_of};

async fn task(app: &TestApp, tags: &[&str], enabled: bool) -> String {
    let body = json!({ "command": "echo hi", "tags": tags, "enabled": enabled });
    str_of(&app.create_task_ok(body).await, "id").to_string()
}

async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let reply = app.list_tasks(query).await.expect(200, query);
    let items = if reply.is_array() { reply } else { reply["items"].clone() };
    ids_of(&items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_filtered_by_enabled_and_by_all_of_their_tags() {
    let app = spawn_app().await;
    let a = task(&app, &["nightly", "db"], true).await;
    let b = task(&app, &["nightly"], false).await;
    let c = task(&app, &["db", "x\"nightly"], true).await;
    let d = task(&app, &["100%_db"], true).await;
    let e = task(&app, &[], true).await;

    assert_eq!(listed(&app, "").await, [&*a, &*b, &*c, &*d, &*e]);
    assert_eq!(listed(&app, "?enabled=true").await, [&*a, &*c, &*d, &*e]);
    assert_eq!(listed(&app, "?enabled=false").await, [b.as_str()]);
    assert_eq!(listed(&app, "?tags=nightly").await, [&*a, &*b], "a tag inside another tag's text is no match");
    assert_eq!(listed(&app, "?tags=nightly,db").await, [a.as_str()], "all the tags, not any");
    assert_eq!(listed(&app, "?tags=db,%20nightly&enabled=true").await, [a.as_str()]);
    assert_eq!(listed(&app, "?tags=100%25_db").await, [d.as_str()], "LIKE's wildcards are literal in a tag");
    assert_eq!(listed(&app, "?tags=100%25%25db").await, Vec::<String>::new());
    assert_eq!(listed(&app, "?tags=ni%25").await, Vec::<String>::new());
    assert_eq!(listed(&app, "?tags=db&page=1&size=1").await, [a.as_str()], "numbered form");
    let page: Value = app.list_tasks("?tags=db&page=1&size=1").await.expect(200, "page");
    assert_eq!(page["total"], 2, "{page}");

    // The keyset form's next link keeps the filter.
    let first = app.list_tasks("?tags=db&size=1&after=00000000000000000000000000").await;
    assert_eq!(ids_of(&first.expect(200, "the first slice")), [a.as_str()]);
    let link = first.headers.get("link").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(link.contains("tags=db"), "{link:?}");
    let next = &link[link.find('<').unwrap() + 1..link.find('>').unwrap()];
    let next = next.split_once("/api/v1/tasks").map_or(next, |(_, rest)| rest);
    assert_eq!(listed(&app, next).await, [c.as_str()], "{next}");

    for bad in ["?enabled=yes", "?tags=", "?tags=a,,b"] {
        app.list_tasks(bad).await.expect_problem(400, "invalid_query", bad);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_filter_is_another_name_of_status() {
    let app = spawn_app().await;
    let done = app.run("echo done").await.job_id;
    let later = app.task("echo later").await;
    let accepted =
        app.execute(str_of(&later, "id"), Some(&json!({ "delay_seconds": 3600 }))).await.expect(202, "delay 1 h");
    let pending = str_of(&accepted, "job_id").to_string();

    let ids = |v: Value| ids_of(&v);
    assert_eq!(ids(app.list_jobs("?status_filter=completed").await.expect(200, "completed")), [done.as_str()]);
    assert_eq!(ids(app.list_jobs("?status_filter=pending").await.expect(200, "pending")), [pending.as_str()]);
    assert_eq!(
        ids(app.list_jobs("?status=pending&status_filter=pending").await.expect(200, "both")),
        [pending.as_str()]
    );
    app.list_jobs("?status=pending&status_filter=completed").await.expect_problem(400, "invalid_query", "disagree");
    app.list_jobs("?status_filter=sleeping").await.expect_problem(400, "invalid_query", "no such state");
}
