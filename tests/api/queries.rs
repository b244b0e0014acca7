//! Query strings are strict: a parameter a route does not know is refused with 400 `invalid_query` naming it, on
//! every route, instead of being ignored (a misspelt filter would otherwise answer everything).

use reqwest::Method;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_query_parameters_are_refused_on_every_route() {
    let app = spawn_app().await;
    let task = app.task("true").await;
    let task = task["id"].as_str().expect("task id").to_string();
    let job = app.execute_ok(&task, None).await;
    app.wait_job(&job).await;
    let routes = [
        (Method::GET, "/api/v1/tasks".to_string()),
        (Method::POST, "/api/v1/tasks".to_string()),
        (Method::GET, "/api/v1/tasks/$orphaned".to_string()),
        (Method::GET, format!("/api/v1/tasks/{task}")),
        (Method::PUT, format!("/api/v1/tasks/{task}")),
        (Method::PATCH, format!("/api/v1/tasks/{task}")),
        (Method::POST, format!("/api/v1/tasks/{task}/$execute")),
        (Method::GET, "/api/v1/jobs".to_string()),
        (Method::GET, format!("/api/v1/jobs/{job}")),
        (Method::GET, format!("/api/v1/jobs/{job}/output")),
        (Method::GET, format!("/api/v1/jobs/{job}/$stream")),
        (Method::GET, "/api/v1/nodes".to_string()),
        (Method::GET, "/health".to_string()),
        (Method::GET, "/metrics".to_string()),
        (Method::DELETE, format!("/api/v1/jobs/{job}")),
        (Method::DELETE, format!("/api/v1/tasks/{task}")),
    ];
    for (method, path) in routes {
        let request = app.request(method.clone(), &format!("{path}?statsu=failed"));
        let request = if method == Method::GET || method == Method::DELETE {
            request
        } else {
            request.json(&serde_json::json!({ "command": "true" }))
        };
        let reply = crate::helpers::Reply::send(request).await;
        let problem = reply.expect_problem(400, "invalid_query", &format!("{method} {path}?statsu=failed"));
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("statsu"), "{method} {path}: the detail names the parameter: {detail}");
    }
    // Nothing was done: the task and job are still there.
    app.get_task(&task).await.expect(200, "the task survived the refused DELETE");
}

/// A negative `after_seq` is refused like any other value out of range, not taken for 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_after_seq_is_refused() {
    let app = spawn_app().await;
    let run = app.run("echo one").await;
    let problem = app.get(&format!("/api/v1/jobs/{}/output?after_seq=-1", run.job_id)).await.expect_problem(
        400,
        "invalid_query",
        "after_seq=-1",
    );
    assert!(problem["detail"].as_str().unwrap_or_default().contains("after_seq"), "{problem}");
    let page = app.get(&format!("/api/v1/jobs/{}/output?after_seq=0", run.job_id)).await.expect(200, "after_seq=0");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
}

/// A value that does not parse names its parameter in the answer, whatever serde's own message says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_does_not_parse_names_its_parameter() {
    let app = spawn_app().await;
    let run = app.run("echo one").await;
    let job = &run.job_id;
    for (path, name) in [
        ("/api/v1/tasks?size=-1".to_string(), "size"),
        ("/api/v1/tasks?size=".to_string(), "size"),
        ("/api/v1/jobs?size=99999999999999999999".to_string(), "size"),
        ("/api/v1/jobs?page=5.0".to_string(), "page"),
        ("/api/v1/nodes?size=%00".to_string(), "size"),
        ("/api/v1/tasks/$orphaned?reason=x".to_string(), "reason"),
        (format!("/api/v1/jobs/{job}/output?stream=x"), "stream"),
        (format!("/api/v1/jobs/{job}/output?after_seq=99999999999999999999"), "after_seq"),
        (format!("/api/v1/jobs/{job}/output?limit=ten"), "limit"),
    ] {
        let problem = app.get(&path).await.expect_problem(400, "invalid_query", &path);
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(&format!("{name}: ")), "{path}: the detail names `{name}`: {detail}");
    }
}
