//! PostgreSQL: the server's database connections are killed (`pg_terminate_backend`) again and again while
//! clients create tasks and execute jobs, so that group commits lose their connection mid-batch. Every id answered
//! with 2xx exists afterwards with a consistent state, every refusal is a named storage error, no job process ran
//! without its row, and everything resumes by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use tokio::sync::Mutex;

use crate::helpers::{Ledger, health_becomes, marker_task, markers, postgres_server, spawn_app_with, str_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_database_connections_lose_no_acknowledged_write() {
    if postgres_server().is_none() {
        eprintln!("skipped on SQLite (PostgreSQL only: kills the server's connections with pg_terminate_backend)");
        return;
    }
    let marks = tempfile::tempdir().expect("a marker dir");
    let app = Arc::new(spawn_app_with(|s| s.allow.push("sh".into())).await);
    let marker = app.create_task_ok(marker_task(marks.path())).await;
    let marker = str_of(&marker, "id").to_string();

    // The killer: every 30 ms, end every other connection to the test's database.
    let killer = Database::connect(app.db.url()).await.expect("connect to the test database");
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killing = tokio::spawn({
        let (stop, kills) = (stop.clone(), kills.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                let killed = killer
                    .execute_unprepared(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    )
                    .await;
                if killed.is_ok() {
                    kills.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            let _ = killer.close().await;
        }
    });

    // Four clients create tasks and execute the marker task meanwhile.
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (app, ledger, marker) = (app.clone(), ledger.clone(), marker.clone());
        clients.push(tokio::spawn(async move {
            for round in 0..25 {
                let created = app.create_task(&json!({ "command": format!("echo {client} {round}") })).await;
                ledger.lock().await.note(&created, "create a task while connections die");
                let executed = app.execute(&marker, None).await;
                ledger.lock().await.note(&executed, "execute while connections die");
            }
        }));
    }
    for client in clients {
        client.await.expect("a client ran to its end");
    }
    stop.store(true, Ordering::SeqCst);
    killing.await.expect("the killer stopped");

    let ledger = ledger.lock().await;
    ledger.all_stored(&app, Duration::from_secs(60)).await;
    let ran = markers(marks.path());
    for job in &ran {
        app.get_job(job).await.expect(200, &format!("job {job} ran (its marker exists), so its row exists"));
    }
    health_becomes(&app, "ok", None, Duration::from_secs(15)).await;
    let task = app.create_task_ok(json!({ "command": "echo resumed" })).await;
    let job = app.execute_ok(str_of(&task, "id"), None).await;
    assert_eq!(app.wait_job(&job).await["status"], "completed");
    eprintln!(
        "killed connections {} times: {} tasks and {} jobs acknowledged, {} refused (503), {} marker jobs ran",
        kills.load(Ordering::SeqCst),
        ledger.tasks.len(),
        ledger.jobs.len(),
        ledger.refused_with("storage_unavailable"),
        ran.len()
    );
}
