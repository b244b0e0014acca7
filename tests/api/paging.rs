//! Every list is bounded: the un-paged form answers at most 1,000 items with a `Link` to the rest, `after` walks a
//! list by id (keyset), and the numbered `page`/`size` form keeps working.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::header;
use crate::helpers::{TestApp, spawn_app};

/// The un-paged form's bound, as the README states it.
const UNPAGED_LIMIT: usize = 1000;

async fn create_tasks(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let made = join_all(chunk.iter().map(|_| app.task("true"))).await;
        ids.extend(made.iter().map(|t| t["id"].as_str().expect("task id").to_string()));
    }
    ids.sort();
    ids
}

fn ids(list: &Value) -> Vec<String> {
    let items = list.as_array().unwrap_or_else(|| panic!("a plain array: {list}"));
    items.iter().map(|t| t["id"].as_str().expect("id").to_string()).collect()
}

/// The target of `Link: <…>; rel="next"`, if there is one.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = header(headers, "link");
    if link.is_empty() {
        return None;
    }
    let (target, rel) = link.split_once(';').unwrap_or_else(|| panic!("Link without rel: {link}"));
    assert_eq!(rel.trim(), "rel=\"next\"", "{link}");
    Some(target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unpaged_list_is_capped_and_links_to_the_rest() {
    let app = spawn_app().await;
    let all = create_tasks(&app, UNPAGED_LIMIT + 2).await;

    let first = app.list_tasks("").await;
    let first_ids = ids(&first.expect(200, "un-paged list"));
    assert_eq!(first_ids, all[..UNPAGED_LIMIT], "the first 1,000 tasks, oldest first");
    let next = next_link(&first.headers).expect("a Link to the rest when more exist");
    assert_eq!(next, format!("/api/v1/tasks?after={}", all[UNPAGED_LIMIT - 1]));

    let rest = app.get(&next).await;
    assert_eq!(ids(&rest.expect(200, "the Link target")), all[UNPAGED_LIMIT..], "the rest, after the cursor");
    assert_eq!(next_link(&rest.headers), None, "no Link on the last slice");

    // The numbered form is bounded too, and still counts everything.
    let page = app.list_tasks("?page=2&size=1000").await.expect(200, "page 2");
    assert_eq!(page["total"], json!(all.len()), "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    app.list_tasks("?size=1001").await.expect_problem(400, "invalid_query", "size above the cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_walks_every_list_by_id_and_keeps_the_filters() {
    let app = spawn_app().await;
    let tasks = create_tasks(&app, 5).await;

    // Tasks, oldest first, two at a time: the walk is the whole list, each once.
    let mut walked = Vec::new();
    let mut path = "/api/v1/tasks?size=2&after=00000000000000000000000000".to_string();
    loop {
        let reply = app.get(&path).await;
        walked.extend(ids(&reply.expect(200, &path)));
        match next_link(&reply.headers) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(walked, tasks);
    assert!(path.contains("size=2"), "the Link keeps size: {path}");

    // Jobs, newest first: `after` gives older ones, and the Link keeps the filter.
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(app.execute_ok(&tasks[0], None).await);
    }
    app.execute_ok(&tasks[1], None).await;
    let newest = app.list_jobs(&format!("?task_id={}&size=2&after=7ZZZZZZZZZZZZZZZZZZZZZZZZZ", tasks[0])).await;
    assert_eq!(ids(&newest.expect(200, "jobs of a task")), [jobs[2].clone(), jobs[1].clone()]);
    let next = next_link(&newest.headers).expect("a Link to the older job");
    assert!(next.contains(&format!("task_id={}", tasks[0])) && next.contains(&format!("after={}", jobs[1])), "{next}");
    let older = app.get(&next).await;
    assert_eq!(ids(&older.expect(200, "older jobs")), [jobs[0].clone()]);
    assert_eq!(next_link(&older.headers), None);

    // Orphans (never run: tasks 2 to 4), one at a time, with the reason filter kept.
    let first = app.orphaned("?reason=never_run&size=1").await;
    let body = first.expect(200, "orphans");
    assert_eq!(body["count"], 1, "{body}");
    assert_eq!(body["orphaned_tasks"][0]["id"], json!(tasks[2]));
    let next = next_link(&first.headers).expect("a Link to more orphans");
    assert!(next.contains("reason=never_run") && next.contains(&format!("after={}", tasks[2])), "{next}");
    let rest = app.get(&format!("{next}&size=5").replace("size=1&", "")).await.expect(200, "more orphans");
    let rest: Vec<&Value> = rest["orphaned_tasks"].as_array().expect("orphaned_tasks").iter().collect();
    assert_eq!(rest.iter().map(|t| t["id"].clone()).collect::<Vec<_>>(), [json!(tasks[3]), json!(tasks[4])]);

    // Nodes: this server's own, then nothing after it.
    let nodes = app.get("/api/v1/nodes?size=1").await.expect(200, "nodes");
    let node = nodes[0]["id"].as_str().expect("node id").to_string();
    assert_eq!(app.get(&format!("/api/v1/nodes?after={node}")).await.expect(200, "older nodes"), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paging_values_are_refused() {
    let app = spawn_app().await;
    let cases = [
        "/api/v1/tasks?after=--help",
        "/api/v1/tasks?after=%00",
        "/api/v1/tasks?after=..%2F..%2Fetc%2Fpasswd",
        "/api/v1/tasks?after=8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        "/api/v1/tasks?page=1&after=00000000000000000000000000",
        "/api/v1/tasks?size=0",
        "/api/v1/tasks?size=99999999999999999999999999",
        "/api/v1/tasks?page=0",
        "/api/v1/tasks?page=18446744073709551615",
        "/api/v1/jobs?after=%20",
        "/api/v1/tasks/$orphaned?size=-1",
        "/api/v1/tasks/$orphaned?after=x",
        "/api/v1/nodes?after=%00",
        "/api/v1/nodes?size=1001",
    ];
    for path in cases {
        app.get(path).await.expect_problem(400, "invalid_query", path);
    }
    app.get("/api/v1/jobs?task_id=-x").await.expect_problem(400, "invalid_id", "an option for an id filter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_takes_a_null_body_as_no_body() {
    let app = spawn_app().await;
    let task = app.task("true").await;
    let path = format!("/api/v1/tasks/{}/$execute", task["id"].as_str().expect("id"));
    let reply = app.send_json(Method::POST, &path, &Value::Null).await;
    reply.expect(202, "execute with the JSON body null");
}

/// `$orphaned` reads at most 10,000 tasks per answer: past them it answers what it found (here nothing) with a
/// `Link` to go on, and the next answer finds the orphan further on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_reads_a_bounded_number_of_tasks_per_answer() {
    const MAX_SCANNED: usize = 10_000;
    let app = spawn_app().await;
    for chunk in (0..MAX_SCANNED).collect::<Vec<_>>().chunks(100) {
        let disabled = chunk.iter().map(|_| app.create_task_ok(json!({ "command": "true", "enabled": false })));
        join_all(disabled).await;
    }
    let orphan = app.task("true").await;

    let first = app.orphaned("").await;
    let body = first.expect(200, "the first 10,000 tasks");
    assert_eq!(body["count"], 0, "disabled tasks are not orphaned: {body}");
    let next = next_link(&first.headers).expect("a Link past the tasks read");
    let rest = app.get(&next).await;
    let body = rest.expect(200, "the rest");
    assert_eq!(body["orphaned_tasks"][0]["id"], orphan["id"], "{body}");
    assert_eq!(body["count"], 1);
    assert_eq!(next_link(&rest.headers), None);
}
