//! `--log-format json`: the real binary writes one JSON object per line, requests with their id, route, status and
//! latency, job lines with the job, its task and the attempt; a format it does not know stops it at start.
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{poll_until, serve, sqlite_url, str_of, try_serve};

/// Every line of the log as JSON; panics naming the first that is not an object.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => v,
            _ => panic!("a log line is not a JSON object: {line:?}\nthe log:\n{log}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_request_and_the_job() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let server = serve(&sqlite_url(dir.path()), &["--log-format", "json", "--allow", "true"], &[]).await;
    let app = server.app(&dir);
    let task = app.task("true").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    app.wait_job(&job_id).await;

    // The attempt's span closes just after its final record is stored: its line may trail the stream's end.
    let lines = poll_until("the job's line in the log", Duration::from_secs(10), async || {
        let lines = json_lines(&server.log());
        let job = lines.iter().any(|l| l["span"]["job"] == job_id.as_str());
        if job { Ok(lines) } else { Err(server.log()) }
    })
    .await;
    let job_line = lines.iter().find(|l| l["span"]["job"] == job_id.as_str()).expect("found above");
    assert_eq!(job_line["span"]["task"], task["id"], "{job_line}");
    assert_eq!(job_line["span"]["attempt"], 1, "{job_line}");

    let execute = lines
        .iter()
        .find(|l| l["span"]["http.route"] == "/api/v1/tasks/{id}/$execute" && l["fields"]["message"] == "close")
        .unwrap_or_else(|| panic!("no request line for $execute:\n{}", server.log()));
    let span = &execute["span"];
    assert_eq!(span["http.status_code"], 202, "{execute}");
    assert!(span["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{execute}");
    assert!(execute["fields"]["time.busy"].is_string(), "the close line carries the latency: {execute}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_text_log_stays_readable_and_leaves_job_spans_out() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let server = serve(&sqlite_url(dir.path()), &["--allow", "true"], &[]).await;
    let app = server.app(&dir);
    let job_id = app.execute_ok(str_of(&app.task("true").await, "id"), None).await;
    app.wait_job(&job_id).await;
    let log = server.log();
    assert!(log.lines().all(|l| !l.starts_with('{')), "text, not JSON:\n{log}");
    assert!(log.contains("HTTP request{"), "requests keep their span lines:\n{log}");
    assert!(!log.contains(" job{"), "no job span in the text log:\n{log}");
}

#[tokio::test]
async fn an_unknown_log_format_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (args, env) in [(vec!["--log-format", "xml"], vec![]), (vec![], vec![("TASKYARD_LOG_FORMAT", "--json")])] {
        let failed = match try_serve(&sqlite_url(dir.path()), &args, &env).await {
            Ok(_) => panic!("the server started with {args:?} {env:?}"),
            Err(failed) => failed,
        };
        assert!(failed.status.is_some_and(|s| !s.success()), "{args:?} {env:?}: {:?}", failed.status);
        assert!(failed.log.contains("log_format") && failed.log.contains("json"), "names the setting: {}", failed.log);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_traceparent_is_kept_on_the_job_and_its_log_lines() {
    const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let server = serve(&sqlite_url(dir.path()), &["--log-format", "json", "--allow", "true"], &[]).await;
    let app = server.app(&dir);
    let task = app.task("true").await;
    let execute = |traceparent: &'static str| {
        let request = app
            .request(reqwest::Method::POST, &format!("/api/v1/tasks/{}/$execute", str_of(&task, "id")))
            .header("traceparent", traceparent);
        crate::helpers::Reply::send(request)
    };
    let traced = str_of(&execute(TRACE).await.expect(202, "execute with a traceparent"), "job_id").to_string();
    let untraced = str_of(&execute("00-zz-00f067aa0ba902b7-01").await.expect(202, "a bad one"), "job_id").to_string();
    let record = app.wait_job(&traced).await;
    assert_eq!(record["traceparent"], TRACE, "{record}");
    let record = app.wait_job(&untraced).await;
    assert!(record["traceparent"].is_null(), "an invalid traceparent is ignored: {record}");
    let listed = app.get(&format!("/api/v1/jobs/{traced}")).await.expect(200, "get the job");
    assert_eq!(listed["traceparent"], TRACE);

    let lines = poll_until("the traced job's line in the log", Duration::from_secs(10), async || {
        let lines = json_lines(&server.log());
        let job = lines.iter().any(|l| l["span"]["job"] == traced.as_str());
        if job { Ok(lines) } else { Err(server.log()) }
    })
    .await;
    let job_line = lines.iter().find(|l| l["span"]["job"] == traced.as_str()).expect("found above");
    assert_eq!(job_line["span"]["trace_id"], TRACE_ID, "{job_line}");
    let request_line = lines
        .iter()
        .find(|l| l["span"]["http.route"] == "/api/v1/tasks/{id}/$execute" && l["span"]["trace_id"] == TRACE_ID)
        .unwrap_or_else(|| panic!("no request line with the trace id:\n{}", server.log()));
    assert_eq!(request_line["span"]["http.status_code"], 202, "{request_line}");
    let untraced_line = lines.iter().find(|l| l["span"]["job"] == untraced.as_str());
    assert!(untraced_line.is_none_or(|l| l["span"]["trace_id"].is_null()), "{untraced_line:?}");
}
