//! Output lines are stored packed, a run of one stream's lines per row: the stored size stays near the bytes
//! printed, and reading from the middle of a run (paging by `after_seq`, `Last-Event-ID`) gives every line once,
//! in order, with its own seq, as the live stream did.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use crate::helpers::{SseEvent, TestApp, spawn_app_with, str_of};

/// The bytes of every stored event row of `job_id` (each column, plus its primary-key index entry of job id and
/// seq): what the database holds for the job's event log, counted in the tables rather than in the file.
async fn stored_event_bytes(app: &TestApp, job_id: &str) -> i64 {
    let db = sea_orm::Database::connect(app.db.url()).await.expect("open the database from the test");
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS total FROM (
           SELECT 2 * (octet_length(job_id) + 8) + octet_length(kind) + octet_length(data) + 8 AS n
             FROM job_events WHERE job_id = '{job_id}'
           UNION ALL
           SELECT 2 * (octet_length(job_id) + 8) + 8 + octet_length(stream) + octet_length(lines) + octet_length(times)
             FROM job_output WHERE job_id = '{job_id}'
         ) AS rows_of_job"
    );
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count the stored bytes")
        .expect("one row");
    let total: i64 = row.try_get("", "total").expect("a total");
    let _ = db.close().await;
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_output_is_stored_in_under_twice_its_bytes() {
    let app = spawn_app_with(|s| s.allow.push("seq".into())).await;
    let finished = app.run("seq 1 200000").await;
    let printed = finished.job["stdout_bytes"].as_i64().expect("stdout_bytes");
    assert_eq!(printed, 1_288_895, "{}", finished.job);
    assert_eq!(finished.job["dropped_lines"], 0, "all of it is stored");
    let stored = stored_event_bytes(&app, &finished.job_id).await;
    assert!(stored < 2 * printed, "{stored} bytes stored for {printed} printed");

    let first = app.output(&finished.job_id, "?limit=2").await.expect(200, "first page");
    let lines: Vec<&str> = first["items"].as_array().expect("items").iter().map(|i| str_of(i, "line")).collect();
    assert_eq!(lines, ["1", "2"]);
    let last_seq = finished.events.iter().rev().find(|e| e.event == "stdout").expect("a line").id;
    let end = app.output(&finished.job_id, &format!("?after_seq={}", last_seq - 1)).await.expect(200, "last line");
    assert_eq!(end["items"][0]["line"], "200000");
    assert_eq!(end["has_more"], false);
}

fn triples(events: &[SseEvent]) -> Vec<(u64, String, String)> {
    events.iter().map(|e| (e.id, e.event.clone(), e.data.clone())).collect()
}

/// `(seq, stream, line)` of output items.
fn items(items: &[Value]) -> Vec<(u64, String, String)> {
    items
        .iter()
        .map(|i| (i["seq"].as_u64().expect("seq"), str_of(i, "stream").into(), str_of(i, "line").into()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_resuming_from_inside_a_run_give_each_line_once_in_order() {
    let app = spawn_app_with(|s| s.allow.extend(["seq".into(), "sh".into()])).await;
    let command = "sh -c 'seq 1 3000; echo ::progress 50; seq 3001 5000; seq 1 700 >&2; echo; seq 5001 5100'";
    let finished = app.run(command).await;
    let live = triples(&finished.events);
    let lines: Vec<(u64, String, String)> =
        live.iter().filter(|(_, kind, _)| kind == "stdout" || kind == "stderr").cloned().collect();
    assert_eq!(lines.len(), 5100 + 700 + 1, "every line on the live stream");

    // A server that has nothing of the job in memory reads all of it from the store.
    let fresh = app.reopen_with(|s| s.allow.extend(["seq".into(), "sh".into()])).await;
    for after in [0, 1, 7, 1234, 2999, 3001, 3002, 4097, lines[5500].0, lines.last().expect("lines").0 - 1] {
        let mut paged = Vec::new();
        let mut cursor = after;
        loop {
            let query = format!("?after_seq={cursor}&limit=333");
            let page = fresh.output(&finished.job_id, &query).await.expect(200, &query);
            paged.extend(items(page["items"].as_array().expect("items")));
            cursor = page["next_after_seq"].as_u64().expect("next_after_seq");
            if page["has_more"] == false {
                break;
            }
        }
        let expected: Vec<_> = lines.iter().filter(|(seq, _, _)| *seq > after).cloned().collect();
        assert_eq!(paged, expected, "pages of 333 after seq {after}");

        let resumed = triples(&fresh.stream(&finished.job_id, Some(after)).await.until_done().await);
        let expected: Vec<_> = live.iter().filter(|(seq, _, _)| *seq > after).cloned().collect();
        assert_eq!(resumed, expected, "Last-Event-ID: {after}");
    }
    let stderr = fresh.all_output(&finished.job_id, "stderr", 101).await;
    assert_eq!(stderr.len(), 700, "one stream alone, across its runs");
    assert_eq!(str_of(&stderr[699], "line"), "700");
}

/// PostgreSQL's text cannot hold a NUL: a line with one used to fail every write of its job, which then stayed
/// `running`. Stored as bytes, it is kept and read back as printed, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_holding_a_nul_is_stored_and_read_back() {
    let app = spawn_app_with(|_| {}).await;
    let finished = app.run("printf 'a\\000b\\nc\\n'").await;
    assert_eq!(finished.job["status"], "completed", "{}", finished.job);
    assert_eq!(finished.stdout(), ["a\0b", "c"], "live");
    let stored = app.all_output(&finished.job_id, "stdout", 10).await;
    let lines: Vec<&str> = stored.iter().map(|i| str_of(i, "line")).collect();
    assert_eq!(lines, ["a\0b", "c"], "stored");
}
