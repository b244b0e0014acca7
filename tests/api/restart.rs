//! Crash recovery with the real binary: SIGKILL the server mid-job, start it again on the same database, and the job
//! is `failed`/`lost`, its task is a `lost` orphan, the metrics count the rescue, and its process did not outlive the
//! crash.

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{
    SseEvent, TestApp, TestDb, assert_consecutive_ids, kill_pids, pids_with_cmdline, serve, sqlite_only, str_of,
    wait_for_processes,
};

/// A distinctive duration, so that no other test's `sleep` is mistaken for this one's.
const SLEEPER: [&str; 2] = ["sleep", "31.7"];

/// Kills any `sleep 31.7` left behind, also when an assertion fails first.
struct SleeperGuard;

impl Drop for SleeperGuard {
    fn drop(&mut self) {
        kill_pids(&pids_with_cmdline(&SLEEPER));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_when_the_server_is_killed_is_lost_after_restart() {
    if sqlite_only(
        "a restarted server on SQLite holds the file alone and rescues at once; on PostgreSQL other nodes may \
         still run the jobs, so a restart waits for leases (tests/cluster covers that)",
    ) {
        return;
    }
    let _guard = SleeperGuard;
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let db = Arc::new(TestDb::sqlite(dir.path()));

    let mut first = serve(db.url(), &[], &[]).await;
    let app = TestApp::external(&first.address, dir.clone(), db.clone());
    let task = app.task(&SLEEPER.join(" ")).await;
    let task_id = str_of(&task, "id").to_string();
    let job_id = app.execute_ok(&task_id, None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;

    let sleepers = wait_for_processes(&SLEEPER, Duration::from_secs(5), |pids| !pids.is_empty()).await;
    assert!(!sleepers.is_empty(), "the job is running but no `sleep 31.7` process exists");

    first.kill9().await;
    drop(stream);

    let mut second = serve(db.url(), &[], &[]).await;
    let app = TestApp::external(&second.address, dir.clone(), db.clone());

    let job = app.get_job_ok(&job_id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["outcome"], "lost", "{job}");
    assert!(
        job["error"].as_str().is_some_and(|e| e.starts_with("runner lost")),
        "error should start with `runner lost`: {job}"
    );
    assert!(job["finished_at"].is_string(), "a lost job is finished: {job}");
    let metrics = app.scrape().await;
    assert_eq!(metrics.value("taskyard_jobs_rescued_total", &[]), 1.0, "rescued at start:\n{}", metrics.text);
    let lost = [("outcome", "lost")];
    assert_eq!(metrics.value("taskyard_jobs_finished_total", &lost), 1.0, "{}", metrics.text);
    assert_eq!(metrics.value("taskyard_jobs_started_total", &[]), 0.0, "nothing ran here yet:\n{}", metrics.text);

    let events = app.stream(&job_id, None).await.read_to_end().await;
    assert_consecutive_ids(&events, 1);
    let last = events.last().and_then(SseEvent::job).expect("a terminal record");
    assert_eq!(last["outcome"], "lost", "the stream ends with the lost record: {events:#?}");

    let orphans = app.orphaned("?reason=lost").await.expect(200, "$orphaned?reason=lost");
    let listed: Vec<&serde_json::Value> = orphans["orphaned_tasks"]
        .as_array()
        .expect("orphaned_tasks")
        .iter()
        .filter(|entry| entry["id"] == task_id.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "the task is a lost orphan: {orphans}");
    assert_eq!(listed[0]["reason"], "lost");

    let survivors = wait_for_processes(&SLEEPER, Duration::from_secs(5), |pids| pids.is_empty()).await;
    kill_pids(&survivors);
    assert!(survivors.is_empty(), "the job's `sleep 31.7` outlived the server that ran it: pids {survivors:?}");

    let after = app.run("echo after restart").await;
    assert_eq!(after.stdout(), ["after restart"], "the restarted server runs jobs");

    second.kill9().await;
}
