//! Lost jobs with the real binary: after `kill -9` of the server, the next server rescues the jobs that were running
//! at once (a retry when the policy lists `lost`, else failed/lost), kills what is left of their processes, and a
//! client that reconnects with `Last-Event-ID` sees every event once. A second server on the same SQLite file
//! refuses to start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    KillOnDrop, SseEvent, assert_consecutive_ids, attempts, data_of, expected_attempts, fail_first_runs, kinds,
    lines_of, pids_with_cmdline, serve, sqlite_url, statuses, str_of, try_serve, wait_for_processes,
};

const ALLOW: &[&str] = &["--allow", "sh", "--allow", "sleep", "--allow", "echo"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_jobs_are_retried_or_failed_as_their_policy_says() {
    const RETRIED: &[&str] = &["sleep", "97.1"];
    const PLAIN: &[&str] = &["sleep", "97.2"];
    const NOT_ON_LOST: &[&str] = &["sleep", "97.25"];
    let _cleanup = KillOnDrop(&[RETRIED, PLAIN, NOT_ON_LOST]);
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = sqlite_url(dir.path());

    let mut first = serve(&url, ALLOW, &[]).await;
    let app = first.app(&dir);
    let counter = dir.path().join("counter");
    // Attempt 1 sleeps (and is lost in the crash); later attempts print a line and succeed.
    let retry = json!({ "max_attempts": 3, "on": ["lost"], "backoff": "fixed", "initial_delay_seconds": 0 });
    let retried =
        app.create_task_ok(fail_first_runs(&counter, 1, "attempt $TASKYARD_ATTEMPT", "exec sleep 97.1", retry)).await;
    let plain = app.task(&PLAIN.join(" ")).await;
    let not_on_lost = app
        .create_task_ok(json!({
            "command": NOT_ON_LOST.join(" "),
            "retry": { "max_attempts": 3, "on": ["exit_code"], "backoff": "fixed", "initial_delay_seconds": 0 },
        }))
        .await;

    let retried_id = app.execute_ok(str_of(&retried, "id"), None).await;
    let plain_id = app.execute_ok(str_of(&plain, "id"), None).await;
    let not_on_lost_id = app.execute_ok(str_of(&not_on_lost, "id"), None).await;
    let mut stream = app.stream(&retried_id, None).await;
    let before = stream.until("the line `attempt 1`", |e| e.event == "stdout" && e.data == "attempt 1").await;
    for id in [&plain_id, &not_on_lost_id] {
        app.stream(id, None).await.until_status("running").await;
    }
    for argv in [RETRIED, PLAIN, NOT_ON_LOST] {
        let pids = wait_for_processes(argv, Duration::from_secs(5), |p| !p.is_empty()).await;
        assert!(!pids.is_empty(), "the job's `{}` never started", argv.join(" "));
    }
    let first_node = before.iter().rev().find_map(SseEvent::job).expect("a running record")["node_id"].clone();
    assert!(first_node.is_string(), "a running job shows the node that runs it: {before:#?}");

    first.kill9().await;
    drop(stream);

    let restarted = Instant::now();
    let mut second = serve(&url, ALLOW, &[]).await;
    let app = second.app(&dir);

    // The client that saw attempt 1 reconnects where it left off.
    let last_seen = before.last().expect("events").id;
    let mut resumed = app.stream(&retried_id, Some(last_seen)).await;
    let rest = resumed.until_done().await;
    resumed.assert_ends().await;
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(8), "rescued and rerun {took:?} after the restart: a lease wait (15 s)?");
    assert_consecutive_ids(&rest, last_seen + 1);
    assert_eq!(kinds(&rest), ["retry", "message", "message", "stdout", "message"], "after the crash: {rest:#?}");
    assert_eq!(attempts(&rest), expected_attempts(&[("pending", 2), ("running", 2), ("completed", 2)]), "{rest:#?}");
    assert_eq!(lines_of(&rest, "stdout"), ["attempt 2"]);
    let retry = &data_of(&rest, "retry")[0];
    assert_eq!(retry["attempt"], 1, "{retry}");
    assert_eq!(retry["outcome"], "lost", "{retry}");
    assert_eq!(retry["next_attempt"], 2, "{retry}");
    assert!(retry["error"].as_str().is_some_and(|e| !e.is_empty()), "{retry}");
    let second_node =
        rest.iter().filter_map(SseEvent::job).find(|j| j["status"] == "running").expect("running")["node_id"].clone();
    assert!(second_node.is_string() && second_node != first_node, "node ids {first_node} then {second_node}");

    let mut full = before.clone();
    full.extend(rest.iter().cloned());
    assert_consecutive_ids(&full, 1);
    let replay = app.stream(&retried_id, None).await.read_to_end().await;
    assert_eq!(replay, full, "what the client saw before and after the crash is the whole stream, once");

    for (id, what) in [(&plain_id, "no policy"), (&not_on_lost_id, "a policy without `lost`")] {
        let job = app.get_job_ok(id).await;
        assert_eq!(job["status"], "failed", "{what}: {job}");
        assert_eq!(job["outcome"], "lost", "{what}: {job}");
        assert_eq!(job["attempt"], 1, "{what}: {job}");
        let events = app.stream(id, None).await.read_to_end().await;
        assert_consecutive_ids(&events, 1);
        assert_eq!(statuses(&events), ["pending", "running", "failed"], "{what}: {events:#?}");
        assert!(data_of(&events, "retry").is_empty(), "{what}: {events:#?}");
    }
    assert_eq!(app.get_job_ok(&not_on_lost_id).await["max_attempts"], 3);
    assert_eq!(app.get_job_ok(&plain_id).await["max_attempts"], 1);

    for argv in [RETRIED, PLAIN, NOT_ON_LOST] {
        let left = wait_for_processes(argv, Duration::from_secs(5), |p| p.is_empty()).await;
        assert!(left.is_empty(), "`{}` outlived the crash and the restart: {left:?}", argv.join(" "));
    }
    second.kill9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_kills_the_whole_process_tree_of_a_lost_job() {
    const BACKGROUND: &[&str] = &["sleep", "97.3"];
    const FOREGROUND: &[&str] = &["sleep", "97.4"];
    let _cleanup = KillOnDrop(&[BACKGROUND, FOREGROUND]);
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = sqlite_url(dir.path());

    let mut first = serve(&url, ALLOW, &[]).await;
    let app = first.app(&dir);
    let task = app.task("sh -c 'sleep 97.3 & sleep 97.4'").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    app.stream(&job_id, None).await.until_status("running").await;
    for argv in [BACKGROUND, FOREGROUND] {
        let pids = wait_for_processes(argv, Duration::from_secs(5), |p| !p.is_empty()).await;
        assert!(!pids.is_empty(), "the job's `{}` never started", argv.join(" "));
    }

    first.kill9().await;
    // The job supervisor kills the whole tree at once; where there is none, only the next server finds the
    // backgrounded grandchild (by TASKYARD_JOB_ID). Either way none is left after the restart.
    let orphaned_before_restart = pids_with_cmdline(BACKGROUND);

    let mut second = serve(&url, ALLOW, &[]).await;
    let app = second.app(&dir);
    let job = app.get_job_ok(&job_id).await;
    assert_eq!((job["status"].clone(), job["outcome"].clone()), (json!("failed"), json!("lost")), "{job}");
    for argv in [BACKGROUND, FOREGROUND] {
        let left = wait_for_processes(argv, Duration::from_secs(5), |p| p.is_empty()).await;
        assert!(
            left.is_empty(),
            "`{}` of the lost job survived the restart: {left:?} (after the crash: {orphaned_before_restart:?})",
            argv.join(" ")
        );
    }
    second.kill9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_sqlite_file_refuses_to_start() {
    const SLEEPER: &[&str] = &["sleep", "97.5"];
    let _cleanup = KillOnDrop(&[SLEEPER]);
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = sqlite_url(dir.path());

    let mut first = serve(&url, ALLOW, &[]).await;
    let app = first.app(&dir);
    let task = app.task(&SLEEPER.join(" ")).await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;

    match try_serve(&url, ALLOW, &[]).await {
        Ok(mut intruder) => {
            let address = intruder.address.clone();
            intruder.kill9().await;
            panic!("a second server started on the same SQLite file (listening on {address})");
        }
        Err(refused) => {
            let status = refused.status.unwrap_or_else(|| panic!("it neither listened nor exited: {}", refused.log));
            assert!(!status.success(), "the second server exited with {status}; its stderr:\n{}", refused.log);
            assert!(
                refused.log.to_lowercase().contains("another"),
                "its stderr should say that another server uses the database:\n{}",
                refused.log
            );
        }
    }

    // The refused server touched nothing: the first one's job still runs, and the first server still serves.
    let job = app.get_job_ok(&job_id).await;
    assert_eq!((job["status"].clone(), job["attempt"].clone()), (json!("running"), json!(1)), "{job}");
    assert!(!pids_with_cmdline(SLEEPER).is_empty(), "the first server's job process was killed");
    assert_eq!(app.health().await.expect(200, "health of the first server")["status"], "ok");
    app.cancel(&job_id).await.expect(202, "cancel the job");
    let done = stream.until_done().await;
    assert_eq!(done.last().and_then(SseEvent::status).as_deref(), Some("canceled"), "{done:#?}");
    assert_eq!(data_of(&done, "retry"), Vec::<Value>::new());
    first.kill9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_a_client_saw_before_a_crash_is_in_the_log_after_it() {
    const TICKER: &[&str] = &["sh", "-c", "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.005; done"];
    let _cleanup = KillOnDrop(&[TICKER]);
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = sqlite_url(dir.path());

    let mut first = serve(&url, ALLOW, &[]).await;
    let app = first.app(&dir);
    let task = app.create_task_ok(json!({ "command": format!("sh -c '{}'", TICKER[2]) })).await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    // Crash right after a live event arrived: the newest events are the likeliest to be in memory only.
    let live = stream.until("the 40th line", |e| e.event == "stdout" && e.data == "tick39").await;
    first.kill9().await;
    drop(stream);

    let mut second = serve(&url, ALLOW, &[]).await;
    let app = second.app(&dir);
    let replay = app.stream(&job_id, None).await.read_to_end().await;
    assert_consecutive_ids(&replay, 1);
    assert!(replay.len() > live.len(), "the log ends with the lost record: {replay:#?}");
    assert_eq!(replay[..live.len()], live, "events seen live before the crash, with their ids, are all stored");
    let last = replay.last().and_then(SseEvent::job).expect("a final record");
    assert_eq!((last["status"].clone(), last["outcome"].clone()), (json!("failed"), json!("lost")), "{last}");
    let left = wait_for_processes(TICKER, Duration::from_secs(5), |p| p.is_empty()).await;
    assert!(left.is_empty(), "the ticker outlived the crash and the restart: {left:?}");
    second.kill9().await;
}
