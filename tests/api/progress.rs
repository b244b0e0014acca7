//! Progress lines: a stdout line `::progress N` or `::progress DONE/TOTAL` is a `progress` event and the job's
//! `progress`, not an output line; a malformed one stays output.

use serde_json::Value;

use crate::helpers::{Gate, SseEvent, assert_consecutive_ids, data_of, kinds, spawn_app, spawn_app_with, str_of};

/// A progress value as numbers: (percent, done, total); `done`/`total` are `None` when absent.
fn progress_numbers(value: &Value) -> (f64, Option<u64>, Option<u64>) {
    let percent = value["percent"].as_f64().unwrap_or_else(|| panic!("no numeric percent in {value}"));
    (percent, value.get("done").and_then(Value::as_u64), value.get("total").and_then(Value::as_u64))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_lines_become_progress_not_output() {
    let app = spawn_app().await;
    let finished = app.run("printf '::progress 3/10\\n::progress 50\\nhello\\n'").await;
    let (events, job) = (&finished.events, &finished.job);

    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(finished.stdout(), ["hello"], "progress lines are not output lines");
    let stored = app.all_output(&finished.job_id, "both", 1000).await;
    let stored_lines: Vec<&str> = stored.iter().map(|i| str_of(i, "line")).collect();
    assert_eq!(stored_lines, ["hello"], "GET output has only the ordinary line");

    let final_progress = &job["progress"];
    assert_eq!(progress_numbers(final_progress), (50.0, None, None), "the job's progress is the last one: {job}");
    assert_eq!(final_progress.as_object().map(|o| o.len()), Some(1), "only percent: {final_progress}");
    assert_eq!(app.get_job_ok(&finished.job_id).await["progress"], *final_progress);

    let progress = data_of(events, "progress");
    let last = progress.last().unwrap_or_else(|| panic!("no progress event: {events:#?}"));
    assert_eq!(progress_numbers(last), (50.0, None, None), "{progress:?}");
    assert_consecutive_ids(events, 1);
    let replay = app.stream(&finished.job_id, None).await.read_to_end().await;
    assert_eq!(&replay, events, "progress events replay like any other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_lines_printed_together_fold_into_the_newest_in_order() {
    let app = spawn_app().await;
    // Printed at once. Progress written in the same batch is folded into the newest (documented), so the stream
    // shows some of these values, always in the printed order, and always the last one; never as output.
    let finished =
        app.run("printf '::progress 3/10\\n::progress 50\\n::progress 60\\n::progress 7/10\\nhello\\n'").await;
    let events = &finished.events;
    let printed = [(30.0, Some(3), Some(10)), (50.0, None, None), (60.0, None, None), (70.0, Some(7), Some(10))];
    let progress: Vec<_> = data_of(events, "progress").iter().map(progress_numbers).collect();
    assert!(!progress.is_empty(), "{events:#?}");
    assert_eq!(progress.last(), printed.last(), "the newest progress is always shown: {events:#?}");
    let mut rest = printed.iter();
    assert!(
        progress.iter().all(|p| rest.any(|q| q == p)),
        "each progress event is a printed value, in the printed order: {progress:?}"
    );
    let output: Vec<&str> = kinds(events).into_iter().filter(|k| *k != "message").collect();
    assert_eq!(output.last(), Some(&"stdout"), "hello comes after the progress: {events:#?}");
    assert_eq!(finished.stdout(), ["hello"], "progress lines are not output");
    assert_eq!(progress_numbers(&finished.job["progress"]), (70.0, Some(7), Some(10)), "{}", finished.job);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_shows_its_latest_progress() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let gate = Gate::new(app.dir.path());
    let task = app.gated_task(&gate, "echo \"::progress 25\"", "echo \"::progress 3/4\"").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    let seen = stream.until("a progress event", |e| e.event == "progress").await;
    assert_eq!(progress_numbers(&data_of(&seen, "progress")[0]), (25.0, None, None));
    let running = app.get_job_ok(&job_id).await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(progress_numbers(&running["progress"]), (25.0, None, None), "GET shows it while running: {running}");

    gate.open();
    let rest = stream.until_done().await;
    let progress = data_of(&rest, "progress");
    assert_eq!(progress.len(), 1, "{rest:#?}");
    assert_eq!(progress_numbers(&progress[0]), (75.0, Some(3), Some(4)));
    let job = rest.last().and_then(SseEvent::job).expect("terminal record");
    assert_eq!(progress_numbers(&job["progress"]), (75.0, Some(3), Some(4)), "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_progress_lines_stay_output() {
    let app = spawn_app().await;
    let lines =
        ["::progress abc", "::progress 101", "::progress 4/3", "::progress", "say ::progress 5", "::progress -1"];
    let quoted: Vec<String> = lines.iter().map(|l| format!("'{l}'")).collect();
    let finished = app.run(&format!("printf '%s\\n' {}", quoted.join(" "))).await;
    assert_eq!(finished.stdout(), lines, "malformed progress lines are ordinary output");
    assert!(data_of(&finished.events, "progress").is_empty(), "{:#?}", finished.events);
    assert!(finished.job["progress"].is_null(), "{}", finished.job);
    let stored = app.all_output(&finished.job_id, "stdout", 1000).await;
    assert_eq!(stored.len(), lines.len(), "all stored: {stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_on_stderr_is_output() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let finished = app.run("sh -c 'echo \"::progress 40\" >&2'").await;
    assert_eq!(crate::helpers::lines_of(&finished.events, "stderr"), ["::progress 40"], "only stdout has progress");
    assert!(finished.job["progress"].is_null(), "{}", finished.job);
}
