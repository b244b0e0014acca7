//! Drain with the real binary: on SIGTERM the server stops claiming, answers /health with 503 `draining`, lets
//! running jobs finish for `drain_seconds`, then interrupts them (handing them back when their policy lists
//! `interrupted`), ends every stream and exits 0. A second signal exits at once with 130.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::helpers::{
    Gate, KillOnDrop, SseEvent, TestApp, assert_consecutive_ids, attempts, data_of, expected_attempts, fail_first_runs,
    kinds, lines_of, poll_until, serve, sqlite_url, statuses, str_of, wait_for_processes,
};

/// Polls /health until it answers 503; returns the body. A refused connection counts as a failure to answer.
async fn wait_for_draining(app: &TestApp) -> Value {
    poll_until("/health to answer 503 after SIGTERM", Duration::from_secs(5), async || {
        let response = app.client.get(format!("{}/health", app.address)).send().await;
        let response = response.map_err(|e| format!("/health did not answer: {e}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("/health body: {e}"))?;
        if status == 503 {
            serde_json::from_str(&text).map_err(|e| format!("/health 503 body is not JSON ({e}): {text:?}"))
        } else {
            Err(format!("{status} {text}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_job_finish_claims_nothing_new_and_exits_0() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = sqlite_url(dir.path());
    let gate = Gate::new(dir.path());
    let args = ["--allow", "sh", "--allow", "echo", "--drain-seconds", "10", "--max-concurrency", "1"];
    let mut server = serve(&url, &args, &[]).await;
    let app = server.app(&dir);

    // Runs until the test creates the gate file: the drain is observed while the job is certainly running.
    let gated = app.gated_task(&gate, "echo waiting", "echo done").await;
    let job_id = app.execute_ok(str_of(&gated, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    let mut seen = stream.until("the line `waiting`", |e| e.event == "stdout" && e.data == "waiting").await;
    // With one runner slot taken, this one waits; a draining server must not start it.
    let queued = app.execute_ok(str_of(&app.task("echo queued").await, "id"), None).await;
    let mut queued_stream = app.stream(&queued, None).await;

    server.signal(Signal::SIGTERM);
    let health = wait_for_draining(&app).await;
    assert_eq!(health["status"], "draining", "{health}");
    assert_eq!(app.get_job_ok(&job_id).await["status"], "running", "the API still answers while draining");

    gate.open();
    seen.extend(stream.until_done().await);
    stream.assert_ends().await;
    assert_consecutive_ids(&seen, 1);
    assert_eq!(lines_of(&seen, "stdout"), ["waiting", "done"]);
    let job = seen.last().and_then(SseEvent::job).expect("terminal record");
    assert_eq!((job["status"].clone(), job["outcome"].clone()), (json!("completed"), json!("success")), "{job}");

    let queued_events = queued_stream.read_to_end().await;
    assert_eq!(statuses(&queued_events), ["pending"], "the queued job's stream ends, the job unstarted");

    let status = server.exit_within(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{}", server.log());

    let mut next = serve(&url, &["--allow", "echo"], &[]).await;
    let app = next.app(&dir);
    assert_eq!(app.get_job_ok(&job_id).await, job, "the drained job's final record is stored");
    let queued_job = app.wait_job(&queued).await;
    assert_eq!(queued_job["status"], "completed", "the queued job runs on the next server: {queued_job}");
    assert_eq!(queued_job["attempt"], 1, "it never started before: {queued_job}");
    next.kill9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_interrupts_jobs_still_running_after_drain_seconds() {
    const PLAIN: &[&str] = &["sleep", "61.7"];
    const RETRIED: &[&str] = &["sleep", "61.8"];
    const STUBBORN: &[&str] = &["sleep", "61.9"];
    let _cleanup = KillOnDrop(&[PLAIN, RETRIED, STUBBORN]);
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = sqlite_url(dir.path());
    let allow = ["--allow", "sh", "--allow", "sleep"];
    let args = [&allow[..], &["--kill-grace-seconds", "1"]].concat();
    let mut server = serve(&url, &args, &[("TASKYARD_DRAIN_SECONDS", "1")]).await;
    let app = server.app(&dir);

    let plain = app.task(&PLAIN.join(" ")).await;
    let counter = dir.path().join("counter");
    let retry = json!({ "max_attempts": 2, "on": ["interrupted"], "backoff": "fixed", "initial_delay_seconds": 0 });
    let retried =
        app.create_task_ok(fail_first_runs(&counter, 1, "attempt $TASKYARD_ATTEMPT", "exec sleep 61.8", retry)).await;
    // Ignores TERM (its sleep inherits that): only the KILL after kill_grace_seconds ends it.
    let stubborn = app.task("sh -c 'trap \"\" TERM; sleep 61.9'").await;
    let plain_id = app.execute_ok(str_of(&plain, "id"), None).await;
    let retried_id = app.execute_ok(str_of(&retried, "id"), None).await;
    let stubborn_id = app.execute_ok(str_of(&stubborn, "id"), None).await;
    let mut stubborn_stream = app.stream(&stubborn_id, None).await;
    stubborn_stream.until_status("running").await;
    let mut plain_stream = app.stream(&plain_id, None).await;
    plain_stream.until_status("running").await;
    let mut retried_stream = app.stream(&retried_id, None).await;
    retried_stream.until("the line `attempt 1`", |e| e.event == "stdout" && e.data == "attempt 1").await;
    for argv in [PLAIN, RETRIED, STUBBORN] {
        let pids = wait_for_processes(argv, Duration::from_secs(5), |p| !p.is_empty()).await;
        assert!(!pids.is_empty(), "the job's `{}` never started", argv.join(" "));
    }

    let signaled = Instant::now();
    server.signal(Signal::SIGTERM);
    let plain_rest = plain_stream.read_to_end().await;
    let plain_final = plain_rest.last().and_then(SseEvent::job).expect("a final record before the stream ends");
    assert_eq!(plain_final["status"], "failed", "{plain_final}");
    assert_eq!(plain_final["outcome"], "interrupted", "{plain_final}");

    let retried_rest = retried_stream.read_to_end().await;
    assert_eq!(kinds(&retried_rest), ["retry", "message"], "handed back, then the stream ends: {retried_rest:#?}");
    assert_eq!(attempts(&retried_rest), expected_attempts(&[("pending", 2)]));
    let retry = &data_of(&retried_rest, "retry")[0];
    assert_eq!((retry["outcome"].clone(), retry["next_attempt"].clone()), (json!("interrupted"), json!(2)), "{retry}");

    let stubborn_rest = stubborn_stream.read_to_end().await;
    let stubborn_final = stubborn_rest.last().and_then(SseEvent::job).expect("a final record before the stream ends");
    assert_eq!(
        (stubborn_final["status"].clone(), stubborn_final["outcome"].clone()),
        (json!("failed"), json!("interrupted")),
        "a job that ignores TERM is killed after the grace: {stubborn_final}"
    );

    let status = server.exit_within(Duration::from_secs(20)).await;
    let took = signaled.elapsed();
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{}", server.log());
    // drain_seconds 1, then kill_grace_seconds 1 for the job that ignores TERM.
    assert!(took >= Duration::from_millis(1900), "exited {took:?} after SIGTERM with drain 1 s and grace 1 s");
    assert!(took < Duration::from_secs(8), "exited {took:?} after SIGTERM with drain 1 s and grace 1 s");
    for argv in [PLAIN, RETRIED, STUBBORN] {
        let left = wait_for_processes(argv, Duration::from_secs(5), |p| p.is_empty()).await;
        assert!(left.is_empty(), "`{}` outlived the drained server: {left:?}", argv.join(" "));
    }

    let mut next = serve(&url, &allow, &[]).await;
    let app = next.app(&dir);
    let job = app.get_job_ok(&plain_id).await;
    assert_eq!(job, plain_final, "the interrupted record is stored as streamed");
    assert_eq!(job["attempt"], 1, "{job}");
    assert!(job["finished_at"].is_string(), "{job}");

    let last_seen = retried_rest.last().expect("events").id;
    let mut resumed = app.stream(&retried_id, Some(last_seen)).await;
    let after = resumed.until_done().await;
    resumed.assert_ends().await;
    assert_consecutive_ids(&after, last_seen + 1);
    assert_eq!(attempts(&after), expected_attempts(&[("running", 2), ("completed", 2)]), "{after:#?}");
    assert_eq!(lines_of(&after, "stdout"), ["attempt 2"]);
    next.kill9().await;
}

/// Starts a server with a job running `sleeper`, sends `first`, waits for the drain, sends `second`: the server
/// exits at once with 130 and the job's process is gone.
async fn a_second_signal_exits_at_once(first: Signal, second: Signal, sleeper: &'static [&'static str]) {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    // The default drain_seconds (30) would keep the server waiting for the job.
    let mut server = serve(&sqlite_url(dir.path()), &["--allow", "sleep"], &[]).await;
    let app = server.app(&dir);
    let job_id = app.execute_ok(str_of(&app.task(&sleeper.join(" ")).await, "id"), None).await;
    app.stream(&job_id, None).await.until_status("running").await;
    let pids = wait_for_processes(sleeper, Duration::from_secs(5), |p| !p.is_empty()).await;
    assert!(!pids.is_empty(), "the job's sleep never started");

    server.signal(first);
    let health = wait_for_draining(&app).await;
    assert_eq!(health["status"], "draining", "{health}");

    let signaled = Instant::now();
    server.signal(second);
    let status = server.exit_within(Duration::from_secs(10)).await;
    let took = signaled.elapsed();
    assert_eq!(status.code(), Some(130), "{first} then {second}: exit status {status}; log:\n{}", server.log());
    assert!(took < Duration::from_secs(3), "the second signal ({second}) took {took:?} to end the server");
    let left = wait_for_processes(sleeper, Duration::from_secs(5), |p| p.is_empty()).await;
    assert!(left.is_empty(), "the job's `{}` outlived the second signal: {left:?}", sleeper.join(" "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once_with_130() {
    const SLEEPER: &[&str] = &["sleep", "62.9"];
    let _cleanup = KillOnDrop(&[SLEEPER]);
    a_second_signal_exits_at_once(Signal::SIGTERM, Signal::SIGTERM, SLEEPER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_drains_too_and_a_second_sigint_exits_with_130() {
    const SLEEPER: &[&str] = &["sleep", "62.7"];
    let _cleanup = KillOnDrop(&[SLEEPER]);
    a_second_signal_exits_at_once(Signal::SIGINT, Signal::SIGINT, SLEEPER).await;
}
