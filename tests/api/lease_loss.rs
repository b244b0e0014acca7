//! A runner that cannot reach the database long enough to renew its lease kills its job's processes instead of
//! running work someone else may rescue; once the database is back, the reaper rescues the job. The fault is real:
//! another connection holds SQLite's write lock, so every write of the server waits.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::json;

use crate::helpers::{db_path, kill_pids, spawn_app_with, sqlite_only, str_of, wait_for_processes};

const SLEEPER: [&str; 2] = ["sleep", "86.3"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_cannot_renew_its_lease_kills_its_processes_and_the_job_is_rescued() {
    if sqlite_only("the fault is another connection holding SQLite's write lock on the file") {
        return;
    }
    let app = spawn_app_with(|s| {
        s.lease_seconds = 1;
        s.allow.push("sh".into());
    })
    .await;
    let task = app.create_task_ok(json!({ "command": "sh -c 'echo started; exec sleep 86.3'" })).await;
    let job = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job, None).await;
    stream.until("the first line", |e| e.event == "stdout" && e.data == "started").await;
    let pids = wait_for_processes(&SLEEPER, Duration::from_secs(10), |p| !p.is_empty()).await;
    assert_eq!(pids.len(), 1, "the job's sleep runs");

    // Take the database's write lock from another connection and keep it.
    let url = format!("sqlite://{}", db_path(app.dir.path()).display());
    let other = Database::connect(&url).await.expect("open the database from the test");
    let txn = other.begin().await.expect("begin");
    txn.execute_unprepared("UPDATE tasks SET enabled = enabled").await.expect("take the write lock");

    // Within a few lease periods the runner gives up and kills the process (nothing else could: the job's
    // state cannot be written while the lock is held).
    let left = wait_for_processes(&SLEEPER, Duration::from_secs(8), |p| p.is_empty()).await;
    let killed_while_locked = left.is_empty();
    txn.rollback().await.expect("release the write lock");
    kill_pids(&left);
    assert!(killed_while_locked, "the job's process outlived its lease: {left:?}");

    // The database is back: the reaper finds the expired lease and the job ends lost (it has no retry policy).
    let events = stream.until_done().await;
    let last = events.last().and_then(|e| e.job()).expect("final record");
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["outcome"], "lost", "{last}");
    assert!(str_of(&last, "error").contains("lease"), "{last}");
    assert!(
        !events.iter().any(|e| e.job().is_some_and(|j| j["status"] == "completed")),
        "the killed runner recorded nothing: {events:#?}"
    );
}
