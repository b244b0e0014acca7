//! Output past `output_max_bytes`: the head of each stream is stored as it comes, the newest lines (the tail) are
//! kept and stored at the end after a `truncated` event, and the lines in between are only counted.

use serde_json::{Value, json};

use crate::helpers::{SseEvent, assert_consecutive_ids, data_of, lines_of, spawn_app_with, str_of};

const LIMIT: u64 = 2048;
/// tail = min(limit / 2, 1 MiB); head = limit − tail.
const TAIL: u64 = LIMIT / 2;
const HEAD: u64 = LIMIT - TAIL;
const LINES: u64 = 10_000;

/// `line0` … `line9999`, and each line's bytes with its newline.
fn printed() -> Vec<String> {
    (0..LINES).map(|n| format!("line{n}")).collect()
}

fn bytes(lines: &[String]) -> u64 {
    lines.iter().map(|l| l.len() as u64 + 1).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_keeps_its_first_and_last_lines_and_counts_the_rest() {
    let app = spawn_app_with(|s| {
        s.allow.push("sh".into());
        s.output_max_bytes = LIMIT;
    })
    .await;
    let finished =
        app.run("sh -c 'i=0; while [ $i -lt 10000 ]; do echo line$i; i=$((i+1)); done; echo finished >&2'").await;
    let (events, job) = (&finished.events, &finished.job);
    let all = printed();
    let total_bytes = bytes(&all);

    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["stdout_lines"], LINES, "every line is counted: {job}");
    assert_eq!(job["stdout_bytes"], total_bytes, "every byte is counted: {job}");
    assert_eq!(lines_of(events, "stderr"), ["finished"], "the other stream has its own bound");
    assert_consecutive_ids(events, 1);

    // The stream: head lines, one truncated event, the tail lines, the final record.
    let truncated_at = events.iter().position(|e| e.event == "truncated").expect("a truncated event");
    let head = lines_of(&events[..truncated_at], "stdout");
    let tail = lines_of(&events[truncated_at..], "stdout");
    assert_eq!(head, all[..head.len()], "the head is the first lines, in order");
    assert_eq!(tail, all[all.len() - tail.len()..], "the tail is the last lines, in order, line9999 last");
    assert_eq!(tail.last().map(String::as_str), Some("line9999"));
    let (head_bytes, tail_bytes) = (bytes(&head), bytes(&tail));
    assert!(head_bytes <= HEAD && head_bytes > HEAD - 10, "head of {head_bytes} bytes for a {HEAD}-byte head");
    assert!(tail_bytes <= TAIL && tail_bytes > TAIL - 10, "tail of {tail_bytes} bytes for a {TAIL}-byte tail");
    assert!(events.last().is_some_and(SseEvent::is_terminal));

    let truncated = data_of(events, "truncated");
    assert_eq!(truncated.len(), 1, "one truncated event, for stdout only: {truncated:?}");
    let t = &truncated[0];
    let dropped_lines = LINES - head.len() as u64 - tail.len() as u64;
    assert_eq!(
        json!({
            "stream": t["stream"],
            "dropped_lines": t["dropped_lines"],
            "dropped_bytes": t["dropped_bytes"],
            "head_bytes": t["head_bytes"],
            "tail_lines": t["tail_lines"],
            "tail_bytes": t["tail_bytes"],
            "limit_bytes": t["limit_bytes"],
        }),
        json!({
            "stream": "stdout",
            "dropped_lines": dropped_lines,
            "dropped_bytes": total_bytes - head_bytes - tail_bytes,
            "head_bytes": head_bytes,
            "tail_lines": tail.len(),
            "tail_bytes": tail_bytes,
            "limit_bytes": LIMIT,
        }),
        "the counts add up to the 10000 lines printed"
    );
    assert_eq!(job["dropped_lines"], t["dropped_lines"], "{job}");
    assert_eq!(job["dropped_bytes"], t["dropped_bytes"], "{job}");

    // What is stored is what was streamed, with the same seqs.
    let stored = app.all_output(&finished.job_id, "stdout", 1000).await;
    let stored_lines: Vec<&str> = stored.iter().map(|i| str_of(i, "line")).collect();
    assert_eq!(stored_lines, [head.clone(), tail.clone()].concat(), "GET output = head + tail");
    let stored_seqs: Vec<u64> = stored.iter().map(|i| i["seq"].as_u64().expect("seq")).collect();
    let streamed_seqs: Vec<u64> = events.iter().filter(|e| e.event == "stdout").map(|e| e.id).collect();
    assert_eq!(stored_seqs, streamed_seqs, "output seqs are the SSE ids");
    assert!(stored_seqs.windows(2).all(|w| w[0] < w[1]), "strictly increasing seqs");

    let replay = app.stream(&finished.job_id, None).await.read_to_end().await;
    assert_eq!(&replay, events, "a replay equals the live stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_applies_per_attempt_and_the_totals_add_up() {
    const ROWS: u64 = 300;
    let app = spawn_app_with(|s| {
        s.allow.push("sh".into());
        s.output_max_bytes = 1024;
    })
    .await;
    let task = app
        .create_task_ok(json!({
            "command": "sh -c 'i=0; while [ $i -lt 300 ]; do echo row$i; i=$((i+1)); done; exit 3'",
            "retry": { "max_attempts": 2, "backoff": "fixed", "initial_delay_seconds": 0 },
        }))
        .await;
    let finished = app.run_task(&task, None).await;
    let (events, job) = (&finished.events, &finished.job);
    let rows: Vec<String> = (0..ROWS).map(|n| format!("row{n}")).collect();
    assert_eq!(job["attempt"], 2, "{job}");
    assert_eq!(job["stdout_lines"], 2 * ROWS, "totals add up over both attempts: {job}");
    assert_eq!(job["stdout_bytes"], 2 * bytes(&rows), "{job}");

    let retry_at = events.iter().position(|e| e.event == "retry").expect("a retry event");
    let mut dropped = (0, 0);
    for (n, attempt) in [&events[..retry_at], &events[retry_at..]].into_iter().enumerate() {
        let truncated = data_of(attempt, "truncated");
        assert_eq!(truncated.len(), 1, "attempt {}: one truncated event: {attempt:#?}", n + 1);
        let t: &Value = &truncated[0];
        let at = attempt.iter().position(|e| e.event == "truncated").expect("truncated");
        let head = lines_of(&attempt[..at], "stdout");
        let tail = lines_of(&attempt[at..], "stdout");
        assert_eq!(head, rows[..head.len()], "attempt {}: head starts at row0", n + 1);
        assert_eq!(tail, rows[rows.len() - tail.len()..], "attempt {}: tail ends at row299", n + 1);
        assert_eq!(t["tail_lines"], tail.len(), "attempt {}: {t}", n + 1);
        assert_eq!(
            head.len() as u64 + tail.len() as u64 + t["dropped_lines"].as_u64().expect("dropped_lines"),
            ROWS,
            "attempt {}: stored + dropped lines: {t}",
            n + 1
        );
        dropped.0 += t["dropped_lines"].as_u64().expect("dropped_lines");
        dropped.1 += t["dropped_bytes"].as_u64().expect("dropped_bytes");
    }
    assert_eq!((job["dropped_lines"].clone(), job["dropped_bytes"].clone()), (json!(dropped.0), json!(dropped.1)));
}
