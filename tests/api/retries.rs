//! Retry policies: a failed attempt runs again as the same job, whose stream goes on across attempts with a `retry`
//! event before each new attempt; which outcomes and exit codes retry; the backoff. The policy's validation and
//! storage are in `policy`.

mod policy;

use serde_json::{Value, json};

use crate::helpers::{
    KillOnDrop, SseEvent, TestApp, assert_consecutive_ids, attempts, data_of, expected_attempts, fail_first_runs,
    kinds, lines_of, ms_between, spawn_app_with, statuses, str_of, utc_time, wait_for_processes,
};

async fn shell_app() -> TestApp {
    spawn_app_with(|s| s.allow.push("sh".into())).await
}

/// A policy that retries at once, so that the tests never wait for a backoff they do not measure.
fn at_once(max_attempts: u64) -> Value {
    json!({ "max_attempts": max_attempts, "backoff": "fixed", "initial_delay_seconds": 0 })
}

/// Creates a task with this command and retry policy (any JSON, `null` included).
async fn task_with_retry(app: &TestApp, command: &str, retry: Value) -> Value {
    app.create_task_ok(json!({ "command": command, "retry": retry })).await
}

/// The retry events of a stream and, for each, the job record right after it.
fn retries_and_next(events: &[SseEvent]) -> Vec<(Value, Value)> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event == "retry")
        .map(|(i, e)| {
            let retry: Value = serde_json::from_str(&e.data).expect("retry data is JSON");
            let next = events
                .get(i + 1)
                .and_then(SseEvent::job)
                .unwrap_or_else(|| panic!("the retry event {} is not followed by a job record: {events:#?}", e.id));
            (retry, next)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_runs_max_attempts_times_on_one_stream_then_fails() {
    let app = shell_app().await;
    let task =
        task_with_retry(&app, "sh -c 'echo attempt=$TASKYARD_ATTEMPT job=$TASKYARD_JOB_ID; exit 3'", at_once(3)).await;
    assert_eq!(task["retry"]["max_attempts"], 3, "the task shows its policy: {task}");
    assert_eq!(task["retry"]["backoff"], "fixed", "{task}");
    assert_eq!(task["retry"]["initial_delay_seconds"].as_f64(), Some(0.0), "{task}");
    assert_eq!(app.get_task(str_of(&task, "id")).await.expect(200, "get task")["retry"], task["retry"]);

    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    let events = stream.until_done().await;
    stream.assert_ends().await;

    assert_consecutive_ids(&events, 1);
    assert_eq!(
        kinds(&events),
        [
            "message", "message", "stdout", "retry", "message", // attempt 1
            "message", "stdout", "retry", "message", // attempt 2
            "message", "stdout", "message", // attempt 3, final
        ],
        "one stream across the attempts: {events:#?}"
    );
    assert_eq!(
        attempts(&events),
        expected_attempts(&[
            ("pending", 1),
            ("running", 1),
            ("pending", 2),
            ("running", 2),
            ("pending", 3),
            ("running", 3),
            ("failed", 3),
        ])
    );
    let expected_lines: Vec<String> = (1..=3).map(|n| format!("attempt={n} job={job_id}")).collect();
    assert_eq!(lines_of(&events, "stdout"), expected_lines, "TASKYARD_ATTEMPT and TASKYARD_JOB_ID in each attempt");

    let retries = retries_and_next(&events);
    assert_eq!(retries.len(), 2, "{events:#?}");
    for (n, (retry, next)) in retries.iter().enumerate() {
        let attempt = n as u64 + 1;
        assert_eq!(retry["attempt"], attempt, "{retry}");
        assert_eq!(retry["next_attempt"], attempt + 1, "{retry}");
        assert_eq!(retry["outcome"], "exit_code", "{retry}");
        assert_eq!(retry["exit_code"], 3, "{retry}");
        assert_eq!(retry["signal"], Value::Null, "{retry}");
        assert!(retry["error"].as_str().is_some_and(|e| e.contains('3')), "the error explains exit code 3: {retry}");
        assert_eq!(retry["delay_ms"], 0, "initial_delay_seconds 0: {retry}");
        utc_time(&retry["run_at"], "retry run_at");

        assert_eq!(next["status"], "pending", "after a retry event: {next}");
        assert_eq!(next["attempt"], attempt + 1, "{next}");
        assert_eq!(next["max_attempts"], 3, "{next}");
        assert_eq!(next["outcome"], Value::Null, "{next}");
        assert_eq!(next["started_at"], Value::Null, "{next}");
        assert_eq!(next["finished_at"], Value::Null, "{next}");
        assert_eq!(ms_between(&retry["run_at"], &next["run_at"]), 0, "retry run_at = job run_at: {retry} / {next}");
        assert_eq!(next["exit_code"], 3, "the previous attempt's exit code stays until the next one ends: {next}");
        assert_eq!(next["error"], retry["error"], "the previous attempt's error stays: {next}");
    }

    for running in events.iter().filter_map(SseEvent::job).filter(|j| j["status"] == "running" && j["attempt"] != 1) {
        assert_eq!(running["exit_code"], 3, "the previous attempt's exit code stays while the next runs: {running}");
        assert!(running["error"].is_string(), "the previous attempt's error stays while the next runs: {running}");
    }

    let job = events.last().and_then(SseEvent::job).expect("terminal record");
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["outcome"], "exit_code", "{job}");
    assert_eq!(job["exit_code"], 3, "{job}");
    assert_eq!(job["attempt"], 3, "{job}");
    assert_eq!(job["max_attempts"], 3, "{job}");
    assert_eq!(job["stdout_lines"], 3, "output totals add up over the attempts: {job}");
    assert_eq!(app.get_job_ok(&job_id).await, job, "GET /jobs/{{id}} equals the terminal record");

    let jobs = app.list_jobs(&format!("?task_id={}", str_of(&task, "id"))).await.expect(200, "jobs of the task");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "attempts are one job, not several: {jobs}");
    let replay = app.stream(&job_id, None).await.read_to_end().await;
    assert_eq!(replay, events, "a replay shows every attempt as it was seen live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_succeeds_on_its_second_attempt_completes_as_attempt_2() {
    let app = shell_app().await;
    let counter = app.dir.path().join("counter");
    // Fails while the counter file said 0 (or did not exist), succeeds from the second run on.
    let task = app.create_task_ok(fail_first_runs(&counter, 1, "run $((n+1))", "false", at_once(5))).await;
    let finished = app.run_task(&task, None).await;
    let job = &finished.job;

    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["outcome"], "success", "{job}");
    assert_eq!(job["attempt"], 2, "{job}");
    assert_eq!(job["max_attempts"], 5, "{job}");
    assert_eq!(job["exit_code"], 0, "the successful attempt's exit code replaces the failed one's: {job}");
    assert_eq!(job["error"], Value::Null, "no error once an attempt succeeded: {job}");
    assert_eq!(
        attempts(&finished.events),
        expected_attempts(&[("pending", 1), ("running", 1), ("pending", 2), ("running", 2), ("completed", 2)])
    );
    assert_eq!(finished.stdout(), ["run 1", "run 2"]);
    let retries = data_of(&finished.events, "retry");
    assert_eq!(retries.len(), 1, "{:#?}", finished.events);
    assert_eq!((retries[0]["exit_code"].clone(), retries[0]["next_attempt"].clone()), (json!(1), json!(2)));
    assert_eq!(std::fs::read_to_string(&counter).expect("counter file").trim(), "2", "it ran exactly twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_listed_outcomes_and_exit_codes_retry() {
    let app = shell_app().await;

    let only_75 = task_with_retry(
        &app,
        "sh -c 'exit {code}'",
        json!({ "max_attempts": 3, "backoff": "fixed", "initial_delay_seconds": 0, "exit_codes": [75] }),
    )
    .await;
    assert_eq!(only_75["retry"]["exit_codes"], json!([75]), "{only_75}");
    let unlisted = app.run_task(&only_75, Some(json!({ "code": 3 }))).await;
    assert_eq!(statuses(&unlisted.events), ["pending", "running", "failed"], "exit code 3 is not listed");
    assert!(data_of(&unlisted.events, "retry").is_empty(), "{:#?}", unlisted.events);
    assert_eq!((unlisted.job["attempt"].clone(), unlisted.job["exit_code"].clone()), (json!(1), json!(3)));
    assert_eq!(unlisted.job["max_attempts"], 3, "{}", unlisted.job);

    let listed = app.run_task(&only_75, Some(json!({ "code": 75 }))).await;
    assert_eq!(listed.job["attempt"], 3, "exit code 75 is listed: {}", listed.job);
    assert_eq!(listed.job["status"], "failed", "{}", listed.job);
    let retries = data_of(&listed.events, "retry");
    assert_eq!(retries.iter().map(|r| r["exit_code"].clone()).collect::<Vec<_>>(), [json!(75), json!(75)]);

    let not_on_exit = task_with_retry(
        &app,
        "sh -c 'exit 3'",
        json!({ "max_attempts": 3, "backoff": "fixed", "initial_delay_seconds": 0, "on": ["timeout", "signal"] }),
    )
    .await;
    let finished = app.run_task(&not_on_exit, None).await;
    assert_eq!(finished.job["attempt"], 1, "on lacks exit_code: {}", finished.job);
    assert!(data_of(&finished.events, "retry").is_empty(), "{:#?}", finished.events);

    let on_signal = task_with_retry(
        &app,
        "sh -c 'kill -9 $$'",
        json!({ "max_attempts": 2, "backoff": "fixed", "initial_delay_seconds": 0, "on": ["signal"] }),
    )
    .await;
    let finished = app.run_task(&on_signal, None).await;
    assert_eq!(finished.job["attempt"], 2, "{}", finished.job);
    assert_eq!(finished.job["outcome"], "signal", "{}", finished.job);
    let retries = data_of(&finished.events, "retry");
    assert_eq!(retries.len(), 1, "{:#?}", finished.events);
    assert_eq!(retries[0]["outcome"], "signal", "{}", retries[0]);
    assert_eq!(retries[0]["signal"], 9, "{}", retries[0]);
    assert_eq!(retries[0]["exit_code"], Value::Null, "{}", retries[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_errors_retry_only_when_listed() {
    let app = spawn_app_with(|s| s.allow.push("definitely-not-a-program-xyz".into())).await;

    // The default `on` leaves spawn_error out: a missing program stays missing.
    let default_on = task_with_retry(&app, "definitely-not-a-program-xyz", at_once(3)).await;
    let finished = app.run_task(&default_on, None).await;
    assert_eq!(finished.job["outcome"], "spawn_error", "{}", finished.job);
    assert_eq!(finished.job["attempt"], 1, "spawn_error is not in the default `on`: {}", finished.job);
    assert!(data_of(&finished.events, "retry").is_empty(), "{:#?}", finished.events);

    let listed = task_with_retry(
        &app,
        "definitely-not-a-program-xyz",
        json!({ "max_attempts": 2, "backoff": "fixed", "initial_delay_seconds": 0, "on": ["spawn_error"] }),
    )
    .await;
    let finished = app.run_task(&listed, None).await;
    assert_eq!(finished.job["outcome"], "spawn_error", "{}", finished.job);
    assert_eq!(finished.job["attempt"], 2, "{}", finished.job);
    let retries = data_of(&finished.events, "retry");
    assert_eq!(retries.len(), 1, "{:#?}", finished.events);
    assert_eq!(retries[0]["outcome"], "spawn_error", "{}", retries[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_policy_a_failure_is_final() {
    let app = shell_app().await;
    let absent = app.task("sh -c 'exit 3'").await;
    let null = task_with_retry(&app, "sh -c 'exit 3'", Value::Null).await;
    for task in [absent, null] {
        assert!(task.get("retry").is_some_and(Value::is_null), "a task without a policy shows retry: null: {task}");
        let finished = app.run_task(&task, None).await;
        let job = &finished.job;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["attempt"], 1, "{job}");
        assert_eq!(job["max_attempts"], 1, "no policy: one attempt in all: {job}");
        assert_eq!(statuses(&finished.events), ["pending", "running", "failed"]);
        assert!(data_of(&finished.events, "retry").is_empty(), "{:#?}", finished.events);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_backoff_sets_run_at_one_delay_after_the_failed_attempt() {
    let app = shell_app().await;
    let task = task_with_retry(
        &app,
        "sh -c 'exit 3'",
        json!({ "max_attempts": 2, "backoff": "fixed", "initial_delay_seconds": 1 }),
    )
    .await;
    let finished = app.run_task(&task, None).await;
    let events = &finished.events;
    assert_eq!(
        attempts(events),
        expected_attempts(&[("pending", 1), ("running", 1), ("pending", 2), ("running", 2), ("failed", 2)])
    );
    let records: Vec<Value> = events.iter().filter_map(SseEvent::job).collect();
    let (first_run, waiting, second_run) = (&records[1], &records[2], &records[3]);
    let retries = data_of(events, "retry");
    assert_eq!(retries.len(), 1, "{events:#?}");
    let retry = &retries[0];
    assert_eq!(retry["delay_ms"], 1000, "fixed backoff of 1 s: {retry}");
    assert_eq!(ms_between(&retry["run_at"], &waiting["run_at"]), 0, "{retry} / {waiting}");

    // The attempt took a few ms; run_at is one delay after it ended.
    let after_start = ms_between(&first_run["started_at"], &waiting["run_at"]);
    assert!((1000..3000).contains(&after_start), "run_at is {after_start} ms after attempt 1 started: {waiting}");
    let waited = ms_between(&waiting["run_at"], &second_run["started_at"]);
    assert!(waited >= 0, "attempt 2 started {waited} ms before its run_at: {second_run}");
    assert!(waited < 2000, "attempt 2 started {waited} ms after its run_at: {second_run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exponential_backoff_doubles_is_capped_and_jittered() {
    let app = shell_app().await;
    let task = task_with_retry(
        &app,
        "sh -c 'exit 3'",
        json!({ "max_attempts": 3, "backoff": "exponential", "initial_delay_seconds": 0.2, "max_delay_seconds": 0.3 }),
    )
    .await;
    let finished = app.run_task(&task, None).await;
    assert_eq!(finished.job["attempt"], 3, "{}", finished.job);
    let delays: Vec<u64> =
        data_of(&finished.events, "retry").iter().map(|r| r["delay_ms"].as_u64().expect("delay_ms")).collect();
    assert_eq!(delays.len(), 2, "{:#?}", finished.events);
    // Attempt 1: 0.2 s, jittered into [0.1, 0.2]; attempt 2: 0.4 s capped at 0.3, jittered into [0.15, 0.3].
    assert!((100..=200).contains(&delays[0]), "first delay {delays:?}");
    assert!((150..=300).contains(&delays[1]), "second delay {delays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceled_jobs_never_retry() {
    const SLEEPER: &[&str] = &["sleep", "41.7"];
    let _cleanup = KillOnDrop(&[SLEEPER]);
    let app = shell_app().await;

    // Canceled while running.
    let running = task_with_retry(&app, &SLEEPER.join(" "), at_once(3)).await;
    let job_id = app.execute_ok(str_of(&running, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;
    wait_for_processes(SLEEPER, std::time::Duration::from_secs(5), |p| !p.is_empty()).await;
    app.cancel(&job_id).await.expect(202, "cancel a running job with a retry policy");
    let rest = stream.until_done().await;
    stream.assert_ends().await;
    let job = rest.last().and_then(SseEvent::job).expect("terminal record");
    assert_eq!((job["status"].clone(), job["attempt"].clone()), (json!("canceled"), json!(1)), "{job}");
    assert!(data_of(&rest, "retry").is_empty(), "{rest:#?}");

    // Canceled while it waits for its next attempt.
    let waiting = task_with_retry(
        &app,
        "sh -c 'exit 3'",
        json!({ "max_attempts": 3, "backoff": "fixed", "initial_delay_seconds": 30 }),
    )
    .await;
    let job_id = app.execute_ok(str_of(&waiting, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    let seen = stream.until("the retry event", |e| e.event == "retry").await;
    let pending = stream.next_event().await.and_then(|e| e.job()).expect("the pending record after the retry");
    assert_eq!((pending["status"].clone(), pending["attempt"].clone()), (json!("pending"), json!(2)), "{seen:#?}");
    let canceled = app.cancel(&job_id).await.expect(202, "cancel a job waiting for its next attempt");
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    let rest = stream.until_done().await;
    stream.assert_ends().await;
    assert_eq!(statuses(&rest), ["canceled"], "{rest:#?}");
    assert_eq!(app.get_job_ok(&job_id).await["status"], "canceled");
}
