//! Retention: finished jobs older than `retention_days`, and the oldest finished jobs while the stored output of
//! finished jobs exceeds `retention_max_output_bytes`, are deleted with their events; pending and running jobs never.
//! Retention is periodic by design, so these tests poll (with a deadline) where others await events. No test waits
//! for a job to age: a job is made old by moving its end back in the database (`finished_long_ago`), which is what
//! the clock would have done.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{KillOnDrop, Reply, TestApp, ids_of, poll_until, spawn_app_with, str_of};

async fn status_of(app: &TestApp, job_id: &str) -> u16 {
    app.get_job(job_id).await.status.as_u16()
}

/// Moves the end of the finished job `job_id` two days back, as if it had finished then.
async fn finished_long_ago(app: &TestApp, job_id: &str) {
    let db = sea_orm::Database::connect(app.db.url()).await.expect("open the database from the test");
    let moved = sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!(
            "UPDATE jobs SET finished_at = finished_at - {TWO_DAYS_MS} WHERE id = '{job_id}' AND finished_at IS NOT NULL"
        ),
    )
    .await
    .expect("move the job's end back");
    assert_eq!(moved.rows_affected(), 1, "job {job_id} is finished");
    let _ = db.close().await;
}

const TWO_DAYS_MS: i64 = 2 * 86_400_000;

/// A job that is running (`sleeper`, after printing 501 bytes) and one that waits an hour: neither may go.
async fn unfinished(app: &TestApp, sleeper: &str) -> (String, String) {
    let task = app.task(&format!("sh -c 'printf \"%0500d\\n\" 0; exec {sleeper}'")).await;
    let running = app.execute_ok(str_of(&task, "id"), None).await;
    app.stream(&running, None).await.until("the 500-byte line", |e| e.event == "stdout").await;
    let later = app.task("echo in an hour").await;
    let accepted =
        app.execute(str_of(&later, "id"), Some(&json!({ "delay_seconds": 3600 }))).await.expect(202, "delay 1 h");
    (running, str_of(&accepted, "job_id").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_finished_jobs_go_when_stored_output_exceeds_the_cap() {
    const SLEEPER: &[&str] = &["sleep", "88.1"];
    let _cleanup = KillOnDrop(&[SLEEPER]);
    let app = spawn_app_with(|s| {
        s.allow.push("sh".into());
        s.retention_max_output_bytes = 350;
        s.retention_check_seconds = 1;
    })
    .await;
    let (running, pending) = unfinished(&app, "sleep 88.1").await;

    // Six finished jobs of 100 stored bytes each: only the newest three fit in 350.
    let task = app.task("printf '%099d\\n' {n}").await;
    let mut finished = Vec::new();
    for n in 1..=6 {
        let run = app.run_task(&task, Some(json!({ "n": n }))).await;
        assert_eq!(run.job["stdout_bytes"], 100, "{}", run.job);
        finished.push(run.job_id);
    }
    let (oldest, newest) = finished.split_at(3);

    poll_until("the three oldest finished jobs to be deleted", Duration::from_secs(15), async || {
        let mut statuses = Vec::new();
        for id in oldest {
            statuses.push(status_of(&app, id).await);
        }
        if statuses.iter().all(|s| *s == 404) { Ok(()) } else { Err(format!("GET statuses {statuses:?}")) }
    })
    .await;

    for id in oldest {
        app.get_job(id).await.expect_problem(404, "job_not_found", "a deleted job");
        app.output(id, "").await.expect_problem(404, "job_not_found", "the output of a deleted job");
        Reply::send(app.request(Method::GET, &format!("/api/v1/jobs/{id}/$stream"))).await.expect_problem(
            404,
            "job_not_found",
            "the stream of a deleted job",
        );
    }
    for id in newest {
        let job = app.get_job_ok(id).await;
        assert_eq!(job["status"], "completed", "the newest jobs stay: {job}");
        let lines = app.all_output(id, "stdout", 1000).await;
        assert_eq!(lines.len(), 1, "with their output: {lines:?}");
    }
    assert_eq!(app.get_job_ok(&running).await["status"], "running", "a running job is never deleted");
    assert_eq!(app.get_job_ok(&pending).await["status"], "pending", "a pending job is never deleted");
    let mut listed = ids_of(&app.list_jobs("").await.expect(200, "list jobs"));
    listed.sort();
    let mut expected = [newest.to_vec(), vec![running.clone(), pending.clone()]].concat();
    expected.sort();
    assert_eq!(listed, expected, "the job list lost exactly the deleted jobs");

    app.cancel(&running).await.expect(202, "stop the sleeper");
    app.cancel(&pending).await.expect(202, "cancel the delayed job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_older_than_retention_days_go() {
    const SLEEPER: &[&str] = &["sleep", "88.2"];
    let _cleanup = KillOnDrop(&[SLEEPER]);
    let app = spawn_app_with(|s| {
        s.allow.push("sh".into());
        s.retention_days = 1.0;
        s.retention_check_seconds = 1;
    })
    .await;
    let (running, pending) = unfinished(&app, "sleep 88.2").await;
    let old = app.run("echo old").await;
    let task_id = str_of(&old.task, "id").to_string();
    finished_long_ago(&app, &old.job_id).await;

    poll_until("the finished job to be deleted", Duration::from_secs(15), async || {
        match status_of(&app, &old.job_id).await {
            404 => Ok(()),
            other => Err(format!("GET answers {other}")),
        }
    })
    .await;

    // Older than the finished job, yet unfinished: they stay.
    assert_eq!(app.get_job_ok(&running).await["status"], "running", "a running job is never deleted");
    assert_eq!(app.get_job_ok(&pending).await["status"], "pending", "a pending job is never deleted");
    app.get_task(&task_id).await.expect(200, "retention deletes jobs, not tasks");

    let young = app.run_task(&old.task, None).await;
    assert_eq!(status_of(&app, &young.job_id).await, 200, "a job that just finished is younger than a day");

    app.cancel(&running).await.expect(202, "stop the sleeper");
    app.cancel(&pending).await.expect(202, "cancel the delayed job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_runs_once_at_start_up() {
    let first = spawn_app_with(|_| {}).await;
    let old = first.run("echo from an earlier server").await;
    let recent = first.run("echo finished just now").await;
    finished_long_ago(&first, &old.job_id).await;

    // The periodic run is an hour away: only the run at start-up can delete the job.
    let second = first
        .reopen_with(|s| {
            s.retention_days = 1.0;
            s.retention_check_seconds = 3600;
        })
        .await;
    drop(first);
    poll_until("the start-up retention run to delete the old job", Duration::from_secs(5), async || {
        match status_of(&second, &old.job_id).await {
            404 => Ok(()),
            other => Err(format!("GET answers {other}")),
        }
    })
    .await;
    assert_eq!(status_of(&second, &recent.job_id).await, 200, "a job younger than a day stays");
}
