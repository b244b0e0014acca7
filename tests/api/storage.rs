//! Storage faults on SQLite, made real: the database on a small tmpfs that fills up (`SQLITE_FULL` from the
//! kernel's ENOSPC) and is freed again, free disk space below `min_free_bytes`, and a database file that becomes
//! read-only under the running server. In each: every id answered with 2xx exists afterwards with a consistent
//! state, no job process ran without its row, `/health` reported the fault while it lasted, and everything resumed
//! by itself. (The store's own test reproduces `SQLITE_FULL` without root, with `PRAGMA max_page_count`.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Gate, Immutable, Ledger, Tmpfs, data_of, db_path, health_becomes, immutable, immutable_unsupported, lines_of,
    marker_task, markers, poll_until, root_only, spawn_app_in, spawn_app_with, sqlite_only, str_of,
};

const BIG: &str = "sh -c 'yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop | head -c 3000000'";

/// Every marker file names a job the server has a row of: no job process ran without its committed row.
async fn every_marker_has_its_row(app: &crate::helpers::TestApp, dir: &std::path::Path) -> usize {
    let seen = markers(dir);
    for job in &seen {
        app.get_job(job).await.expect(200, &format!("job {job} ran (its marker exists), so its row exists"));
    }
    seen.len()
}

/// After a fault: writes work again, and a task created is found by the `$execute` sent right after it.
async fn everything_resumed(app: &crate::helpers::TestApp) {
    let task = app.create_task_ok(json!({ "command": "echo resumed" })).await;
    let job = app.execute_ok(str_of(&task, "id"), None).await;
    let done = app.wait_job(&job).await;
    assert_eq!(done["status"], "completed", "{done}");
    app.get_job_ok(&job).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_loses_nothing_and_resumes_when_freed() {
    if sqlite_only("the database file lives on a tmpfs") || root_only("mounts a tmpfs to fill it") {
        return;
    }
    let fs = Tmpfs::mount(16);
    let marks = tempfile::tempdir().expect("a marker dir");
    let app = spawn_app_in(fs.dir.clone(), |s| {
        s.allow.push("sh".into());
        s.output_max_bytes = 256 << 10;
        s.lease_seconds = 3;
    })
    .await;
    let marker = app.create_task_ok(marker_task(marks.path())).await;
    let big = app.create_task_ok(json!({ "command": BIG })).await;
    let (marker, big) = (str_of(&marker, "id").to_string(), str_of(&big, "id").to_string());
    let mut ledger = Ledger::default();

    // Full: writes are refused with 507, and /health says so.
    let filler = fs.fill("filler", 0);
    for round in 0..3 {
        let body = json!({ "command": format!("echo round {round} {}", "x".repeat(4000)) });
        ledger.note(&app.create_task(&body).await, "create a task on a full disk");
        ledger.note(&app.execute(&marker, None).await, "execute on a full disk");
    }
    assert!(ledger.refused_with("storage_full") > 0, "a full disk refuses writes with 507: {:?}", ledger.refused);
    let health = health_becomes(&app, "degraded", Some("storage_full"), Duration::from_secs(10)).await;
    assert_eq!(health["database"], "ok", "reads still work: {health}");

    // Some room, then big jobs fill it while they run, and more work arrives meanwhile.
    std::fs::remove_file(&filler).expect("free the disk");
    let filler = fs.fill("filler", 512 << 10);
    for _ in 0..3 {
        ledger.note(&app.execute(&big, None).await, "execute the big task while the disk fills");
        for _ in 0..2 {
            ledger.note(&app.execute(&marker, None).await, "execute while the disk fills");
        }
    }
    poll_until("a write to be refused as the disk fills", Duration::from_secs(20), async || {
        let body = json!({ "command": format!("echo filling {}", "x".repeat(4000)) });
        let reply = app.create_task(&body).await;
        let refused = !reply.status.is_success();
        ledger.note(&reply, "create a task while the disk fills");
        if refused { Ok(()) } else { Err("still room".to_string()) }
    })
    .await;

    // Room again: everything acknowledged is stored and ends, by itself.
    std::fs::remove_file(&filler).expect("free the disk");
    ledger.all_stored(&app, Duration::from_secs(60)).await;
    let ran = every_marker_has_its_row(&app, marks.path()).await;
    assert!(ran <= ledger.jobs.len(), "no more marker jobs ran ({ran}) than were answered 202");
    health_becomes(&app, "ok", None, Duration::from_secs(10)).await;
    everything_resumed(&app).await;
    eprintln!(
        "full disk: {} tasks and {} jobs acknowledged, {} refused (507: {}, 503: {}), {ran} marker jobs ran",
        ledger.tasks.len(),
        ledger.jobs.len(),
        ledger.refused.len(),
        ledger.refused_with("storage_full"),
        ledger.refused_with("storage_unavailable"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_min_free_bytes_new_work_is_refused_and_output_is_cut_for_storage() {
    if sqlite_only("the database file lives on a tmpfs") || root_only("mounts a tmpfs to crowd it") {
        return;
    }
    let fs = Tmpfs::mount(16);
    let app = spawn_app_in(fs.dir.clone(), |s| {
        s.allow.push("sh".into());
        s.min_free_bytes = 8 << 20;
    })
    .await;
    let gate = Gate::new(fs.path());
    let count = |what: &str| format!("i=0; while [ $i -lt 20 ]; do echo {what}-$i; i=$((i+1)); done");
    let task = app.gated_task(&gate, &count("before"), &count("after")).await;
    let job = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job, None).await;
    let mut events =
        stream.until("the last line before the gate", |e| e.event == "stdout" && e.data == "before-19").await;

    // Below the minimum: new work is refused with 507 (naming the setting), /health says low_disk.
    let filler = fs.fill("filler", 4 << 20);
    health_becomes(&app, "degraded", Some("low_disk"), Duration::from_secs(5)).await;
    let mut ledger = Ledger::default();
    let refused = app.execute(str_of(&task, "id"), None).await;
    ledger.note(&refused, "execute below min_free_bytes");
    let body = refused.expect_problem(507, "storage_full", "execute below min_free_bytes");
    assert!(str_of(&body, "detail").contains("min_free_bytes"), "{body}");
    let created = app.create_task(&json!({ "command": "echo no" })).await;
    created.expect_problem(507, "storage_full", "create a task below min_free_bytes");

    // The running job runs on, but stores no more output: its truncated event says why.
    gate.open();
    events.extend(stream.until_done().await);
    let last = events.last().and_then(|e| e.job()).expect("final record");
    assert_eq!(last["status"], "completed", "{last}");
    let stdout = lines_of(&events, "stdout");
    assert!(stdout.contains(&"before-19".to_string()), "what was stored stays: {stdout:?}");
    assert!(!stdout.iter().any(|l| l.starts_with("after-")), "nothing more is stored: {stdout:?}");
    let cuts: Vec<Value> = data_of(&events, "truncated");
    assert_eq!(cuts.len(), 1, "one truncated event: {cuts:?}");
    assert_eq!(cuts[0]["reason"], "storage", "{cuts:?}");
    assert_eq!(cuts[0]["stream"], "stdout", "{cuts:?}");
    assert_eq!(cuts[0]["dropped_lines"], 20, "{cuts:?}");
    assert_eq!(last["dropped_lines"], 20, "{last}");

    // Room again: it resumes by itself.
    std::fs::remove_file(&filler).expect("free the disk");
    health_becomes(&app, "ok", None, Duration::from_secs(5)).await;
    everything_resumed(&app).await;
    let again = app.run("echo after-room").await;
    assert_eq!(again.stdout(), vec!["after-room".to_string()], "output is stored again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_file_answers_503_keeps_decisions_and_recovers() {
    if sqlite_only("the fault is on the SQLite file") || root_only("sets the immutable flag (chattr +i)") {
        return;
    }
    let marks = tempfile::tempdir().expect("a marker dir");
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    if immutable_unsupported(app.dir.path()) {
        return;
    }
    let marker = app.create_task_ok(marker_task(marks.path())).await;
    let marker = str_of(&marker, "id").to_string();
    let gates = tempfile::tempdir().expect("a gate dir");
    let gate = Gate::new(gates.path());
    let gated = app.gated_task(&gate, "echo started", "touch \"$0.done\"").await;
    let running = app.execute_ok(str_of(&gated, "id"), None).await;
    let mut stream = app.stream(&running, None).await;
    stream.until("the job's first line", |e| e.event == "stdout" && e.data == "started").await;

    // The file and its write-ahead log become read-only under the running server (the kernel refuses writes even
    // through descriptors already open, as on a file system remounted read-only).
    let db = db_path(app.dir.path());
    let files = vec![db.clone(), db.with_extension("db-wal")];
    let _undo = Immutable(files.clone());
    immutable(&files, true);
    let mut ledger = Ledger::default();
    for round in 0..3 {
        ledger.note(&app.create_task(&json!({ "command": format!("echo ro {round}") })).await, "create, read-only");
        ledger.note(&app.execute(&marker, None).await, "execute, read-only");
    }
    assert!(ledger.refused_with("storage_unavailable") > 0, "read-only answers 503: {:?}", ledger.refused);
    health_becomes(&app, "degraded", Some("storage_unavailable"), Duration::from_secs(5)).await;

    // The running job ends while its end cannot be stored: the API does not report it finished.
    gate.open();
    let done = gates.path().join("gate.done");
    poll_until("the job's process to finish", Duration::from_secs(10), async || {
        if done.exists() { Ok(()) } else { Err("not yet".to_string()) }
    })
    .await;
    for _ in 0..10 {
        let record = app.get_job_ok(&running).await;
        assert_eq!(record["status"], "running", "not finished before its end is stored: {record}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Writable again: the decision made meanwhile is stored without a restart, and everything resumes.
    immutable(&files, false);
    let events = stream.until_done().await;
    let last = events.last().and_then(|e| e.job()).expect("final record");
    assert_eq!(last["status"], "completed", "the job's real end is stored: {last}");
    ledger.jobs.insert(running.clone());
    ledger.all_stored(&app, Duration::from_secs(30)).await;
    every_marker_has_its_row(&app, marks.path()).await;
    health_becomes(&app, "ok", None, Duration::from_secs(10)).await;
    everything_resumed(&app).await;
}
