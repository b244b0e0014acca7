//! Every way a request can be wrong, table-driven: each case must answer its status, `application/problem+json` and
//! its `code`, and never a 500. All failing cases are reported together, each by name.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Reply, TestApp, fresh_ulid, spawn_app_with, str_of};

const MAX_BODY: usize = 2048;

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    /// Content type and raw body, if any.
    body: Option<(&'static str, String)>,
    status: u16,
    code: &'static str,
    /// A word the `detail` must contain.
    detail_has: Option<&'static str>,
}

fn case(name: &'static str, method: Method, path: impl Into<String>, status: u16, code: &'static str) -> Case {
    Case { name, method, path: path.into(), body: None, status, code, detail_has: None }
}

impl Case {
    fn raw(mut self, content_type: &'static str, body: impl Into<String>) -> Case {
        self.body = Some((content_type, body.into()));
        self
    }

    fn json(self, body: serde_json::Value) -> Case {
        self.raw("application/json", body.to_string())
    }

    fn detail_has(mut self, word: &'static str) -> Case {
        self.detail_has = Some(word);
        self
    }

    async fn check(&self, app: &TestApp) -> Option<String> {
        let mut request = app.request(self.method.clone(), &self.path);
        if let Some((content_type, body)) = &self.body {
            request = request.header("Content-Type", *content_type).body(body.clone());
        }
        let reply = Reply::send(request).await;
        let mut problem = reply.problem_mismatch(self.status, self.code);
        if problem.is_none()
            && let Some(word) = self.detail_has
        {
            let detail = reply.json()["detail"].as_str().unwrap_or_default().to_string();
            if !detail.contains(word) {
                problem = Some(format!("detail does not mention {word:?}: {detail:?}"));
            }
        }
        problem.map(|p| format!("{} ({} {}): {p}", self.name, self.method, self.path))
    }
}

/// Ids of what the table's cases point at.
struct Fixtures {
    /// An enabled task named `taken`, running `printf '%s\n' {msg}` with a default `msg`.
    task: String,
    /// A task whose `{who}` has no default.
    needs_param: String,
    disabled: String,
    /// A completed job.
    done: String,
    /// A well-formed ULID of nothing.
    unknown: String,
}

