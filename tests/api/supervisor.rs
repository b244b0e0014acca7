//! The job supervisor: no process of a job outlives a `kill -9`ed server, without a restart; and a killed
//! supervisor is replaced at once, its jobs end by the rules (lost, or retried), nothing of theirs is left, and new
//! jobs run.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

use crate::helpers::{
    GONE_WITHIN, KillOnDrop, SseEvent, TestApp, TestDb, Tree, proc_state, serve, spawn_app_with, str_of,
    wait_for_processes,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_process_of_a_job_outlives_a_killed_server() {
    const CLEANUP: &[&[&str]] = &[&["sleep", "94.1"], &["sleep", "94.2"], &["sleep", "94.3"]];
    let _cleanup = KillOnDrop(CLEANUP);
    let tree = Tree::new("94");
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let db = Arc::new(TestDb::for_suite(dir.path()).await);
    let mut server = serve(db.url(), &["--allow", "sh"], &[]).await;
    let app = TestApp::external(&server.address, dir.clone(), db.clone());
    let task = app.task(&tree.command()).await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    app.stream(&job_id, None).await.until_status("running").await;
    tree.running().await;

    server.kill9().await;
    let left = tree.survivors().await;
    assert!(left.is_empty(), "processes of the job outlived the killed server by {GONE_WITHIN:?}: {left:?}");
}

/// The supervisor of the job's main process: its nearest ancestor running `taskyard supervise`.
fn supervisor_of(pid: u32) -> u32 {
    let mut current = pid;
    for _ in 0..16 {
        let (_, parent) = proc_state(current).unwrap_or_else(|| panic!("process {current} is gone"));
        let cmdline = std::fs::read(format!("/proc/{parent}/cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).any(|arg| arg == b"supervise") {
            return parent;
        }
        current = parent;
    }
    panic!("no `taskyard supervise` above process {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_supervisor_is_replaced_and_its_jobs_end_by_the_rules() {
    const CLEANUP: &[&[&str]] = &[
        &["sleep", "95.1"],
        &["sleep", "95.2"],
        &["sleep", "95.3"],
        &["sleep", "96.1"],
        &["sleep", "96.2"],
        &["sleep", "96.3"],
    ];
    let _cleanup = KillOnDrop(CLEANUP);
    let (once, retried) = (Tree::new("95"), Tree::new("96"));
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let plain = app.task(&once.command()).await;
    let retrying = app
        .create_task_ok(json!({
            "name": "retried-when-lost",
            "command": retried.command(),
            "retry": { "max_attempts": 2, "on": ["lost"], "backoff": "fixed", "initial_delay_seconds": 0 },
        }))
        .await;
    let lost_id = app.execute_ok(str_of(&plain, "id"), None).await;
    let retried_id = app.execute_ok(str_of(&retrying, "id"), None).await;
    let mut lost_stream = app.stream(&lost_id, None).await;
    lost_stream.until_status("running").await;
    app.stream(&retried_id, None).await.until_status("running").await;
    once.running().await;
    let first_attempt = retried.running().await;

    let supervisor = supervisor_of(once.running().await[2]);
    kill(Pid::from_raw(supervisor as i32), Signal::SIGKILL).expect("kill -9 the supervisor");

    let rest = lost_stream.until_done().await;
    let job = rest.last().and_then(SseEvent::job).expect("a terminal record");
    assert_eq!((job["status"].as_str(), job["outcome"].as_str()), (Some("failed"), Some("lost")), "{job}");
    let left = once.survivors().await;
    assert!(left.is_empty(), "processes of the lost job outlived its supervisor by {GONE_WITHIN:?}: {left:?}");

    // The job whose policy retries `lost` runs again, under the new supervisor, and none of its first attempt's
    // processes is left.
    let second_attempt = wait_for_attempt(&app, &retried_id, 2).await;
    assert_eq!(second_attempt["status"], "running", "{second_attempt}");
    let again = retried.running().await;
    assert!(again.iter().all(|pid| !first_attempt.contains(pid)), "attempt 1 {first_attempt:?}, 2 {again:?}");
    assert_ne!(supervisor_of(again[2]), supervisor, "attempt 2 runs under a new supervisor");

    let after = app.run("echo after").await;
    assert_eq!((after.job["status"].as_str(), after.stdout()), (Some("completed"), vec!["after".to_string()]));
    app.cancel(&retried_id).await.expect(202, "cancel the second attempt");
    app.stream(&retried_id, None).await.until_done().await;
    // (A daemon that closed its output is beyond a cancel's reach while the server runs, as documented; it goes
    // with the server.)
    for argv in [&retried.background, &retried.main] {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let left = wait_for_processes(&argv, GONE_WITHIN, |p| p.is_empty()).await;
        assert!(left.is_empty(), "`{}` of the canceled job is left: {left:?}", argv.join(" "));
    }
}

/// Follows the job's record (bounded) until it shows `attempt`.
async fn wait_for_attempt(app: &TestApp, job_id: &str, attempt: i64) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let job = app.get_job_ok(job_id).await;
        if job["attempt"] == attempt && job["status"] == "running" {
            return job;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no running attempt {attempt}: {job}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A job's command line and environment travel to the supervisor in one packet: one as large as the API accepts
/// (seven variables of 100,000 bytes, 700 KB, over three times a socket's default send buffer) still starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_a_large_environment_starts() {
    let app = spawn_app_with(|s| s.allow.push("printenv".into())).await;
    let env: serde_json::Map<String, serde_json::Value> =
        (1..=7).map(|i| (format!("BIG{i}"), json!("x".repeat(100_000)))).collect();
    let task = app.create_task_ok(json!({ "command": "printenv BIG7", "env": env })).await;
    let finished = app.run_task(&task, None).await;
    assert_eq!(finished.job["status"], "completed", "{}", finished.job);
    assert_eq!(finished.job["stdout_bytes"], 100_001, "{}", finished.job);
}

/// A Ctrl-C in a terminal reaches the whole process group, a service manager may TERM every process: the
/// supervisor stays (the server decides when jobs stop), and its jobs run on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_and_service_signals_leave_the_supervisor_and_its_jobs_alone() {
    const CLEANUP: &[&[&str]] = &[&["sleep", "99.1"], &["sleep", "99.2"], &["sleep", "99.3"]];
    let _cleanup = KillOnDrop(CLEANUP);
    let tree = Tree::new("99");
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let task = app.task(&tree.command()).await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;
    let pids = tree.running().await;
    let supervisor = supervisor_of(pids[2]);
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
        kill(Pid::from_raw(supervisor as i32), signal).expect("signal the supervisor");
    }

    let after = app.run("echo after").await;
    assert_eq!(after.job["status"], "completed", "{}", after.job);
    assert!(proc_state(supervisor).is_some_and(|(state, _)| state != 'Z'), "the supervisor died of a signal");
    assert_eq!(tree.running().await, pids, "the job's processes are the same, still running");
    assert_eq!(app.get_job_ok(&job_id).await["status"], "running");
    app.cancel(&job_id).await.expect(202, "cancel");
    let job = stream.until_done().await.last().and_then(SseEvent::job).expect("a terminal record");
    assert_eq!(job["status"], "canceled", "{job}");
}
