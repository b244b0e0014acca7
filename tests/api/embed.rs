//! taskyard mounted in an application built as `examples/embed.rs` builds its own: the application's routes
//! answer, its handler enqueues a function through the in-process client, and the job is followed over the API
//! mounted under `/jobs`.
use std::sync::Arc;

use actix_web::{App, HttpServer};
use reqwest::StatusCode;
use serde_json::json;
use taskyard::config::Settings;
use taskyard::embed::Taskyard;

use crate::helpers::{TestApp, TestDb};

#[allow(dead_code)]
#[path = "../../examples/embed.rs"]
mod example;

#[tokio::test]
async fn an_application_enqueues_from_its_handler_and_serves_taskyard_under_its_path() {
    let dir = Arc::new(tempfile::tempdir().expect("a temp dir"));
    let db = Arc::new(TestDb::for_suite(dir.path()).await);
    let settings = Settings {
        database_url: db.url().to_string(),
        min_free_bytes: 0,
        supervisor_program: Some(env!("CARGO_BIN_EXE_taskyard").into()),
        ..Settings::default()
    };
    let taskyard = Taskyard::start(settings, example::registry()).await.expect("start taskyard");
    let configure = example::app(&taskyard);
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .bind("127.0.0.1:0")
        .expect("bind")
        .disable_signals();
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    let serving = tokio::spawn(taskyard_run(taskyard, server));

    let app = TestApp::external(&format!("{address}/jobs"), dir, db);
    let own = app.client.get(format!("http://{address}/hello")).send().await.expect("GET /hello");
    assert_eq!(own.status(), StatusCode::OK);
    let enqueued = app.client.post(format!("http://{address}/reports/weekly")).send().await.expect("POST /reports");
    assert_eq!(enqueued.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = enqueued.json().await.expect("json");
    let job = app.wait_job(body["job_id"].as_str().expect("job_id")).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"], json!({ "sent": "weekly", "from": "reports@example.com" }));
    let listed = app.get("/api/v1/functions?tags=reports").await.json();
    assert_eq!(listed[0]["name"], "send_report", "{listed}");

    // Stopping the application's server drains the engine and returns.
    handle.stop(true).await;
    serving.await.expect("the server task").expect("served and drained");
}

async fn taskyard_run(taskyard: Taskyard, server: actix_web::dev::Server) -> anyhow::Result<()> {
    taskyard.run(server).await
}
