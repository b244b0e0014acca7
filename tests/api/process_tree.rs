//! Canceling a job whose command starts a background child: no process of its tree survives, and none is left a
//! zombie of the server. (`jobs::cancel_kills_a_process_group_that_ignores_term` covers a tree that ignores TERM.)

use std::time::Duration;

use crate::helpers::{
    KillOnDrop, SseEvent, pids_with_cmdline, proc_state, spawn_app_with, str_of, wait_for_processes, wait_until_reaped,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_leaves_no_process_of_the_tree_and_no_zombie() {
    const BACKGROUND: &[&str] = &["sleep", "93.1"];
    const FOREGROUND: &[&str] = &["sleep", "93.2"];
    const SHELL: &[&str] = &["sh", "-c", "sleep 93.1 & sleep 93.2"];
    let _cleanup = KillOnDrop(&[BACKGROUND, FOREGROUND, SHELL]);
    let app = spawn_app_with(|s| {
        s.allow.push("sh".into());
        s.kill_grace_seconds = 2;
    })
    .await;
    let task = app.task("sh -c 'sleep 93.1 & sleep 93.2'").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;

    let mut tree = Vec::new();
    for argv in [BACKGROUND, FOREGROUND] {
        let pids = wait_for_processes(argv, Duration::from_secs(5), |p| !p.is_empty()).await;
        assert_eq!(pids.len(), 1, "one `{}` of the job: {pids:?}", argv.join(" "));
        tree.extend(pids);
    }
    // A shell may exec its last command; when it does not, the shell is part of the tree too.
    tree.extend(pids_with_cmdline(SHELL));
    let states: Vec<_> = tree.iter().map(|&pid| (pid, proc_state(pid))).collect();

    app.cancel(&job_id).await.expect(202, "cancel");
    let rest = stream.until_done().await;
    stream.assert_ends().await;
    let job = rest.last().and_then(SseEvent::job).expect("terminal record");
    assert_eq!(job["status"], "canceled", "{job}");

    // The job's processes are children of this test process (the application runs in it): it must reap them.
    let left = wait_until_reaped(&tree, std::process::id(), Duration::from_secs(5)).await;
    assert!(
        left.is_empty(),
        "processes of the canceled job are still there as (pid, state, parent): {left:?}; before the cancel: {states:?}"
    );
    for argv in [BACKGROUND, FOREGROUND] {
        assert!(pids_with_cmdline(argv).is_empty(), "a `{}` survived", argv.join(" "));
    }
}

/// A process that leaves the job's process group (`setsid`) but keeps its output open is still the job's: it goes
/// when the job's main process ends, so the job ends too instead of waiting on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_left_the_group_goes_with_the_job() {
    const ESCAPED: &[&str] = &["sleep", "87.4"];
    let _cleanup = KillOnDrop(&[ESCAPED]);
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let finished = app.run("sh -c 'setsid sleep 87.4 & echo main-done'").await;
    assert_eq!(finished.job["status"], "completed", "the job ends with its main process: {}", finished.job);
    assert_eq!(finished.stdout(), ["main-done"]);
    let left = wait_for_processes(ESCAPED, Duration::from_secs(5), |p| p.is_empty()).await;
    assert!(left.is_empty(), "the escaped process outlived its job: {left:?}");
}

/// Cancel reaches a process that left the group too: the job ends canceled, promptly, with nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_process_that_left_the_group() {
    const ESCAPED: &[&str] = &["sleep", "87.5"];
    const MAIN: &[&str] = &["sleep", "87.6"];
    let _cleanup = KillOnDrop(&[ESCAPED, MAIN]);
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let task = app.task("sh -c 'setsid sleep 87.5 & sleep 87.6'").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;
    wait_for_processes(ESCAPED, Duration::from_secs(5), |p| !p.is_empty()).await;

    app.cancel(&job_id).await.expect(202, "cancel");
    let job = stream.until_done().await.last().and_then(SseEvent::job).expect("terminal record");
    assert_eq!(job["status"], "canceled", "{job}");
    assert!(job["duration_ms"].as_i64().is_some_and(|ms| ms < 5_000), "canceled promptly: {job}");
    for argv in [ESCAPED, MAIN] {
        let left = wait_for_processes(argv, Duration::from_secs(5), |p| p.is_empty()).await;
        assert!(left.is_empty(), "`{}` outlived the cancel: {left:?}", argv.join(" "));
    }
}
