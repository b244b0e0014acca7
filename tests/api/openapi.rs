//! The OpenAPI document: committed, served and generated copies agree, and it describes every route. Swagger UI.

use std::path::Path;

use serde_json::Value;

use crate::helpers::spawn_app;

/// `taskyard openapi` from the binary under test.
fn generated() -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_taskyard"))
        .arg("openapi")
        .output()
        .expect("run `taskyard openapi`");
    assert!(output.status.success(), "`taskyard openapi` failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("`taskyard openapi` prints JSON")
}

#[test]
fn the_committed_openapi_json_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let committed: Option<Value> =
        std::fs::read_to_string(&path).ok().and_then(|text| serde_json::from_str(&text).ok());
    assert!(
        committed == Some(generated()),
        "{} is missing or differs from what the code generates; regenerate it with \
         `cargo run -- openapi > openapi/openapi.json`",
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_generated_one_and_lists_every_route() {
    let app = spawn_app().await;
    let served = app.get("/openapi.json").await.expect(200, "GET /openapi.json");
    assert_eq!(served, generated(), "GET /openapi.json differs from `taskyard openapi`");

    let paths = served["paths"].as_object().expect("paths object");
    // Compare paths with their parameter names blanked: `{id}` and `{task_id}` are the same route.
    let blank = |p: &str| {
        let mut out = String::new();
        let mut in_param = false;
        for c in p.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push_str("{}");
                }
                '}' => in_param = false,
                _ if !in_param => out.push(c),
                _ => {}
            }
        }
        out
    };
    let routes = [
        ("/api/v1/tasks", &["get", "post"][..]),
        ("/api/v1/tasks/{}", &["get", "put", "patch", "delete"][..]),
        ("/api/v1/tasks/{}/$execute", &["post"][..]),
        ("/api/v1/tasks/$orphaned", &["get"][..]),
        ("/api/v1/jobs", &["get"][..]),
        ("/api/v1/jobs/{}", &["get", "delete"][..]),
        ("/api/v1/jobs/{}/output", &["get"][..]),
        ("/api/v1/jobs/{}/$stream", &["get"][..]),
        ("/api/v1/nodes", &["get"][..]),
        ("/health", &["get"][..]),
    ];
    for (route, methods) in routes {
        let item = paths
            .iter()
            .find(|(path, _)| blank(path) == route)
            .map(|(_, item)| item)
            .unwrap_or_else(|| panic!("{route} is not documented; paths: {:?}", paths.keys()));
        for method in methods {
            assert!(item.get(*method).is_some(), "{method} {route} is not documented");
        }
    }
}

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// Every operation of the document, as (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths object");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Every `$ref` in `value`, recursively.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn operation_ids_are_unique_and_every_reference_resolves() {
    let doc = generated();
    let mut seen = std::collections::BTreeMap::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        if let Some(other) = seen.insert(id.to_string(), format!("{method} {path}")) {
            panic!("operationId {id} is used by {other} and {method} {path}");
        }
    }
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    for target in targets {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("external reference {target}"));
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}

#[test]
fn every_operation_documents_the_client_errors_it_can_answer() {
    let doc = generated();
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        let mut expected = vec!["400"];
        if path.starts_with("/api/") {
            expected.extend(["401", "503"]);
        }
        if path.contains("{id}") {
            expected.push("404");
        }
        if op.get("requestBody").is_some() {
            expected.extend(["413", "415", "422", "507"]);
        }
        // A task's name is unique: creating or renaming one can find it taken.
        if path.starts_with("/api/v1/tasks") && !path.contains('$') && ["post", "put", "patch"].contains(&&*method) {
            expected.push("409");
        }
        for status in expected {
            assert!(responses.contains_key(status), "{method} {path} does not document {status}");
        }
    }
}

#[test]
fn ids_and_bounds_carry_the_constraints_the_server_checks() {
    let doc = generated();
    let ulid = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$";
    // A task's routes take its id or its name (an id has the form of a name too).
    let task_ref = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
    for (method, path, op) in operations(&doc) {
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap_or_default();
            if name == "id" && path.starts_with("/api/v1/tasks/{id}") {
                assert_eq!(param["schema"]["pattern"], task_ref, "{method} {path} {name}");
            } else if name == "id" || name == "after" || name == "task_id" {
                assert_eq!(param["schema"]["pattern"], ulid, "{method} {path} {name}");
            }
            if name == "size" {
                assert_eq!((&param["schema"]["minimum"], &param["schema"]["maximum"]), (&1.into(), &1000.into()));
            }
        }
    }
    let jobs = &doc["paths"]["/api/v1/jobs"]["get"]["parameters"];
    let status = jobs.as_array().and_then(|ps| ps.iter().find(|p| p["name"] == "status")).expect("status");
    assert!(status["schema"]["enum"].is_array() || status["schema"]["$ref"].is_string(), "status: {status}");
    let timeout = &doc["components"]["schemas"]["CreateTask"]["properties"]["timeout_seconds"];
    assert_eq!((&timeout["minimum"], &timeout["maximum"]), (&1.into(), &31_622_400.into()), "{timeout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_serve_swagger_ui() {
    let app = spawn_app().await;
    let reply = app.get("/docs/").await;
    assert_eq!(reply.status.as_u16(), 200, "GET /docs/: {}", reply.text);
    assert!(reply.content_type().starts_with("text/html"), "content type {:?}", reply.content_type());
    assert!(reply.text.to_lowercase().contains("swagger"), "/docs/ is not Swagger UI: {}", reply.text);
}
