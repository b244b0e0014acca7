//! Scoped keys: every operation of the OpenAPI document, tried with no key and with a key of each scope, answers
//! as the matrix below says. An operation missing from the matrix fails the test, so no route escapes it. And no
//! key, nor its digest, ever reaches the server's log.
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use taskyard::access::{KeyEntry, new_key};
use taskyard::domain::Scope;

use crate::helpers::{Reply, TestApp, fresh_ulid, serve, spawn_app_with, sqlite_url, str_of};

/// Who may call what: `None` is open to everyone; otherwise the least scope that may.
const MATRIX: &[(&str, &str, Option<Scope>)] = &[
    ("GET", "/health", None),
    ("GET", "/metrics", Some(Scope::Read)),
    ("GET", "/api/v1/tasks", Some(Scope::Read)),
    ("POST", "/api/v1/tasks", Some(Scope::Admin)),
    ("GET", "/api/v1/tasks/$orphaned", Some(Scope::Read)),
    ("GET", "/api/v1/tasks/{id}", Some(Scope::Read)),
    ("PUT", "/api/v1/tasks/{id}", Some(Scope::Admin)),
    ("PATCH", "/api/v1/tasks/{id}", Some(Scope::Admin)),
    ("DELETE", "/api/v1/tasks/{id}", Some(Scope::Admin)),
    ("POST", "/api/v1/tasks/{id}/$execute", Some(Scope::Execute)),
    ("GET", "/api/v1/jobs", Some(Scope::Read)),
    ("GET", "/api/v1/jobs/{id}", Some(Scope::Read)),
    ("DELETE", "/api/v1/jobs/{id}", Some(Scope::Execute)),
    ("POST", "/api/v1/jobs/{id}/$cancel", Some(Scope::Execute)),
    ("POST", "/api/v1/jobs/{id}/$retry", Some(Scope::Execute)),
    ("POST", "/api/v1/jobs/$bulk", Some(Scope::Execute)),
    ("GET", "/api/v1/stats/finished", Some(Scope::Read)),
    ("GET", "/api/v1/jobs/{id}/output", Some(Scope::Read)),
    ("GET", "/api/v1/jobs/{id}/artifacts", Some(Scope::Read)),
    ("GET", "/api/v1/jobs/{id}/artifacts/{name}", Some(Scope::Read)),
    ("GET", "/api/v1/jobs/{id}/$stream", Some(Scope::Read)),
    ("GET", "/api/v1/tasks/{id}/$schedule", Some(Scope::Read)),
    ("POST", "/api/v1/schedules/$preview", Some(Scope::Read)),
    ("GET", "/api/v1/nodes", Some(Scope::Read)),
    ("GET", "/api/v1/audit", Some(Scope::Admin)),
    ("GET", "/api/v1/notifications", Some(Scope::Read)),
    ("GET", "/api/v1/functions", Some(Scope::Read)),
    ("GET", "/api/v1/functions/{name}", Some(Scope::Read)),
    ("POST", "/api/v1/functions/{name}/$execute", Some(Scope::Execute)),
    ("GET", "/api/v1/artifacts/{id}", Some(Scope::Read)),
    ("GET", "/api/v1/notifications/{id}", Some(Scope::Read)),
];

