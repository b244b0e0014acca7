//! Schedules across a downtime, with the store and the real binary: a server whose wall clock reads 00:30 creates
//! two hourly tasks and stops; the next one starts at 05:30 (libfaketime, Debian package `faketime`). The fires of
//! 01:00 to 05:00 were missed: `missed: skip` makes no job and goes on at 06:00; `missed: once` makes one job for
//! the latest of them (05:00).
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;

use crate::helpers::{TestApp, TestDb, env_of, faketime, poll_until, serve, sqlite_only, str_of};

/// The environment that starts a process's wall clock at `at` (`2026-01-01 00:30:00`, UTC) with libfaketime.
fn clock_at(at: &str) -> Vec<(&'static str, String)> {
    let mut vars = faketime(&format!("@{at}"));
    vars.push(("TZ", "UTC".to_string()));
    vars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_missed_while_no_server_ran_are_skipped_or_run_once() {
    if sqlite_only("on PostgreSQL the clock that counts is the database's, which libfaketime does not move") {
        return;
    }
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let db = Arc::new(TestDb::sqlite(dir.path()));

    let before = clock_at("2026-01-01 00:30:00");
    let mut first = serve(db.url(), &[], &env_of(&before)).await;
    let app = TestApp::external(&first.address, dir.clone(), db.clone());
    let hourly = |name: &str, missed: &str| json!({ "name": name, "command": "true", "schedule": { "cron": "@hourly", "missed": missed } });
    let skip = app.create_task_ok(hourly("skips", "skip")).await;
    let once = app.create_task_ok(hourly("once", "once")).await;
    for task in [&skip, &once] {
        assert_eq!(task["next_run_at"], "2026-01-01T01:00:00.000Z", "{task}");
    }
    first.signal(Signal::SIGTERM);
    first.exit_within(Duration::from_secs(30)).await;

    let after = clock_at("2026-01-01 05:30:00");
    let second = serve(db.url(), &[], &env_of(&after)).await;
    let app = TestApp::external(&second.address, dir.clone(), db.clone());
    let jobs_of = async |task: &serde_json::Value| {
        let list = app.list_jobs(&format!("?task_id={}", str_of(task, "id"))).await.expect(200, "jobs");
        list.as_array().expect("a list").clone()
    };
    let ran = poll_until("the one job for the missed fires", Duration::from_secs(20), async || {
        match jobs_of(&once).await.as_slice() {
            [job] if job["status"] == "completed" => Ok(job.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        (ran["trigger"].clone(), ran["scheduled_for"].clone()),
        (json!("schedule"), json!("2026-01-01T05:00:00.000Z"))
    );
    // The pass that made it has looked at both tasks: `skips` made none and waits for 06:00.
    poll_until("the skipping task to move on to 06:00", Duration::from_secs(20), async || {
        let task = app.get_task(str_of(&skip, "id")).await.expect(200, "the task");
        match task["next_run_at"].as_str() {
            Some("2026-01-01T06:00:00.000Z") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(jobs_of(&skip).await, Vec::<serde_json::Value>::new(), "skip: no job for a missed fire");
    let once_now = app.get_task(str_of(&once, "id")).await.expect(200, "the task");
    assert_eq!(once_now["next_run_at"], "2026-01-01T06:00:00.000Z");
    assert_eq!(jobs_of(&once).await.len(), 1, "once: one job stands for all five");
}
