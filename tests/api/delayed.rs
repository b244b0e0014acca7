//! Delayed runs: `$execute` with `delay_seconds` or `run_at` queues a job that waits `pending` until then.

use chrono::{FixedOffset, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    KillOnDrop, assert_consecutive_ids, ids_of, lines_of, ms_between, spawn_app, spawn_app_with, statuses, str_of,
    utc_time,
};

/// An RFC 3339 time `ms` milliseconds from now, written with a +02:00 offset.
fn in_ms_at_plus_two(ms: i64) -> String {
    let offset = FixedOffset::east_opt(2 * 3600).expect("offset");
    (Utc::now() + chrono::Duration::milliseconds(ms))
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_seconds_keeps_the_job_pending_until_run_at() {
    let app = spawn_app().await;
    let task = app.task("echo later").await;
    let accepted = app.execute(str_of(&task, "id"), Some(&json!({ "delay_seconds": 1 }))).await.expect(202, "delay 1");
    let job_id = str_of(&accepted, "job_id").to_string();

    let waiting = app.get_job_ok(&job_id).await;
    assert_eq!(waiting["status"], "pending", "a job delayed by 1 s is still pending: {waiting}");
    assert_eq!(waiting["started_at"], Value::Null, "{waiting}");
    let delay = ms_between(&waiting["submitted_at"], &waiting["run_at"]);
    assert_eq!(delay, 1000, "run_at is exactly the delay after submitted_at: {waiting}");

    let mut stream = app.stream(&job_id, None).await;
    let events = stream.until_done().await;
    stream.assert_ends().await;
    assert_consecutive_ids(&events, 1);
    assert_eq!(statuses(&events), ["pending", "running", "completed"]);
    assert_eq!(lines_of(&events, "stdout"), ["later"]);
    let job = events.last().and_then(|e| e.job()).expect("terminal record");
    assert_eq!(job["run_at"], waiting["run_at"], "run_at does not move: {job}");
    let late = ms_between(&job["run_at"], &job["started_at"]);
    assert!(late >= 0, "started {} ms before its run_at: {job}", -late);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_at_is_honoured_shown_in_utc_and_a_past_one_runs_now() {
    let app = spawn_app().await;
    let task = app.task("echo scheduled").await;
    let task_id = str_of(&task, "id");

    let wanted = in_ms_at_plus_two(1200);
    let accepted = app.execute(task_id, Some(&json!({ "run_at": wanted }))).await.expect(202, "run_at in 1.2 s");
    let future_id = str_of(&accepted, "job_id").to_string();
    let past = in_ms_at_plus_two(-3_600_000);
    let accepted = app.execute(task_id, Some(&json!({ "run_at": past }))).await.expect(202, "run_at an hour ago");
    let past_id = str_of(&accepted, "job_id").to_string();

    let future = app.get_job_ok(&future_id).await;
    assert_eq!(future["status"], "pending", "{future}");
    let run_at = utc_time(&future["run_at"], "run_at"); // asserts UTC
    let asked = chrono::DateTime::parse_from_rfc3339(&wanted).expect("our own time");
    assert_eq!(run_at, asked, "run_at {} is the asked {wanted}", future["run_at"]);

    let past_job = app.wait_job(&past_id).await;
    assert_eq!(past_job["status"], "completed", "{past_job}");
    let lag = ms_between(&past_job["submitted_at"], &past_job["run_at"]);
    assert!((-50..1000).contains(&lag), "a run_at in the past means now; it is {lag} ms after submission: {past_job}");

    let done = app.wait_job(&future_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let late = ms_between(&future["run_at"], &done["started_at"]);
    assert!(late >= 0, "started {} ms before its run_at: {done}", -late);
    assert!(
        utc_time(&done["started_at"], "started_at") > utc_time(&past_job["started_at"], "started_at"),
        "the job due now ran before the one due later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_delays_are_rejected_naming_the_field() {
    let app = spawn_app().await;
    let task = app.task("echo never").await;
    let task_id = str_of(&task, "id");
    let max = 366 * 24 * 3600;

    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({ "run_at": in_ms_at_plus_two(60_000), "delay_seconds": 5 }), 422, "validation_failed", "delay_seconds"),
        (json!({ "delay_seconds": -1 }), 422, "validation_failed", "delay_seconds"),
        (json!({ "delay_seconds": -0.5 }), 422, "validation_failed", "delay_seconds"),
        (json!({ "delay_seconds": max + 1 }), 422, "validation_failed", "delay_seconds"),
        (json!({ "run_at": "tomorrow" }), 422, "validation_failed", "run_at"),
        (json!({ "run_at": "2026-13-01T00:00:00Z" }), 422, "validation_failed", "run_at"),
        (json!({ "run_at": "" }), 422, "validation_failed", "run_at"),
        (json!({ "delay_seconds": "5" }), 422, "invalid_body", ""),
        (json!({ "run_at": 1_700_000_000 }), 422, "invalid_body", ""),
        (json!({ "delay": 5 }), 422, "invalid_body", "delay"),
    ];
    let mut failures = Vec::new();
    for (body, status, code, field) in &cases {
        let reply = app.execute(task_id, Some(body)).await;
        if let Some(mismatch) = reply.problem_mismatch(*status, code) {
            failures.push(format!("{body}: {mismatch}"));
        } else if !reply.json()["detail"].as_str().unwrap_or_default().contains(field) {
            failures.push(format!("{body}: detail does not name {field:?}: {}", reply.text));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    let jobs = app.list_jobs(&format!("?task_id={task_id}")).await.expect(200, "jobs of the task");
    assert_eq!(jobs, json!([]), "no rejected request queued a job");

    // The largest delay is accepted.
    let accepted = app.execute(task_id, Some(&json!({ "delay_seconds": max }))).await.expect(202, "366 days");
    let job_id = str_of(&accepted, "job_id");
    let job = app.get_job_ok(job_id).await;
    let ahead = ms_between(&job["submitted_at"], &job["run_at"]) - i64::from(max) * 1000;
    assert!((-50..1000).contains(&ahead), "run_at is 366 days and {ahead} ms after submission: {job}");
    app.cancel(job_id).await.expect(202, "cancel the far-off job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_job_does_not_hold_a_slot_and_can_be_canceled() {
    const SLEEPER: &[&str] = &["sleep", "71.3"];
    let _cleanup = KillOnDrop(&[SLEEPER]);
    let app = spawn_app_with(|s| s.max_concurrency = 1).await;
    let later = app.task(&SLEEPER.join(" ")).await;
    let accepted =
        app.execute(str_of(&later, "id"), Some(&json!({ "delay_seconds": 30 }))).await.expect(202, "delay 30 s");
    let delayed = str_of(&accepted, "job_id").to_string();
    let mut stream = app.stream(&delayed, None).await;
    let first = stream.next_event().await.expect("the pending record");
    assert_eq!(first.status().as_deref(), Some("pending"));

    // The only runner slot is free for a job that is due now.
    let now = app.run("echo now").await;
    assert_eq!(now.job["status"], "completed", "{}", now.job);
    let still = app.get_job_ok(&delayed).await;
    assert_eq!((still["status"].clone(), still["started_at"].clone()), (json!("pending"), Value::Null), "{still}");
    let jobs = app.list_jobs("?status=pending").await.expect(200, "pending jobs");
    assert_eq!(ids_of(&jobs), [delayed.as_str()], "the delayed job is listed as pending");

    let canceled = app.cancel(&delayed).await.expect(202, "cancel a delayed job");
    assert_eq!((canceled["status"].clone(), canceled["outcome"].clone()), (json!("canceled"), json!("canceled")));
    let rest = stream.until_done().await;
    stream.assert_ends().await;
    assert_eq!(statuses(&rest), ["canceled"], "it never ran: {rest:#?}");
    assert!(crate::helpers::pids_with_cmdline(SLEEPER).is_empty(), "the canceled delayed job started anyway");
}
