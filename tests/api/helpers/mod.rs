//! The test harness: start the real application on a random port with its own database (a SQLite file, or a fresh
//! PostgreSQL database when `TASKYARD_TEST_DATABASE_URL` is set; see [`db`]), and talk to it over HTTP the way any
//! client would. Jobs are awaited by following their SSE stream to the terminal record, never by sleeping.

mod binary;
mod checks;
mod db;
mod events;
mod gate;
mod procs;
mod reaping;
mod reply;
mod scrape;
mod scripts;
mod sse;
mod storage;
mod tree;

use std::sync::{Arc, Once};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use taskyard::config::Settings;
use taskyard::functions::Registry;
use taskyard::startup::Application;
use tempfile::TempDir;

pub use binary::*;
pub use checks::*;
pub use db::*;
pub use events::*;
pub use gate::*;
pub use procs::*;
pub use reaping::*;
pub use reply::*;
pub use scripts::*;
pub use sse::*;
pub use storage::*;
pub use tree::*;

/// reqwest is built with `rustls-no-provider`: a crypto provider must be installed once per process.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means another provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The client every test uses. Its idle connections are dropped before the server's keep-alive (actix: 5 s) would
/// close them: a request sent on a connection the server is closing at that moment fails with `IncompleteMessage`,
/// and a POST cannot be retried blindly.
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("build the HTTP client")
}

/// A running application and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    /// Sent as `X-API-Key` by every helper when set.
    pub api_key: Option<String>,
    /// A scratch directory for the test (it also holds the SQLite file); shared with apps reopened on the same
    /// database.
    pub dir: Arc<TempDir>,
    /// The database; shared with apps reopened on it, and dropped (on PostgreSQL) with the last of them.
    pub db: Arc<TestDb>,
    server: Option<tokio::task::AbortHandle>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("create a temp dir"));
    let db = Arc::new(TestDb::for_suite(dir.path()).await);
    start(dir, db, configure).await
}

/// An application that runs `functions` besides commands, as an embedding program's does.
pub async fn spawn_app_with_functions(functions: Registry, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("create a temp dir"));
    let db = Arc::new(TestDb::for_suite(dir.path()).await);
    start_with(dir, db, configure, functions).await
}

async fn start(dir: Arc<TempDir>, db: Arc<TestDb>, configure: impl FnOnce(&mut Settings)) -> TestApp {
    start_with(dir, db, configure, Registry::default()).await
}

async fn start_with(
    dir: Arc<TempDir>,
    db: Arc<TestDb>,
    configure: impl FnOnce(&mut Settings),
    functions: Registry,
) -> TestApp {
    // Free disk space is not what these tests are about: a crowded disk must not fail them. The tests of
    // `min_free_bytes` set their own value.
    let mut settings = Settings {
        bind: "127.0.0.1:0".to_string(),
        database_url: db.url().to_string(),
        min_free_bytes: 0,
        // The application runs inside this test binary, which has no `supervise` subcommand.
        supervisor_program: Some(env!("CARGO_BIN_EXE_taskyard").into()),
        // Beside the test's database, whichever database it is.
        artifacts_url: Some(format!("file://{}", dir.path().join("artifacts").display())),
        artifacts_work_dir: Some(dir.path().join("artifacts-work").display().to_string()),
        ..Settings::default()
    };
    configure(&mut settings);
    let api_key = settings.api_keys.first().cloned();
    let app = Application::build_with(settings, functions).await.expect("build the application");
    let port = app.port();
    let server = tokio::spawn(app.run_until_stopped()).abort_handle();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: http_client(),
        api_key,
        dir,
        db,
        server: Some(server),
    }
}

impl TestApp {
    /// A client for a server this process did not start (the real binary), on the database `db`.
    pub fn external(address: &str, dir: Arc<TempDir>, db: Arc<TestDb>) -> TestApp {
        TestApp { address: format!("http://{address}"), client: http_client(), api_key: None, dir, db, server: None }
    }

    /// A second application on the same database, e.g. with a different allow-list.
    pub async fn reopen_with(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        start(self.dir.clone(), self.db.clone(), configure).await
    }