/// Every (method, path template) of the OpenAPI document the server serves.
fn operations() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&taskyard::openapi::json()).expect("the document is JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// A key of each scope, and the config entries that hold them.
fn keys() -> (Vec<(Scope, String)>, Vec<KeyEntry>) {
    Scope::ALL
        .into_iter()
        .map(|scope| {
            let (key, entry) = new_key(scope.as_str(), scope).expect("a new key");
            ((scope, key), entry)
        })
        .unzip()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_scope_as_the_matrix_says() {
    let (keys, entries) = keys();
    let app = spawn_app_with(|s| s.keys = entries).await;
    let unknown = fresh_ulid();
    let body = json!({ "command": "echo scoped" });

    let mut failures = Vec::new();
    let ops = operations();
    assert!(ops.len() >= MATRIX.len() - 1, "the document lists the routes: {ops:?}");
    for (method, template) in &ops {
        let Some(&(_, _, needed)) = MATRIX.iter().find(|(m, t, _)| m == method && t == template) else {
            failures.push(format!("{method} {template} is not in the scope matrix: add it with the scope it needs"));
            continue;
        };
        let path = template.replace("{id}", &unknown);
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let mut tries: Vec<(Option<Scope>, Option<&str>)> = vec![(None, None)];
        tries.extend(keys.iter().map(|(scope, key)| (Some(*scope), Some(key.as_str()))));
        for (scope, key) in tries {
            let mut request = app.client.request(method.clone(), format!("{}{path}", app.address)).json(&body);
            if let Some(key) = key {
                request = request.header("X-API-Key", key);
            }
            let reply = Reply::send(request).await;
            let who = scope.map_or("no key".to_string(), |s| format!("a {s} key"));
            let problem = match (needed, scope) {
                (None, _) => [401, 403].contains(&reply.status.as_u16()).then(|| format!("refused: {}", reply.text)),
                (Some(_), None) => reply.problem_mismatch(401, "unauthorized"),
                (Some(needed), Some(have)) if have.allows(needed) => {
                    [401, 403].contains(&reply.status.as_u16()).then(|| format!("refused: {}", reply.text))
                }
                (Some(needed), Some(have)) => reply.problem_mismatch(403, "missing_scope").or_else(|| {
                    let detail = reply.json()["detail"].as_str().unwrap_or_default().to_string();
                    let names = detail.contains(&format!("`{needed}`")) && detail.contains(&format!("`{have}`"));
                    (!names).then(|| format!("the detail does not name the scopes: {detail}"))
                }),
            };
            if let Some(problem) = problem {
                failures.push(format!("{method} {path} with {who}: {problem}"));
            }
        }
    }
    for (method, template, _) in MATRIX {
        if !ops.iter().any(|(m, t)| m == method && t == template) {
            failures.push(format!("{method} {template} is in the matrix but not in the OpenAPI document"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execute_key_runs_and_cancels_jobs_but_cannot_change_tasks() {
    let (keys, entries) = keys();
    let key = |scope: Scope| keys.iter().find(|(s, _)| *s == scope).map(|(_, k)| k.clone()).expect("a key");
    let mut admin = spawn_app_with(|s| s.keys = entries).await;
    admin.api_key = Some(key(Scope::Admin));
    let task = admin.create_task_ok(json!({ "command": "sleep 30" })).await;
    let task_id = str_of(&task, "id");

    let mut exec = TestApp::external(admin.address.trim_start_matches("http://"), admin.dir.clone(), admin.db.clone());
    exec.api_key = Some(key(Scope::Execute));
    let job_id = exec.execute_ok(task_id, None).await;
    let canceled = Reply::send(exec.request(Method::DELETE, &format!("/api/v1/jobs/{job_id}"))).await;
    assert!(canceled.status.is_success(), "cancel with an execute key: {}", canceled.text);
    exec.delete_task(task_id).await.expect_problem(403, "missing_scope", "delete a task with an execute key");
    exec.get_task(task_id).await.expect(200, "read a task with an execute key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_their_digests_never_reach_the_log() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let (keys, entries) = keys();
    let config = dir.path().join("taskyard.toml");
    let tables: String = entries.iter().map(|e| format!("[[keys]]\n{}\n", toml_entry(e))).collect();
    std::fs::write(&config, tables).expect("write the config");
    let plain = "plain-admin-key-0042";
    let server = serve(
        &sqlite_url(dir.path()),
        &["--config", config.to_str().expect("a UTF-8 path"), "--log-format", "json", "--allow", "true"],
        &[("TASKYARD_API_KEY", plain), ("RUST_LOG", "trace,sqlx=trace")],
    )
    .await;
    let mut app = server.app(&dir);
    app.api_key = Some(plain.to_string());
    let task = app.task("true").await;
    for (_, key) in &keys {
        let reply = Reply::send(
            app.client
                .post(format!("{}/api/v1/tasks/{}/$execute", app.address, str_of(&task, "id")))
                .header("X-API-Key", key),
        )
        .await;
        assert!([202, 403].contains(&reply.status.as_u16()), "{}", reply.text);
    }
    let wrong = format!("{}-wrong", keys[0].1);
    Reply::send(app.client.get(format!("{}/api/v1/jobs", app.address)).header("X-API-Key", &wrong))
        .await
        .expect_problem(401, "unauthorized", "a wrong key");

    let log = server.log();
    assert!(log.contains("/api/v1/tasks/{id}/$execute"), "the requests were logged:\n{log}");
    let mut secrets: Vec<&str> = keys.iter().map(|(_, k)| k.as_str()).collect();
    secrets.extend(entries.iter().map(|e| e.sha256.as_str()));
    secrets.extend([plain, wrong.as_str()]);
    for secret in secrets {
        assert!(!log.contains(secret), "the log holds key material {secret}:\n{log}");
        // Nor the random part of a key, cut from its prefix.
        assert!(secret.len() < 20 || !log.contains(&secret[4..]), "the log holds part of {secret}");
    }
}

fn toml_entry(entry: &KeyEntry) -> String {
    format!("name = {:?}\nscope = {:?}\nsha256 = {:?}\n", entry.name, entry.scope.as_str(), entry.sha256)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_the_query_string_is_not_read() {
    let (keys, entries) = keys();
    let app = spawn_app_with(|s| s.keys = entries).await;
    let admin = &keys.iter().find(|(s, _)| *s == Scope::Admin).expect("an admin key").1;
    for name in ["api_key", "x-api-key", "X-API-Key", "key", "token"] {
        let reply = Reply::send(app.client.get(format!("{}/api/v1/tasks?{name}={admin}", app.address))).await;
        if let Some(problem) = reply.problem_mismatch(401, "unauthorized") {
            panic!("?{name}=KEY: {problem}");
        }
    }
    let header = Reply::send(app.client.get(format!("{}/api/v1/tasks", app.address)).header("X-API-Key", admin)).await;
    header.expect(200, "the same key in the header");
}
