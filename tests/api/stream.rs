//! The SSE stream: order, ids, live delivery, resumption with `Last-Event-ID`, keep-alives and the end of stream.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;

use crate::helpers::{
    Gate, Reply, SseEvent, assert_consecutive_ids, follow_like_eventsource, fresh_ulid, lines_of, spawn_app,
    spawn_app_with, statuses, str_of,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_delivers_every_event_in_order_and_ends() {
    // With one runner slot held by a blocker, the job is still pending when the client subscribes, so everything
    // after its first record is delivered live.
    let app = spawn_app_with(|s| s.max_concurrency = 1).await;
    let blocker_task = app.task("sleep 30").await;
    let blocker = app.execute_ok(str_of(&blocker_task, "id"), None).await;
    app.stream(&blocker, None).await.until_status("running").await;

    let task = app.task("printf '%s\\n' one two three").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    let first = stream.next_event().await.expect("a first event");
    assert_eq!(first.status().as_deref(), Some("pending"), "first event: {first:?}");

    app.cancel(&blocker).await.expect(202, "release the runner slot");
    let mut events = vec![first];
    events.extend(stream.until_done().await);
    stream.assert_ends().await;

    assert_consecutive_ids(&events, 1);
    assert_eq!(statuses(&events), ["pending", "running", "completed"]);
    assert_eq!(lines_of(&events, "stdout"), ["one", "two", "three"]);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["message", "message", "stdout", "stdout", "stdout", "message"], "records and lines in order");
    let last = events.last().and_then(SseEvent::job).expect("terminal record");
    assert_eq!(last["id"], job_id.as_str());
    assert_eq!(last["stdout_lines"], 3);

    let replay = app.stream(&job_id, None).await.read_to_end().await;
    assert_eq!(replay, events, "a replay after the end equals what was seen live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_a_finished_job_exactly() {
    let app = spawn_app().await;
    let finished = app.run("printf '%s\\n' a b c d").await;
    let mut full = app.stream(&finished.job_id, None).await;
    let all = full.until_done().await;
    full.assert_ends().await;
    assert_consecutive_ids(&all, 1);
    assert_eq!(all, finished.events, "two full replays agree");

    for n in 0..all.len() as u64 {
        let resumed = app.stream(&finished.job_id, Some(n)).await.read_to_end().await;
        assert_eq!(resumed, all[n as usize..], "Last-Event-ID: {n} must give exactly the events with seq > {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_at_or_after_the_terminal_record_is_204() {
    let app = spawn_app().await;
    let finished = app.run("echo done").await;
    let last = finished.events.last().expect("events").id;

    // The client already holds the terminal record: there is nothing left to send, ever, and 204 is how the HTML
    // spec tells an EventSource to stop reconnecting.
    for resume in [last, last + 1, 1_000_000] {
        let request = app
            .request(Method::GET, &format!("/api/v1/jobs/{}/$stream", finished.job_id))
            .header("Last-Event-ID", resume.to_string());
        let reply = Reply::send(request).await;
        assert_eq!(reply.status, 204, "Last-Event-ID: {resume} of a job whose last event is {last}: {}", reply.text);
        assert_eq!(reply.text, "", "a 204 has no body");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_following_client_of_a_finished_job_gets_one_replay_then_204_and_stops() {
    let app = spawn_app().await;
    let finished = app.run("printf '%s\\n' a b").await;

    let run = follow_like_eventsource(&app, &finished.job_id, 5).await;
    assert_eq!(run.statuses, [200, 204], "one replay, then 204 on the resume, then no further request");
    assert_eq!(run.events, finished.events, "the replay holds every event once");
    assert_eq!(run.retry_ms, Some(2000), "the stream tells the client how long to wait before reconnecting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_starts_with_a_retry_field() {
    let app = spawn_app().await;
    let task = app.task("sleep 30").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    app.stream(&job_id, None).await.until_status("running").await;

    let response =
        app.request(Method::GET, &format!("/api/v1/jobs/{job_id}/$stream")).send().await.expect("open the stream");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut raw = Vec::new();
    while raw.len() < "retry: 2000\n\n".len() {
        let chunk = within("the first bytes of a running job's stream", body.next()).await;
        raw.extend_from_slice(&chunk.expect("the stream goes on").expect("read the stream"));
    }
    app.cancel(&job_id).await.expect(202, "stop the sleeper");
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("retry: 2000\n\n"), "a running job's stream starts with `retry: 2000`: {raw:?}");
}

/// Awaits `future` for at most 5 s. The gated job prints its first lines at once and then idles, so anything awaited
/// here was printed long before the deadline.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .unwrap_or_else(|_| panic!("waited 5 s for {what}, in vain (the job had printed it and was idle)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_a_running_job_without_gap_or_duplicate() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    // The job prints two lines, then waits for the test to open the gate, then prints two more.
    let gate = Gate::new(app.dir.path());
    let task = app.gated_task(&gate, "echo first; echo second", "echo third; echo fourth").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;

    let mut first = app.stream(&job_id, None).await;
    let seen = within(
        "a subscriber of the running job to get its printed lines",
        first.until("the line `second`", |e| e.event == "stdout" && e.data == "second"),
    )
    .await;
    drop(first);
    let at_second = seen.last().expect("an event").id;
    let at_first = at_second - 1;
    assert_eq!(seen[at_first as usize - 1].data, "first");

    // One client resumes with a stored event still to catch up on, one with nothing stored after its id.
    let mut behind = app.stream(&job_id, Some(at_first)).await;
    let mut current = app.stream(&job_id, Some(at_second)).await;
    let mut fresh = app.stream(&job_id, None).await;
    let caught_up = within(
        &format!("Last-Event-ID: {at_first} on a running job to deliver the stored event {at_second}"),
        behind.next_event(),
    )
    .await
    .expect("the stream goes on");
    assert_eq!(
        (caught_up.id, caught_up.event.as_str(), caught_up.data.as_str()),
        (at_second, "stdout", "second"),
        "the event right after Last-Event-ID: {at_first}"
    );

    let fresh_start = within(
        "a new subscriber of the running job to get the stored line `second`",
        fresh.until("the line `second`", |e| e.event == "stdout" && e.data == "second"),
    )
    .await;

    gate.open();
    let mut from_first = vec![caught_up];
    from_first.extend(behind.until_done().await);
    behind.assert_ends().await;
    let from_second = current.until_done().await;
    current.assert_ends().await;
    let mut from_start = fresh_start;
    from_start.extend(fresh.until_done().await);
    fresh.assert_ends().await;

    let all = app.stream(&job_id, None).await.read_to_end().await;
    assert_consecutive_ids(&all, 1);
    assert_eq!(lines_of(&all, "stdout"), ["first", "second", "third", "fourth"], "full stream: {all:#?}");
    assert_eq!(all.last().and_then(SseEvent::status).as_deref(), Some("completed"));
    assert_eq!(from_first, all[at_first as usize..], "resumed at {at_first} = full stream after it");
    assert_eq!(from_second, all[at_second as usize..], "resumed at {at_second} = full stream after it");
    assert_eq!(from_start, all, "a subscriber that joined mid-job saw the full stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_carries_an_id_line() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let finished = app.run("sh -c 'echo out; echo err >&2'").await;

    let raw = app
        .request(Method::GET, &format!("/api/v1/jobs/{}/$stream", finished.job_id))
        .send()
        .await
        .expect("open the stream")
        .text()
        .await
        .expect("a finished job's stream ends");
    let blocks: Vec<&str> =
        raw.split("\n\n").map(str::trim).filter(|b| b.lines().any(|l| l.starts_with("data:"))).collect();
    assert_eq!(blocks.len(), finished.events.len(), "raw stream: {raw}");
    for (n, block) in blocks.iter().enumerate() {
        let id_line = format!("id: {}", n + 1);
        let id_line_compact = format!("id:{}", n + 1);
        assert!(
            block.lines().any(|l| l == id_line || l == id_line_compact),
            "event {} lacks `{id_line}`: {block:?}",
            n + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_sends_keep_alive_comments() {
    let app = spawn_app_with(|s| s.sse_keepalive_seconds = 1).await;
    let task = app.task("sleep 30").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    app.stream(&job_id, None).await.until_status("running").await;

    let response =
        app.request(Method::GET, &format!("/api/v1/jobs/{job_id}/$stream")).send().await.expect("open the stream");
    let mut body = response.bytes_stream();
    let mut raw = String::new();
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            raw.push_str(&String::from_utf8_lossy(&chunk.expect("read the stream")));
            if raw.lines().any(|l| l.starts_with(':')) {
                return true;
            }
        }
        false
    })
    .await;
    app.cancel(&job_id).await.expect(202, "stop the sleeper");
    assert_eq!(found, Ok(true), "no `:` comment line within 5 s with a 1 s keep-alive; got {raw:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_of_an_unknown_job_is_404() {
    let app = spawn_app().await;
    let reply =
        crate::helpers::Reply::send(app.request(Method::GET, &format!("/api/v1/jobs/{}/$stream", fresh_ulid()))).await;
    reply.expect_problem(404, "job_not_found", "stream of an unknown job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_last_event_id_is_an_invalid_header() {
    let app = spawn_app().await;
    let finished = app.run("echo x").await;
    for bad in ["abc", "-1", "99999999999999999999"] {
        let request = app
            .request(reqwest::Method::GET, &format!("/api/v1/jobs/{}/$stream", finished.job_id))
            .header("Last-Event-ID", bad);
        Reply::send(request).await.expect_problem(400, "invalid_header", &format!("Last-Event-ID: {bad}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_connecting_to_a_running_job_at_once_gets_every_event_once() {
    // One database connection for readers: the crowd must not need one each.
    let app = spawn_app_with(|s| {
        s.allow.push("sh".into());
        s.database_max_connections = Some(1);
    })
    .await;
    let gate = Gate::new(app.dir.path());
    let task = app.gated_task(&gate, "echo first; echo second", "echo third").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut watcher = app.stream(&job_id, None).await;
    let seen = within(
        "the job to print its first lines",
        watcher.until("the line `second`", |e| e.event == "stdout" && e.data == "second"),
    )
    .await;
    let at_second = seen.last().expect("an event").id;

    // Half the crowd from the start, half resuming after `first`, all at once.
    let crowd = futures_util::future::join_all((0..200u64).map(|i| {
        let app = &app;
        let job_id = &job_id;
        async move {
            let after = (i % 2 == 1).then_some(at_second - 1);
            let mut stream = app.stream(job_id, after).await;
            let caught_up = stream.until("the line `second`", |e| e.event == "stdout" && e.data == "second").await;
            (after, stream, caught_up)
        }
    }));
    let crowd = within("200 followers to catch up with the running job", crowd).await;
    gate.open();
    let mut all = seen;
    all.extend(watcher.until_done().await);
    assert_consecutive_ids(&all, 1);
    for (after, mut stream, mut events) in crowd {
        events.extend(stream.until_done().await);
        stream.assert_ends().await;
        let from = after.unwrap_or(0) as usize;
        assert_eq!(events, all[from..], "a follower after {after:?} got exactly the events after it");
    }
}
