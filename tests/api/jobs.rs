//! Jobs: `$execute`, the state machine and its outcomes, timeouts, cancellation and job listing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    JOB_KEYS, assert_keys, assert_ulid, fresh_ulid, header, ids_of, kill_pids, lines_of, spawn_app, spawn_app_with,
    statuses, str_of, utc_time, wait_for_processes,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_answers_202_with_job_id_message_and_location() {
    let app = spawn_app().await;
    let task = app.task("echo hi").await;
    let task_id = str_of(&task, "id");

    let reply = app.execute(task_id, None).await;
    let body = reply.expect(202, "execute without a body");
    assert_ulid(&body["job_id"], "job_id");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "202 carries a message: {body}");
    let job_id = str_of(&body, "job_id");
    let location = header(&reply.headers, "location");
    assert!(location.ends_with(&format!("/api/v1/jobs/{job_id}")), "Location is {location:?}");

    let job = app.get_job_ok(job_id).await;
    assert_keys(&job, JOB_KEYS, "job");
    assert_eq!(job["id"], job_id);
    assert_eq!(job["task_id"], task_id);
    assert_eq!(job["argv"], json!(["echo", "hi"]));
    assert!(
        ["pending", "running", "completed"].contains(&str_of(&job, "status")),
        "fresh job status {}",
        job["status"]
    );
    app.wait_job(job_id).await;

    for body in [json!({}), json!({ "params": {} })] {
        let reply = app.execute(task_id, Some(&body)).await;
        let accepted = reply.expect(202, &format!("execute with body {body}"));
        app.wait_job(str_of(&accepted, "job_id")).await;
    }

    app.execute(&fresh_ulid(), None).await.expect_problem(404, "task_not_found", "execute an unknown task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_goes_pending_running_completed() {
    let app = spawn_app().await;
    let finished = app.run("echo hello world").await;

    assert_eq!(statuses(&finished.events), ["pending", "running", "completed"], "job records on the stream");
    assert_eq!(finished.stdout(), ["hello world"]);

    let job = &finished.job;
    assert_eq!(job["outcome"], "success");
    assert_eq!(job["exit_code"], 0);
    assert_eq!(job["signal"], Value::Null);
    assert_eq!(job["error"], Value::Null);
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["argv"], json!(["echo", "hello", "world"]));
    assert_eq!(job["stdout_lines"], 1);
    assert_eq!(job["stdout_bytes"], "hello world\n".len());
    assert_eq!(job["stderr_lines"], 0);
    assert_eq!(job["stderr_bytes"], 0);
    assert_eq!(job["dropped_lines"], 0);
    assert_eq!(job["dropped_bytes"], 0);
    let submitted = utc_time(&job["submitted_at"], "submitted_at");
    let started = utc_time(&job["started_at"], "started_at");
    let ended = utc_time(&job["finished_at"], "finished_at");
    assert!(submitted <= started && started <= ended, "{job}");
    assert!(job["duration_ms"].as_u64().is_some(), "duration_ms: {job}");

    let pending = finished.events[0].job().expect("first event is a job record");
    assert_eq!(pending["outcome"], Value::Null, "no outcome while pending");
    assert_eq!(pending["started_at"], Value::Null);

    let fetched = app.get_job_ok(&finished.job_id).await;
    assert_eq!(fetched, finished.job, "GET /jobs/{{id}} equals the terminal record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_zero_exit_fails_with_outcome_exit_code() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;

    for (command, code) in [("false", 1), ("sh -c 'exit 3'", 3)] {
        let job = app.run(command).await.job;
        assert_eq!(job["status"], "failed", "{command}: {job}");
        assert_eq!(job["outcome"], "exit_code", "{command}: {job}");
        assert_eq!(job["exit_code"], code, "{command}: {job}");
        assert_eq!(job["signal"], Value::Null, "{command}: {job}");
        assert!(
            job["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{command}: failures are explained in `error`: {job}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_by_a_signal_fails_with_outcome_signal() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let job = app.run("sh -c 'kill -9 $$'").await.job;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["outcome"], "signal", "{job}");
    assert_eq!(job["signal"], 9, "{job}");
    assert_eq!(job["exit_code"], Value::Null, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_cannot_start_fails_with_spawn_error() {
    let app = spawn_app_with(|s| s.allow.push("definitely-not-a-program-xyz".into())).await;
    let finished = app.run("definitely-not-a-program-xyz --now").await;
    let job = &finished.job;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["outcome"], "spawn_error", "{job}");
    assert_eq!(job["exit_code"], Value::Null, "{job}");
    assert!(job["error"].as_str().is_some_and(|e| !e.is_empty()), "spawn errors are explained: {job}");
    assert_eq!(finished.stdout(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_timeout_fails_with_outcome_timeout_quickly() {
    // A long grace makes an implementation that always waits it out visibly slow.
    let app = spawn_app_with(|s| s.kill_grace_seconds = 10).await;
    let task = app.create_task_ok(json!({ "command": "sleep 30", "timeout_seconds": 1 })).await;

    let started = Instant::now();
    let job = app.run_task(&task, None).await.job;
    let elapsed = started.elapsed();

    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["outcome"], "timeout", "{job}");
    assert!(job["error"].as_str().is_some_and(|e| !e.is_empty()), "{job}");
    let duration = job["duration_ms"].as_u64().expect("duration_ms");
    assert!((900..5_000).contains(&duration), "duration_ms {duration} for a 1 s timeout");
    assert!(elapsed < Duration::from_secs(5), "timeout took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_a_running_job_stops_it() {
    let app = spawn_app_with(|s| s.kill_grace_seconds = 10).await;
    let task = app.task("sleep 30").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;

    let started = Instant::now();
    let reply = app.cancel(&job_id).await.expect(202, "cancel a running job");
    assert_eq!(reply["id"], job_id.as_str(), "$cancel answers with the job");
    let rest = stream.until_done().await;
    let elapsed = started.elapsed();

    let job = rest.last().and_then(|e| e.job()).expect("terminal record");
    assert_eq!(job["status"], "canceled", "{job}");
    assert_eq!(job["outcome"], "canceled", "{job}");
    assert!(elapsed < Duration::from_secs(5), "sleep dies on TERM, yet cancel took {elapsed:?}");

    app.cancel(&job_id).await.expect_problem(409, "job_finished", "cancel a canceled job");
    let done = app.run("true").await;
    app.cancel(&done.job_id).await.expect_problem(409, "job_finished", "cancel a completed job");
    app.cancel(&fresh_ulid()).await.expect_problem(404, "job_not_found", "cancel an unknown job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_a_pending_job_cancels_it_at_once() {
    let app = spawn_app_with(|s| s.max_concurrency = 1).await;
    let blocker_task = app.task("sleep 30").await;
    let blocker = app.execute_ok(str_of(&blocker_task, "id"), None).await;
    app.stream(&blocker, None).await.until_status("running").await;

    let waiting_task = app.task("echo never").await;
    let waiting = app.execute_ok(str_of(&waiting_task, "id"), None).await;
    let before = app.get_job_ok(&waiting).await;
    assert_eq!(before["status"], "pending", "max_concurrency 1 keeps it waiting");

    let canceled = app.cancel(&waiting).await.expect(202, "cancel a pending job");
    assert_eq!(canceled["status"], "canceled", "pending jobs are canceled at once");
    assert_eq!(canceled["outcome"], "canceled");
    let events = app.stream_job_until_done(&waiting).await;
    assert_eq!(statuses(&events), ["pending", "canceled"]);
    assert_eq!(lines_of(&events, "stdout"), Vec::<String>::new(), "it never ran");

    app.cancel(&blocker).await.expect(202, "cancel the blocker");
    let blocker_job = app.wait_job(&blocker).await;
    assert_eq!(blocker_job["status"], "canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_a_process_group_that_ignores_term() {
    let app = spawn_app_with(|s| {
        s.allow.push("sh".into());
        s.kill_grace_seconds = 1;
    })
    .await;
    // The ignored TERM is inherited by the `sleep` child, so only KILL to the whole group ends it.
    let task = app.task("sh -c 'trap \"\" TERM; sleep 32.3; echo survived'").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;
    // The trap is set once its `sleep` exists.
    let sleeping = wait_for_processes(&["sleep", "32.3"], Duration::from_secs(5), |p| !p.is_empty()).await;
    assert!(!sleeping.is_empty(), "the job's `sleep 32.3` never started");

    let started = Instant::now();
    app.cancel(&job_id).await.expect(202, "cancel");
    let rest = stream.until_done().await;
    let elapsed = started.elapsed();

    let job = rest.last().and_then(|e| e.job()).expect("terminal record");
    assert_eq!(job["status"], "canceled", "{job}");
    assert_eq!(job["outcome"], "canceled", "{job}");
    assert!(!lines_of(&rest, "stdout").contains(&"survived".to_string()));
    assert!(elapsed < Duration::from_secs(5), "KILL after a 1 s grace took {elapsed:?}");

    let left = wait_for_processes(&["sleep", "32.3"], Duration::from_secs(5), |p| p.is_empty()).await;
    kill_pids(&left);
    assert!(left.is_empty(), "the grandchild `sleep 32.3` survived the cancel: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_gets_the_task_env_and_cwd() {
    // `env` prints the environment; it is no default program (it runs others), so this test allows it.
    let app = spawn_app_with(|s| s.allow.extend(["pwd".into(), "env".into()])).await;
    let cwd = app.dir.path().canonicalize().expect("canonical temp dir");
    let cwd = cwd.display().to_string();

    let env_task = app.create_task_ok(json!({ "command": "env", "env": { "REPORT_TEST_VAR": "forty two" } })).await;
    let env_lines = app.run_task(&env_task, None).await.stdout();
    assert!(
        env_lines.contains(&"REPORT_TEST_VAR=forty two".to_string()),
        "env output lacks the task variable: {env_lines:?}"
    );

    let cwd_task = app.create_task_ok(json!({ "command": "pwd", "cwd": cwd })).await;
    assert_eq!(app.run_task(&cwd_task, None).await.stdout(), [cwd]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_jobs_newest_first_with_filters_and_pages() {
    let app = spawn_app().await;
    let a = app.task("echo a").await;
    let b = app.task("false").await;
    let a1 = app.run_task(&a, None).await.job_id;
    let a2 = app.run_task(&a, None).await.job_id;
    let b1 = app.run_task(&b, None).await.job_id;
    let a_id = str_of(&a, "id");

    let all = app.list_jobs("").await.expect(200, "list jobs");
    assert!(all.is_array(), "GET /jobs without page/size is a plain array: {all}");
    assert_eq!(ids_of(&all), [b1.as_str(), a2.as_str(), a1.as_str()], "newest first");
    assert_keys(&all[0], JOB_KEYS, "listed job");

    let of_a = app.list_jobs(&format!("?task_id={a_id}")).await.expect(200, "task_id filter");
    assert_eq!(ids_of(&of_a), [a2.as_str(), a1.as_str()]);
    let none = app.list_jobs(&format!("?task_id={}", fresh_ulid())).await.expect(200, "unknown task_id");
    assert_eq!(none, json!([]));

    let failed = app.list_jobs("?status=failed").await.expect(200, "status filter");
    assert_eq!(ids_of(&failed), [b1.as_str()]);
    let completed = app.list_jobs("?status=completed").await.expect(200, "status filter");
    assert_eq!(ids_of(&completed), [a2.as_str(), a1.as_str()]);
    let running = app.list_jobs("?status=running").await.expect(200, "status filter");
    assert_eq!(running, json!([]));

    let first = app.list_jobs("?page=1&size=2").await.expect(200, "page 1");
    assert_eq!(ids_of(&first["items"]), [b1.as_str(), a2.as_str()]);
    assert_eq!(
        (first["total"].clone(), first["page"].clone(), first["size"].clone(), first["pages"].clone()),
        (json!(3), json!(1), json!(2), json!(2))
    );
    let second = app.list_jobs("?page=2&size=2").await.expect(200, "page 2");
    assert_eq!(ids_of(&second["items"]), [a1.as_str()]);

    let filtered = app.list_jobs(&format!("?task_id={a_id}&page=1&size=1")).await.expect(200, "filter and page");
    assert_eq!(filtered["total"], 2);
    assert_eq!(filtered["pages"], 2);
    assert_eq!(ids_of(&filtered["items"]), [a2.as_str()]);
}

/// A job row whose stored argv is empty (written by hand, or by an older version) ends as `spawn_error` with the
/// reason; the runner never takes its program from an empty list, and the server goes on running jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_job_with_an_empty_argv_fails_to_spawn_and_the_server_goes_on() {
    use sea_orm::{ConnectionTrait, Database};

    let app = spawn_app().await;
    let task = app.task("echo never").await;
    let accepted =
        app.execute(str_of(&task, "id"), Some(&json!({ "delay_seconds": 3600 }))).await.expect(202, "delay 1 h");
    let job = str_of(&accepted, "job_id").to_string();
    let db = Database::connect(app.db.url()).await.expect("open the database from the test");
    db.execute_unprepared(&format!("UPDATE jobs SET argv = '[]', run_at = 0 WHERE id = '{job}'"))
        .await
        .expect("empty the job's argv and make it due");
    // Another submission wakes the dispatcher, which claims the oldest due job first.
    let poke = app.run("echo poke").await;
    assert_eq!(poke.stdout(), ["poke"], "{}", poke.job);

    let ended = app.wait_job(&job).await;
    assert_eq!((ended["status"].as_str(), ended["outcome"].as_str()), (Some("failed"), Some("spawn_error")), "{ended}");
    assert!(str_of(&ended, "error").contains("empty command"), "{ended}");
    assert_eq!(app.run("echo after").await.stdout(), ["after"], "the server still runs jobs");
}

/// A cancel answered by a server that does not run the job (two applications on one SQLite file, as an embedding
/// program may open) is stored, and the job's runner acts on it at its next lease renewal: the 202 is no promise
/// left unkept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_a_runner_of_another_application_on_the_same_database() {
    if crate::helpers::sqlite_only("two applications share one SQLite file in this process") {
        return;
    }
    let _cleanup = crate::helpers::KillOnDrop(&[&["sleep", "30.9"]]);
    let app = spawn_app_with(|s| s.lease_seconds = 1).await;
    let other = app.reopen_with(|s| s.lease_seconds = 1).await;
    let task = app.task("sleep 30.9").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    let running = stream.until_status("running").await;
    let runner = running.last().and_then(|e| e.job()).expect("the running record")["node_id"].clone();
    let nodes = app.get("/api/v1/nodes").await.expect(200, "GET /api/v1/nodes");
    let address = nodes
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == runner))
        .unwrap_or_else(|| panic!("the runner {runner} among {nodes}"))["address"]
        .clone();
    let bystander = if address == app.address.as_str() { &other } else { &app };

    bystander.cancel(&job_id).await.expect(202, "cancel through the application that does not run it");
    let rest = tokio::time::timeout(Duration::from_secs(10), stream.until_done())
        .await
        .expect("the runner stops the job within a few lease renewals");
    let job = rest.last().and_then(|e| e.job()).expect("terminal record");
    assert_eq!((job["status"].as_str(), job["outcome"].as_str()), (Some("canceled"), Some("canceled")), "{job}");
}

/// A cancel sent the moment a job is queued meets it pending (canceled at once) or claimed, between its claim and
/// its runner's start (the runner is asked before the answer): either way the job ends canceled, never run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_right_after_execute_always_cancels() {
    let _cleanup = crate::helpers::KillOnDrop(&[&["sleep", "30.7"]]);
    let app = spawn_app().await;
    let task = app.task("sleep 30.7").await;
    for round in 0..5 {
        let job_id = app.execute_ok(str_of(&task, "id"), None).await;
        let answer = app.cancel(&job_id).await.expect(202, "cancel at once");
        assert!(matches!(answer["status"].as_str(), Some("canceled" | "running")), "round {round}: {answer}");
        let job = tokio::time::timeout(Duration::from_secs(10), app.wait_job(&job_id))
            .await
            .unwrap_or_else(|_| panic!("round {round}: the job did not end after its cancel"));
        assert_eq!((job["status"].as_str(), job["outcome"].as_str()), (Some("canceled"), Some("canceled")), "{job}");
    }
}
