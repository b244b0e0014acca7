//! Crash recovery with the real binary: SIGKILL the server mid-job, start it again on the same database, and the job
//! is `failed`/`lost`, its task is a `lost` orphan, and its process did not outlive the crash.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{
    SseEvent, TestApp, assert_consecutive_ids, kill_pids, pids_with_cmdline, str_of, wait_for_processes,
};

/// A distinctive duration, so that no other test's `sleep` is mistaken for this one's.
const SLEEPER: [&str; 2] = ["sleep", "31.7"];

/// Kills any `sleep 31.7` left behind, also when an assertion fails first.
struct SleeperGuard;

impl Drop for SleeperGuard {
    fn drop(&mut self) {
        kill_pids(&pids_with_cmdline(&SLEEPER));
    }
}

struct Server {
    child: Child,
    address: String,
}

/// Drops ANSI escape sequences, in case the log is coloured after all.
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `127.0.0.1:PORT` from a line containing `listening on http://127.0.0.1:PORT`.
fn listening_address(line: &str) -> Option<String> {
    let line = strip_ansi(line);
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let address: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
    address.contains(':').then_some(address)
}

async fn start_server(database_url: &str) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskyard"));
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", database_url])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("TASKYARD_") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().expect("start the taskyard binary");
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();

    let mut log = Vec::new();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(address) = listening_address(&line) {
                return Some(address);
            }
            log.push(line);
        }
        None
    })
    .await;
    let Ok(Some(address)) = address else {
        panic!("taskyard never logged `listening on http://...`; its stderr:\n{}", log.join("\n"));
    };
    // Keep draining stderr so that the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, address }
}

#[test]
fn the_listening_line_is_parsed() {
    assert_eq!(
        listening_address("2026-01-01T00:00:00Z  INFO taskyard: listening on http://127.0.0.1:41234 (docs at /docs/)"),
        Some("127.0.0.1:41234".to_string())
    );
    assert_eq!(
        listening_address("\u{1b}[32mINFO\u{1b}[0m listening on http://127.0.0.1:5"),
        Some("127.0.0.1:5".to_string())
    );
    assert_eq!(listening_address("starting up"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_when_the_server_is_killed_is_lost_after_restart() {
    let _guard = SleeperGuard;
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let database_url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());

    let mut first = start_server(&database_url).await;
    let app = TestApp::external(&first.address, dir.clone());
    let task = app.task(&SLEEPER.join(" ")).await;
    let task_id = str_of(&task, "id").to_string();
    let job_id = app.execute_ok(&task_id, None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;

    let sleepers = wait_for_processes(&SLEEPER, Duration::from_secs(5), |pids| !pids.is_empty()).await;
    assert!(!sleepers.is_empty(), "the job is running but no `sleep 31.7` process exists");

    first.child.kill().await.expect("SIGKILL the server");
    drop(stream);

    let mut second = start_server(&database_url).await;
    let app = TestApp::external(&second.address, dir.clone());

    let job = app.get_job_ok(&job_id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["outcome"], "lost", "{job}");
    assert!(
        job["error"].as_str().is_some_and(|e| e.starts_with("runner lost")),
        "error should start with `runner lost`: {job}"
    );
    assert!(job["finished_at"].is_string(), "a lost job is finished: {job}");

    let events = app.stream(&job_id, None).await.read_to_end().await;
    assert_consecutive_ids(&events, 1);
    let last = events.last().and_then(SseEvent::job).expect("a terminal record");
    assert_eq!(last["outcome"], "lost", "the stream ends with the lost record: {events:#?}");

    let orphans = app.orphaned("?reason=lost").await.expect(200, "$orphaned?reason=lost");
    let listed: Vec<&serde_json::Value> = orphans["orphaned_tasks"]
        .as_array()
        .expect("orphaned_tasks")
        .iter()
        .filter(|entry| entry["id"] == task_id.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "the task is a lost orphan: {orphans}");
    assert_eq!(listed[0]["reason"], "lost");

    let survivors = wait_for_processes(&SLEEPER, Duration::from_secs(5), |pids| pids.is_empty()).await;
    kill_pids(&survivors);
    assert!(survivors.is_empty(), "the job's `sleep 31.7` outlived the server that ran it: pids {survivors:?}");

    let after = app.run("echo after restart").await;
    assert_eq!(after.stdout(), ["after restart"], "the restarted server runs jobs");

    second.child.kill().await.expect("stop the second server");
}
