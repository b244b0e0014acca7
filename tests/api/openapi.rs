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
        ("/api/v1/tasks/{}", &["get", "put", "delete"][..]),
        ("/api/v1/tasks/{}/$execute", &["post"][..]),
        ("/api/v1/tasks/$orphaned", &["get"][..]),
        ("/api/v1/jobs", &["get"][..]),
        ("/api/v1/jobs/{}", &["get", "delete"][..]),
        ("/api/v1/jobs/{}/output", &["get"][..]),
        ("/api/v1/jobs/{}/$stream", &["get"][..]),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_serve_swagger_ui() {
    let app = spawn_app().await;
    let reply = app.get("/docs/").await;
    assert_eq!(reply.status.as_u16(), 200, "GET /docs/: {}", reply.text);
    assert!(reply.content_type().starts_with("text/html"), "content type {:?}", reply.content_type());
    assert!(reply.text.to_lowercase().contains("swagger"), "/docs/ is not Swagger UI: {}", reply.text);
}