#[rustfmt::skip]
fn cases(f: &Fixtures) -> Vec<Case> {
    use Method as M;
    let Fixtures { task: t, needs_param: needs, disabled, done, unknown } = f;
    let tasks = "/api/v1/tasks";
    let too_big = json!({ "command": format!("echo {}", "x".repeat(MAX_BODY * 2)) });
    vec![
        // Bodies that cannot be read.
        case("malformed JSON on create", M::POST, tasks, 400, "invalid_json").raw("application/json", r#"{"command": "echo"#),
        case("malformed JSON on update", M::PUT, format!("{tasks}/{t}"), 400, "invalid_json").raw("application/json", "{,}"),
        case("malformed JSON on execute", M::POST, format!("{tasks}/{t}/$execute"), 400, "invalid_json").raw("application/json", "{\"params\":"),
        case("text/plain on create", M::POST, tasks, 415, "unsupported_media_type").raw("text/plain", r#"{"command":"echo"}"#),
        case("form on create", M::POST, tasks, 415, "unsupported_media_type").raw("application/x-www-form-urlencoded", "command=echo"),
        case("text/plain on update", M::PUT, format!("{tasks}/{t}"), 415, "unsupported_media_type").raw("text/plain", r#"{"enabled":false}"#),
        case("body over max_body_bytes on create", M::POST, tasks, 413, "payload_too_large").json(too_big),
        case("body over max_body_bytes on execute", M::POST, format!("{tasks}/{t}/$execute"), 413, "payload_too_large")
            .json(json!({ "params": { "msg": "y".repeat(MAX_BODY * 2) } })),
        // Bodies of the wrong shape.
        case("command is a number", M::POST, tasks, 422, "invalid_body").json(json!({ "command": 5 })),
        case("enabled is a string", M::POST, tasks, 422, "invalid_body").json(json!({ "command": "echo", "enabled": "yes" })),
        case("tags is not a list", M::POST, tasks, 422, "invalid_body").json(json!({ "command": "echo", "tags": "a,b" })),
        case("timeout_seconds is a string", M::POST, tasks, 422, "invalid_body").json(json!({ "command": "echo", "timeout_seconds": "5" })),
        case("command missing", M::POST, tasks, 422, "invalid_body").json(json!({ "name": "no-command" })),
        case("unknown field on create", M::POST, tasks, 422, "invalid_body").json(json!({ "command": "echo", "colour": "red" })),
        case("unknown field on update", M::PUT, format!("{tasks}/{t}"), 422, "invalid_body").json(json!({ "colour": "red" })),
        case("wrong type on update", M::PUT, format!("{tasks}/{t}"), 422, "invalid_body").json(json!({ "enabled": "no" })),
        case("params is not an object", M::POST, format!("{tasks}/{t}/$execute"), 422, "invalid_body").json(json!({ "params": 5 })),
        // Bodies that parse but break the rules.
        case("empty command", M::POST, tasks, 422, "invalid_command").json(json!({ "command": "" })),
        case("blank command", M::POST, tasks, 422, "invalid_command").json(json!({ "command": "   " })),
        case("unbalanced quote", M::POST, tasks, 422, "invalid_command").json(json!({ "command": "echo \"open" })),
        case("placeholder as program", M::POST, tasks, 422, "invalid_command").json(json!({ "command": "{prog} --x" })),
        case("program not allowed", M::POST, tasks, 422, "program_not_allowed").json(json!({ "command": "rm -f /tmp/none" })).detail_has("rm"),
        case("program not allowed on update", M::PUT, format!("{tasks}/{t}"), 422, "program_not_allowed").json(json!({ "command": "bash -c true" })).detail_has("bash"),
        case("name starts with a dash", M::POST, tasks, 422, "validation_failed").json(json!({ "command": "echo", "name": "-x" })),
        case("name with a space", M::POST, tasks, 422, "validation_failed").json(json!({ "command": "echo", "name": "a b" })),
        case("name of 65 characters", M::POST, tasks, 422, "validation_failed").json(json!({ "command": "echo", "name": "n".repeat(65) })),
        case("empty name", M::POST, tasks, 422, "validation_failed").json(json!({ "command": "echo", "name": "" })),
        case("timeout_seconds 0", M::POST, tasks, 422, "validation_failed").json(json!({ "command": "echo", "timeout_seconds": 0 })),
        case("timeout_seconds negative", M::POST, tasks, 422, "validation_failed").json(json!({ "command": "echo", "timeout_seconds": -5 })),
        case("name taken", M::POST, tasks, 409, "name_taken").json(json!({ "command": "echo", "name": "taken" })),
        // Execute-time checks.
        case("missing param", M::POST, format!("{tasks}/{needs}/$execute"), 400, "missing_param").detail_has("who"),
        case("object param", M::POST, format!("{tasks}/{t}/$execute"), 400, "invalid_param").json(json!({ "params": { "msg": {} } })),
        case("array param", M::POST, format!("{tasks}/{t}/$execute"), 400, "invalid_param").json(json!({ "params": { "msg": [1] } })),
        case("null param", M::POST, format!("{tasks}/{t}/$execute"), 400, "invalid_param").json(json!({ "params": { "msg": null } })),
        case("disabled task", M::POST, format!("{tasks}/{disabled}/$execute"), 409, "task_disabled"),
        case("cancel a finished job", M::POST, format!("/api/v1/jobs/{done}/$cancel"), 409, "job_finished"),
        // Ids that are not ULIDs.
        // A task path takes an id or a name: what is neither is a bad id; a name no task has is not found.
        case("GET task bad id", M::GET, format!("{tasks}/-not%20a%20name"), 400, "invalid_id"),
        case("PUT task bad id", M::PUT, format!("{tasks}/-not%20a%20name"), 400, "invalid_id").json(json!({ "enabled": true })),
        case("DELETE task bad id", M::DELETE, format!("{tasks}/-not%20a%20name"), 400, "invalid_id"),
        case("execute bad id", M::POST, format!("{tasks}/-not%20a%20name/$execute"), 400, "invalid_id"),
        case("GET task unknown name", M::GET, format!("{tasks}/not-a-ulid"), 404, "task_not_found"),
        case("execute unknown name", M::POST, format!("{tasks}/not-a-ulid/$execute"), 404, "task_not_found"),
        case("GET job bad id", M::GET, "/api/v1/jobs/123", 400, "invalid_id"),
        case("DELETE job bad id", M::DELETE, "/api/v1/jobs/123", 400, "invalid_id"),
        case("output bad id", M::GET, "/api/v1/jobs/zzz/output", 400, "invalid_id"),
        case("stream bad id", M::GET, "/api/v1/jobs/zzz/$stream", 400, "invalid_id"),
        case("jobs task_id filter bad id", M::GET, "/api/v1/jobs?task_id=nope", 400, "invalid_id"),
        // Well-formed ids of nothing.
        case("GET unknown task", M::GET, format!("{tasks}/{unknown}"), 404, "task_not_found"),
        case("DELETE unknown task", M::DELETE, format!("{tasks}/{unknown}"), 404, "task_not_found"),
        case("execute unknown task", M::POST, format!("{tasks}/{unknown}/$execute"), 404, "task_not_found"),
        case("GET unknown job", M::GET, format!("/api/v1/jobs/{unknown}"), 404, "job_not_found"),
        case("DELETE unknown job", M::DELETE, format!("/api/v1/jobs/{unknown}"), 404, "job_not_found"),
        case("output of unknown job", M::GET, format!("/api/v1/jobs/{unknown}/output"), 404, "job_not_found"),
        // Bad query strings.
        case("tasks page=0", M::GET, format!("{tasks}?page=0&size=10"), 400, "invalid_query"),
        case("tasks size=0", M::GET, format!("{tasks}?page=1&size=0"), 400, "invalid_query"),
        case("tasks size=1001", M::GET, format!("{tasks}?page=1&size=1001"), 400, "invalid_query"),
        case("tasks page not a number", M::GET, format!("{tasks}?page=abc&size=10"), 400, "invalid_query"),
        case("jobs page=0", M::GET, "/api/v1/jobs?page=0&size=5", 400, "invalid_query"),
        case("tasks page past any offset", M::GET, format!("{tasks}?page=18446744073709551615&size=1000"), 400, "invalid_query"),
        case("jobs page past any offset", M::GET, "/api/v1/jobs?page=9223372036854775807&size=2", 400, "invalid_query"),
        case("jobs unknown status", M::GET, "/api/v1/jobs?status=sleeping", 400, "invalid_query"),
        case("orphans unknown reason", M::GET, format!("{tasks}/$orphaned?reason=bored"), 400, "invalid_query"),
        case("output unknown stream", M::GET, format!("/api/v1/jobs/{done}/output?stream=stdin"), 400, "invalid_query"),
        case("output after_seq not a number", M::GET, format!("/api/v1/jobs/{done}/output?after_seq=x"), 400, "invalid_query"),
        // Routing.
        case("unknown API route", M::GET, "/api/v1/nope", 404, "not_found"),
        case("unknown top-level route", M::GET, "/nope", 404, "not_found"),
        case("unknown API version", M::GET, "/api/v2/tasks", 404, "not_found"),
        case("PATCH the task list", M::PATCH, tasks, 405, "method_not_allowed"),
        case("DELETE the task list", M::DELETE, tasks, 405, "method_not_allowed"),
        case("POST a task", M::POST, format!("{tasks}/{t}"), 405, "method_not_allowed"),
        case("GET execute", M::GET, format!("{tasks}/{t}/$execute"), 405, "method_not_allowed"),
        case("POST the job list", M::POST, "/api/v1/jobs", 405, "method_not_allowed"),
        case("PUT a job", M::PUT, format!("/api/v1/jobs/{done}"), 405, "method_not_allowed"),
        case("POST health", M::POST, "/health", 405, "method_not_allowed"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_answer_problem_json_with_their_code() {
    let app = spawn_app_with(|s| s.max_body_bytes = MAX_BODY).await;
    let task = app
        .create_task_ok(json!({
            "name": "taken",
            "command": "printf '%s\\n' {msg}",
            "params": { "msg": "m" },
        }))
        .await;
    let needs_param = app.task("echo {who}").await;
    let disabled = app.create_task_ok(json!({ "command": "echo off", "enabled": false })).await;
    let fixtures = Fixtures {
        task: str_of(&task, "id").to_string(),
        needs_param: str_of(&needs_param, "id").to_string(),
        disabled: str_of(&disabled, "id").to_string(),
        done: app.run("true").await.job_id,
        unknown: fresh_ulid(),
    };

    let cases = cases(&fixtures);
    let mut failures = Vec::new();
    for case in &cases {
        if let Some(failure) = case.check(&app).await {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));

    // None of the rejected requests changed anything.
    let listed = app.list_tasks("").await.expect(200, "list tasks");
    let count = |v: &serde_json::Value| v.as_array().map(Vec::len);
    assert_eq!(count(&listed), Some(4), "tasks after the table: {listed}");
    let jobs = app.list_jobs("").await.expect(200, "list jobs");
    assert_eq!(count(&jobs), Some(1), "jobs after the table: {jobs}");
}
