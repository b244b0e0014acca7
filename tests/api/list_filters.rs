//! servicekit's list filters: `GET /tasks?enabled=` and `?tags=a,b` (tasks having all the tags), in both list
//! forms and through the keyset `Link`; `GET /jobs?status_filter=` as another name of `?status=`; jobs by their
//! task's tags and by the time they were submitted.

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

/// Jobs by their task's tags (all of them) and by `submitted_at` (`since` inclusive, `until` exclusive), the
/// filters kept by the keyset `Link`. The jobs' submit times are set apart in the database, a day each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_filtered_by_their_tasks_tags_and_by_submit_time() {
    let app = spawn_app().await;
    let nightly = app.create_task_ok(json!({ "command": "echo n", "tags": ["nightly", "db"] })).await;
    let other = app.create_task_ok(json!({ "command": "echo o", "tags": ["db"] })).await;
    let mut jobs = Vec::new();
    for task in [&nightly, &other, &nightly] {
        jobs.push(app.run_task(task, None).await.job_id);
    }
    const DAY: i64 = 86_400_000;
    let t0 = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    let db = sea_orm::Database::connect(app.db.url()).await.expect("open the database");
    for (i, job) in jobs.iter().enumerate() {
        let sql = format!("UPDATE jobs SET submitted_at = {} WHERE id = '{job}'", t0 + i as i64 * DAY);
        sea_orm::ConnectionTrait::execute_unprepared(&db, &sql).await.expect("set the submit time");
    }
    let _ = db.close().await;
    let (a, b, c) = (jobs[0].as_str(), jobs[1].as_str(), jobs[2].as_str());

    let listed = async |query: &str| ids_of(&app.list_jobs(query).await.expect(200, query));
    assert_eq!(listed("?tags=nightly").await, [c, a]);
    assert_eq!(listed("?tags=db").await, [c, b, a]);
    assert_eq!(listed("?tags=db,nightly").await, [c, a], "all the tags");
    assert_eq!(listed("?tags=night").await, Vec::<String>::new(), "a tag is matched whole");
    assert_eq!(listed("?since=2026-01-02T00:00:00Z").await, [c, b], "since is inclusive");
    assert_eq!(listed("?until=2026-01-02T00:00:00Z").await, [a], "until is exclusive");
    assert_eq!(listed("?since=2026-01-02T01:00:00%2B01:00&until=2026-01-03T00:00:00Z").await, [b], "any offset");
    assert_eq!(listed("?tags=nightly&since=2026-01-02T00:00:00Z&status=completed").await, [c]);
    let page: Value = app.list_jobs("?tags=db&since=2026-01-02T00:00:00Z&page=1&size=1").await.expect(200, "page");
    assert_eq!((ids_of(&page["items"]), page["total"].clone()), (vec![c.to_string()], json!(2)), "{page}");

    let first = app.list_jobs("?tags=db&since=2026-01-01T00:00:00Z&size=1&after=7ZZZZZZZZZZZZZZZZZZZZZZZZZ").await;
    let link = first.headers.get("link").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let next = &link[link.find('<').unwrap() + 1..link.find('>').unwrap()];
    let next = next.split_once("/api/v1/jobs").map_or(next, |(_, rest)| rest).to_string();
    assert!(next.contains("tags=db") && next.contains("since="), "{next}");
    assert_eq!(listed(&next).await, [b], "{next}");

    for bad in ["?since=yesterday", "?until=2026-01-01", "?tags=", "?tags=a,,b"] {
        app.list_jobs(bad).await.expect_problem(400, "invalid_query", bad);
    }
}
