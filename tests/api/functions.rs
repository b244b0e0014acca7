//! Registered Rust functions over HTTP, against an application built as `examples/functions.rs` builds its own:
//! listing and filtering, metadata, execute by name, results and artifacts, params checks, errors, panics, a
//! cancel that the function ignores, and retries.
use reqwest::{Method, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use taskyard::functions::{Function, JobContext, NoParams, Registry};

use crate::helpers::{TestApp, spawn_app_with_functions};

#[allow(dead_code)]
#[path = "../../examples/functions.rs"]
mod example;

#[derive(Deserialize, JsonSchema)]
struct Secs {
    seconds: u64,
}

async fn boom(_: NoParams) -> Result<Value, String> {
    panic!("boom went the function")
}

/// Ignores its cancellation token.
async fn stubborn(p: Secs, ctx: JobContext) -> Result<Value, String> {
    ctx.log("not listening");
    tokio::time::sleep(std::time::Duration::from_secs(p.seconds)).await;
    Ok(json!("done"))
}

fn flaky(_: NoParams, ctx: JobContext) -> Result<Value, String> {
    ctx.progress(50.0);
    if ctx.attempt() == 1 { Err("first attempts fail".into()) } else { Ok(json!({ "attempt": ctx.attempt() })) }
}

fn registry() -> Registry {
    let mut builder = Registry::builder();
    for f in example::registry().iter() {
        builder = builder.function(f.function.clone());
    }
    builder
        .function(Function::new("boom", boom))
        .function(Function::new("stubborn", stubborn))
        .function(Function::blocking("flaky", flaky))
        .build()
        .expect("valid functions")
}

async fn app() -> TestApp {
    spawn_app_with_functions(registry(), |s| s.kill_grace_seconds = 1).await
}

async fn execute(app: &TestApp, name: &str, params: Value) -> (StatusCode, Value) {
    let reply =
        app.send_json(Method::POST, &format!("/api/v1/functions/{name}/$execute"), &json!({ "params": params })).await;
    (reply.status, reply.json())
}

async fn run(app: &TestApp, name: &str, params: Value) -> Value {
    let (status, body) = execute(app, name, params).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job_id = body["job_id"].as_str().expect("job_id");
    app.wait_job(job_id).await
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().expect("a list").iter().map(|f| f["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn functions_are_listed_filtered_by_all_tags_and_described() {
    let app = app().await;
    let all = app.get("/api/v1/functions").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(names(&all.json()), ["add", "boom", "fail", "flaky", "greet", "nap", "stubborn"]);
    assert_eq!(names(&app.get("/api/v1/functions?tags=math").await.json()), ["add"]);
    assert_eq!(names(&app.get("/api/v1/functions?tags=demo").await.json()), ["greet", "nap"]);
    assert!(names(&app.get("/api/v1/functions?tags=demo,math").await.json()).is_empty());

    let greet = app.get("/api/v1/functions/greet").await;
    assert_eq!(greet.status, StatusCode::OK);
    assert_eq!(greet.json()["description"], "Greets someone.");
    assert_eq!(greet.json()["tags"], json!(["demo"]));
    assert_eq!(greet.json()["parameters"]["properties"]["name"]["default"], "World");
    assert_eq!(greet.json()["parameters"]["properties"]["greeting"]["default"], "Hello");
    let add = app.get("/api/v1/functions/add").await;
    assert_eq!(add.json()["parameters"]["required"], json!(["a", "b"]));
    assert_eq!(add.json()["nodes"].as_array().map(Vec::len), Some(1), "{}", add.json());

    let missing = app.get("/api/v1/functions/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["code"], "function_not_found");
}

#[tokio::test]
async fn a_function_job_completes_with_its_result_output_and_artifact() {
    let app = app().await;
    let (status, body) = execute(&app, "add", json!({ "a": 2, "b": 3 })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_string();
    assert!(body["message"].as_str().unwrap().contains(&job_id));
    let job = app.wait_job(&job_id).await;
    assert_eq!((job["status"].as_str(), job["outcome"].as_str()), (Some("completed"), Some("success")), "{job}");
    assert_eq!(job["result"], json!({ "result": 5 }));
    assert_eq!(job["function"], "add");
    assert_eq!(job["params"], json!({ "a": 2, "b": 3 }));
    let artifact_id = job["artifact_id"].as_str().expect("an artifact id");
    let artifact = app.get(&format!("/api/v1/artifacts/{artifact_id}")).await;
    assert_eq!(artifact.status, StatusCode::OK);
    let a = &artifact.json();
    assert_eq!((a["id"].as_str(), a["job_id"].as_str()), (Some(artifact_id), Some(job_id.as_str())));
    assert_eq!(
        (a["function"].as_str(), &a["result"], &a["error"]),
        (Some("add"), &json!({ "result": 5 }), &Value::Null)
    );
    assert_eq!(a["params"], json!({ "a": 2, "b": 3 }));
    assert!(a["task"].is_string() && a["created_at"].is_string(), "{a}");

    // Defaults fill what the request leaves out; what the function logs is the job's stdout.
    let greet = run(&app, "greet", json!({ "name": "Ada" })).await;
    assert_eq!(greet["result"], json!({ "message": "Hello, Ada!" }));
    let lines = app.all_output(greet["id"].as_str().unwrap(), "stdout", 100).await;
    assert_eq!(lines.iter().map(|l| l["line"].as_str().unwrap()).collect::<Vec<_>>(), ["greeting Ada"]);

    let unknown = app.get("/api/v1/artifacts/01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!((unknown.status, unknown.json()["code"].as_str()), (StatusCode::NOT_FOUND, Some("artifact_not_found")));
}

#[tokio::test]
async fn params_are_checked_naming_each_field_and_unknown_functions_are_404() {
    let app = app().await;
    let (status, body) = execute(&app, "add", json!({ "a": "two" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_param");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("\"two\"") && detail.contains("\"b\""), "{detail}");
    let (status, body) = execute(&app, "nope", json!({})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("function_not_found")));
}

#[tokio::test]
async fn an_error_fails_the_job_and_a_panic_fails_it_without_harm() {
    let app = app().await;
    let failed = run(&app, "fail", json!({})).await;
    assert_eq!((failed["status"].as_str(), failed["outcome"].as_str()), (Some("failed"), Some("error")), "{failed}");
    assert_eq!(failed["error"], "this function always fails");
    assert_eq!(failed["result"], Value::Null);
    let artifact = app.get(&format!("/api/v1/artifacts/{}", failed["artifact_id"].as_str().unwrap())).await;
    assert_eq!(artifact.json()["error"], json!({ "type": "error", "message": "this function always fails" }));

    let panicked = run(&app, "boom", json!({})).await;
    assert_eq!((panicked["status"].as_str(), panicked["outcome"].as_str()), (Some("failed"), Some("panic")));
    assert!(panicked["error"].as_str().unwrap().contains("boom went the function"), "{panicked}");
    // The server goes on.
    assert_eq!(run(&app, "add", json!({ "a": 1, "b": 1 })).await["result"], json!({ "result": 2 }));
}

#[tokio::test]
async fn a_cancel_ends_a_function_that_ignores_its_token_and_one_that_honours_it() {
    let app = app().await;
    for (name, params) in [("stubborn", json!({ "seconds": 600 })), ("nap", json!({ "seconds": 600 }))] {
        let (_, body) = execute(&app, name, params).await;
        let job_id = body["job_id"].as_str().unwrap().to_string();
        let mut stream = app.stream(&job_id, None).await;
        stream.until_status("running").await;
        assert_eq!(app.cancel(&job_id).await.status, StatusCode::ACCEPTED);
        stream.until_done().await;
        let job = app.get_job_ok(&job_id).await;
        assert_eq!(
            (job["status"].as_str(), job["outcome"].as_str()),
            (Some("canceled"), Some("canceled")),
            "{name}: {job}"
        );
    }
}

#[tokio::test]
async fn a_failing_function_runs_again_under_its_tasks_retry_policy() {
    let app = app().await;
    let first = run(&app, "flaky", json!({})).await;
    assert_eq!(first["outcome"], "error", "without a policy it runs once: {first}");
    assert_eq!(first["progress"]["percent"], 50.0);
    let task_id = first["task_id"].as_str().unwrap();
    let retry = json!({ "retry": { "max_attempts": 2, "backoff": "fixed", "initial_delay_seconds": 0 } });
    let updated = app.send_json(Method::PATCH, &format!("/api/v1/tasks/{task_id}"), &retry).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json());
    let second = run(&app, "flaky", json!({})).await;
    assert_eq!((second["status"].as_str(), second["attempt"].as_i64()), (Some("completed"), Some(2)), "{second}");
    assert_eq!(second["result"], json!({ "attempt": 2 }));
}

#[tokio::test]
async fn a_stored_task_calls_a_function_with_its_default_params() {
    let app = app().await;
    let task = app.create_task_ok(json!({ "function": "add", "params": { "a": 40 }, "tags": ["stored"] })).await;
    assert_eq!((task["function"].as_str(), task["command"].as_str()), (Some("add"), Some("")), "{task}");
    let done = app.run_task(&task, Some(json!({ "b": 2 }))).await;
    assert_eq!(done.job["result"], json!({ "result": 42 }), "{}", done.job);

    let both = app.create_task(&json!({ "function": "add", "command": "true" })).await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", both.text);
    let missing = app.execute(task["id"].as_str().unwrap(), Some(&json!({ "params": { "b": "x" } }))).await;
    assert_eq!((missing.status, missing.json()["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_param")));
}

#[tokio::test]
async fn a_task_of_a_function_no_live_node_registers_is_orphaned_and_its_job_waits_saying_why() {
    let app = app().await;
    let ghost = app.create_task_ok(json!({ "function": "ghost" })).await;
    let registered = app.create_task_ok(json!({ "function": "add", "params": { "a": 1, "b": 1 } })).await;
    let orphans = app.orphaned("?reason=unregistered").await.json();
    let ids: Vec<&str> =
        orphans["orphaned_tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ghost["id"].as_str().unwrap()], "{orphans}");
    assert!(!ids.contains(&registered["id"].as_str().unwrap()));

    let job_id = app.execute_ok(ghost["id"].as_str().unwrap(), None).await;
    // A job of a registered function submitted after it is claimed and finished first: the ghost job was passed over.
    let later = app.run_task(&registered, None).await;
    assert_eq!(later.job["status"], "completed");
    let job = app.get_job_ok(&job_id).await;
    assert_eq!(job["status"], "pending", "{job}");
    assert_eq!(job["error"], "waiting: no live node registers function 'ghost'");
}

#[tokio::test]
async fn a_function_past_its_tasks_timeout_is_ended_even_when_it_ignores_its_token() {
    let app = app().await;
    let task =
        app.create_task_ok(json!({ "function": "stubborn", "params": { "seconds": 600 }, "timeout_seconds": 1 })).await;
    let done = app.run_task(&task, None).await;
    assert_eq!(
        (done.job["status"].as_str(), done.job["outcome"].as_str()),
        (Some("failed"), Some("timeout")),
        "{}",
        done.job
    );
    assert_eq!(done.stdout(), ["not listening"]);
}

/// `taskyard functions` run as a real process against this app: the list as JSON, one function as text, an unknown
/// name refused with the refusal's exit code (86) and the server's words.
#[tokio::test]
async fn the_command_line_lists_and_shows_functions() {
    let app = app().await;
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskyard"));
        command.args(args).env("TASKYARD_URL", &app.address).env_remove("TASKYARD_API_KEY").env("NO_COLOR", "1");
        command.output()
    };
    let listed = cli(&["functions", "--output", "json"]).await.expect("run taskyard");
    assert_eq!(listed.status.code(), Some(0), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(names(&listed), ["add", "boom", "fail", "flaky", "greet", "nap", "stubborn"]);

    let greet = cli(&["functions", "greet"]).await.expect("run taskyard");
    let text = String::from_utf8_lossy(&greet.stdout);
    assert_eq!(greet.status.code(), Some(0), "{}", String::from_utf8_lossy(&greet.stderr));
    for expected in ["name:        greet", "tags:        demo", "Greets someone.", "\"default\": \"World\""] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }

    let missing = cli(&["functions", "nope"]).await.expect("run taskyard");
    assert_eq!(missing.status.code(), Some(86));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no function named 'nope'"), "{missing:?}");
}
