//! Stored output: the `/output` endpoint's paging and filters, and the per-stream bound.

use serde_json::{Value, json};

use crate::helpers::{fresh_ulid, lines_of, spawn_app, spawn_app_with, str_of, utc_time};

fn lines(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| str_of(i, "line").to_string()).collect()
}

fn seqs(items: &[Value]) -> Vec<u64> {
    items.iter().map(|i| i["seq"].as_u64().expect("seq is a number")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_pages_follow_after_seq_and_limit() {
    let app = spawn_app().await;
    let finished = app.run("printf '%s\\n' l1 l2 l3 l4 l5 '' l7").await;
    let expected = ["l1", "l2", "l3", "l4", "l5", "", "l7"];
    assert_eq!(finished.stdout(), expected, "SSE lines");

    let all = app.output(&finished.job_id, "").await.expect(200, "output with defaults");
    let items = all["items"].as_array().expect("items").clone();
    assert_eq!(lines(&items), expected, "stored lines, in order, empty line kept");
    assert_eq!(all["has_more"], false);
    assert_eq!(all["next_after_seq"], items.last().expect("items")["seq"]);
    for item in &items {
        assert_eq!(item["stream"], "stdout", "{item}");
        utc_time(&item["at"], "at");
    }
    // Output lines share the job's event sequence: their seqs are those of the SSE stdout events.
    let sse_seqs: Vec<u64> = finished.events.iter().filter(|e| e.event == "stdout").map(|e| e.id).collect();
    assert_eq!(seqs(&items), sse_seqs, "output seqs equal SSE ids");

    let first = app.output(&finished.job_id, "?limit=3").await.expect(200, "limit=3");
    let first_items = first["items"].as_array().expect("items").clone();
    assert_eq!(lines(&first_items), ["l1", "l2", "l3"]);
    assert_eq!(first["has_more"], true, "limit=3 of 7");
    assert_eq!(first["next_after_seq"], first_items[2]["seq"]);

    let after = first["next_after_seq"].as_u64().expect("next_after_seq");
    let second = app.output(&finished.job_id, &format!("?after_seq={after}&limit=3")).await.expect(200, "second page");
    assert_eq!(lines(second["items"].as_array().expect("items")), ["l4", "l5", ""]);

    let paged = app.all_output(&finished.job_id, "both", 2).await;
    assert_eq!(paged, items, "paging by 2 yields the same items");

    let last = seqs(&items).last().copied().expect("a last seq");
    let past = app.output(&finished.job_id, &format!("?after_seq={last}")).await.expect(200, "after the last line");
    assert_eq!(past["items"], json!([]));
    assert_eq!(past["next_after_seq"], last, "an empty page echoes after_seq");
    assert_eq!(past["has_more"], false);

    app.output(&fresh_ulid(), "").await.expect_problem(404, "job_not_found", "output of an unknown job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_filters_by_stream() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let finished = app.run("sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2'").await;
    let job = &finished.job;
    assert_eq!((job["stdout_lines"].clone(), job["stderr_lines"].clone()), (json!(2), json!(2)));
    assert_eq!(job["stdout_bytes"], 10);
    assert_eq!(job["stderr_bytes"], 10);
    assert_eq!(finished.stdout(), ["out1", "out2"]);
    assert_eq!(lines_of(&finished.events, "stderr"), ["err1", "err2"]);

    let stdout = app.all_output(&finished.job_id, "stdout", 1000).await;
    assert_eq!(lines(&stdout), ["out1", "out2"]);
    assert!(stdout.iter().all(|i| i["stream"] == "stdout"));

    let stderr = app.all_output(&finished.job_id, "stderr", 1000).await;
    assert_eq!(lines(&stderr), ["err1", "err2"]);
    assert!(stderr.iter().all(|i| i["stream"] == "stderr"));

    let both = app.all_output(&finished.job_id, "both", 1000).await;
    assert_eq!(both.len(), 4);
    let both_seqs = seqs(&both);
    assert!(both_seqs.windows(2).all(|w| w[0] < w[1]), "both is ordered by seq: {both_seqs:?}");
    let mut merged = [seqs(&stdout), seqs(&stderr)].concat();
    merged.sort_unstable();
    assert_eq!(both_seqs, merged, "both = stdout + stderr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_beyond_the_bound_keeps_head_and_tail_and_counts_the_middle() {
    // The smallest bound the settings accept: half of it is the head, half the tail.
    const BOUND: u64 = 1024;
    const LINES: u64 = 300;
    let app = spawn_app_with(|s| s.output_max_bytes = BOUND).await;
    let numbers: Vec<String> = (1..=LINES).map(|n| n.to_string()).collect();
    // 300 lines of 9 bytes each ("line-001\n"): 2700 bytes, far over the bound.
    let finished = app.run(&format!("printf 'line-%03d\\n' {}", numbers.join(" "))).await;
    let job = &finished.job;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["stdout_lines"], LINES, "every printed line is counted");
    assert_eq!(job["stdout_bytes"], LINES * 9, "every printed byte is counted");

    let stored = app.all_output(&finished.job_id, "stdout", 1000).await;
    let stored_lines = lines(&stored);
    let numbers_kept: Vec<u64> =
        stored_lines.iter().map(|l| l.trim_start_matches("line-").parse().expect("a numbered line")).collect();
    let head = numbers_kept.iter().zip(1..).take_while(|(n, i)| **n == *i).count();
    assert!(head > 0, "the first lines are kept: {numbers_kept:?}");
    let tail = &numbers_kept[head..];
    assert!(!tail.is_empty(), "the last lines are kept too: {numbers_kept:?}");
    let tail_start = LINES + 1 - tail.len() as u64;
    assert_eq!(tail, (tail_start..=LINES).collect::<Vec<_>>(), "the tail is the newest lines, in order");
    assert!(tail_start > head as u64 + 1, "something in the middle was dropped");
    let stored_bytes: u64 = stored_lines.iter().map(|l| l.len() as u64 + 1).sum();
    assert!(stored_bytes <= BOUND, "stored {stored_bytes} bytes with a bound of {BOUND}");

    let dropped_lines = job["dropped_lines"].as_u64().expect("dropped_lines");
    let dropped_bytes = job["dropped_bytes"].as_u64().expect("dropped_bytes");
    assert_eq!(dropped_lines, tail_start - 1 - head as u64, "the dropped lines are exactly the middle: {job}");
    assert_eq!(stored_lines.len() as u64 + dropped_lines, LINES, "stored + dropped lines");
    assert_eq!(stored_bytes + dropped_bytes, LINES * 9, "stored + dropped bytes");
    assert_eq!(finished.stdout(), stored_lines, "SSE carries the stored lines only");

    let truncated: Vec<Value> = finished
        .events
        .iter()
        .filter(|e| e.event == "truncated")
        .map(|e| serde_json::from_str(&e.data).expect("truncated data is JSON"))
        .filter(|t: &Value| t["stream"] == "stdout")
        .map(|t| {
            json!({
                "stream": t["stream"],
                "dropped_lines": t["dropped_lines"],
                "dropped_bytes": t["dropped_bytes"],
                "tail_lines": t["tail_lines"],
            })
        })
        .collect();
    assert_eq!(
        truncated,
        [json!({ "stream": "stdout", "dropped_lines": dropped_lines, "dropped_bytes": dropped_bytes,
                 "tail_lines": tail.len() })],
        "one truncated event for stdout"
    );
    // On the stream: the head, then the truncated event, then the tail.
    let kinds: Vec<&str> =
        finished.events.iter().map(|e| e.event.as_str()).filter(|k| matches!(*k, "stdout" | "truncated")).collect();
    let marker = kinds.iter().position(|k| *k == "truncated").expect("a truncated event");
    assert_eq!(marker, head, "the truncated event follows the head: {kinds:?}");
    assert_eq!(kinds.len() - marker - 1, tail.len(), "and the tail follows it");
    assert!(finished.events.last().is_some_and(|e| e.is_terminal()));
}