    // ---- raw requests ----

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{}", self.address, path));
        match &self.api_key {
            Some(key) => builder.header("X-API-Key", key),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::send(self.request(Method::GET, path)).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Reply {
        Reply::send(self.request(method, path).json(body)).await
    }

    // ---- one method per endpoint ----

    pub async fn health(&self) -> Reply {
        self.get("/health").await
    }

    pub async fn create_task(&self, body: &Value) -> Reply {
        self.send_json(Method::POST, "/api/v1/tasks", body).await
    }

    /// Creates a task from a full body and returns it, asserting 201.
    pub async fn create_task_ok(&self, body: Value) -> Value {
        let reply = self.create_task(&body).await;
        reply.expect(201, &format!("create task {body}"))
    }

    /// Creates a task with only a command and returns it.
    pub async fn task(&self, command: &str) -> Value {
        self.create_task_ok(json!({ "command": command })).await
    }

    pub async fn get_task(&self, id: &str) -> Reply {
        self.get(&format!("/api/v1/tasks/{id}")).await
    }

    /// `query` is appended as is, e.g. `"?page=1&size=2"` or `""`.
    pub async fn list_tasks(&self, query: &str) -> Reply {
        self.get(&format!("/api/v1/tasks{query}")).await
    }

    pub async fn update_task(&self, id: &str, body: &Value) -> Reply {
        self.send_json(Method::PUT, &format!("/api/v1/tasks/{id}"), body).await
    }

    pub async fn delete_task(&self, id: &str) -> Reply {
        Reply::send(self.request(Method::DELETE, &format!("/api/v1/tasks/{id}"))).await
    }

    /// `$execute` with no body at all when `body` is `None`.
    pub async fn execute(&self, task_id: &str, body: Option<&Value>) -> Reply {
        let builder = self.request(Method::POST, &format!("/api/v1/tasks/{task_id}/$execute"));
        match body {
            Some(body) => Reply::send(builder.json(body)).await,
            None => Reply::send(builder).await,
        }
    }

    /// Executes with the given params (`None`: no body) and returns the job id, asserting 202.
    pub async fn execute_ok(&self, task_id: &str, params: Option<Value>) -> String {
        let body = params.map(|p| json!({ "params": p }));
        let reply = self.execute(task_id, body.as_ref()).await;
        let accepted = reply.expect(202, &format!("execute task {task_id}"));
        accepted["job_id"].as_str().unwrap_or_else(|| panic!("202 body has no job_id: {accepted}")).to_string()
    }

    pub async fn get_job(&self, id: &str) -> Reply {
        self.get(&format!("/api/v1/jobs/{id}")).await
    }

    pub async fn get_job_ok(&self, id: &str) -> Value {
        self.get_job(id).await.expect(200, &format!("get job {id}"))
    }

    pub async fn list_jobs(&self, query: &str) -> Reply {
        self.get(&format!("/api/v1/jobs{query}")).await
    }

    pub async fn output(&self, job_id: &str, query: &str) -> Reply {
        self.get(&format!("/api/v1/jobs/{job_id}/output{query}")).await
    }

    /// Follows the output endpoint page by page (`limit` per page) and returns every item.
    pub async fn all_output(&self, job_id: &str, stream: &str, limit: usize) -> Vec<Value> {
        let mut after = 0;
        let mut items = Vec::new();
        for _ in 0..10_000 {
            let query = format!("?stream={stream}&after_seq={after}&limit={limit}");
            let page = self.output(job_id, &query).await.expect(200, &format!("output{query}"));
            let batch = page["items"].as_array().expect("items is an array").clone();
            assert!(batch.len() <= limit, "output{query} returned {} items", batch.len());
            after = page["next_after_seq"].as_u64().expect("next_after_seq");
            items.extend(batch);
            if !page["has_more"].as_bool().expect("has_more is a bool") {
                return items;
            }
        }
        panic!("output of job {job_id} never reported has_more = false");
    }

    pub async fn cancel(&self, job_id: &str) -> Reply {
        Reply::send(self.request(Method::POST, &format!("/api/v1/jobs/{job_id}/$cancel"))).await
    }

    pub async fn delete_job(&self, job_id: &str) -> Reply {
        Reply::send(self.request(Method::DELETE, &format!("/api/v1/jobs/{job_id}"))).await
    }

    pub async fn orphaned(&self, query: &str) -> Reply {
        self.get(&format!("/api/v1/tasks/$orphaned{query}")).await
    }

    /// Opens the job's SSE stream, asserting 200 and `text/event-stream`.
    pub async fn stream(&self, job_id: &str, last_event_id: Option<u64>) -> JobStream {
        let mut builder =
            self.request(Method::GET, &format!("/api/v1/jobs/{job_id}/$stream")).header("Accept", "text/event-stream");
        if let Some(n) = last_event_id {
            builder = builder.header("Last-Event-ID", n.to_string());
        }
        let response = builder.send().await.expect("open the SSE stream");
        let status = response.status();
        let content_type = header(response.headers(), "content-type");
        if status != StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            panic!("GET /jobs/{job_id}/$stream answered {status}: {body}");
        }
        assert!(content_type.starts_with("text/event-stream"), "SSE content type is {content_type:?}");
        JobStream::new(job_id, response)
    }

    /// Follows the job's stream from the start to its terminal job record and returns every event.
    pub async fn stream_job_until_done(&self, job_id: &str) -> Vec<SseEvent> {
        self.stream(job_id, None).await.until_done().await
    }

    /// Waits for the job to finish (over SSE) and returns the final job record.
    pub async fn wait_job(&self, job_id: &str) -> Value {
        let events = self.stream_job_until_done(job_id).await;
        events.last().and_then(SseEvent::job).expect("terminal job record")
    }

    /// Creates a task, executes it and follows it to the end.
    pub async fn run(&self, command: &str) -> Finished {
        let task = self.task(command).await;
        self.run_task(&task, None).await
    }

    pub async fn run_task(&self, task: &Value, params: Option<Value>) -> Finished {
        let task_id = task["id"].as_str().expect("task id");
        let job_id = self.execute_ok(task_id, params).await;
        let events = self.stream_job_until_done(&job_id).await;
        let job = events.last().and_then(SseEvent::job).expect("terminal job record");
        Finished { task: task.clone(), job_id, events, job }
    }
}

/// A task that was run to the end.
pub struct Finished {
    pub task: Value,
    pub job_id: String,
    pub events: Vec<SseEvent>,
    /// The terminal job record from the stream.
    pub job: Value,
}

impl Finished {
    pub fn stdout(&self) -> Vec<String> {
        lines_of(&self.events, "stdout")
    }
}
