//! Every task route takes the task's unique name wherever it takes its id.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{fresh_ulid, spawn_app, str_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_routes_take_a_name_as_well_as_an_id() {
    let app = spawn_app().await;
    let task =
        app.create_task_ok(json!({"name": "nightly-report", "command": "echo {what}", "params": {"what": "x"}})).await;
    let id = str_of(&task, "id");

    assert_eq!(app.get_task("nightly-report").await.expect(200, "get by name")["id"], id);
    let updated = app.update_task("nightly-report", &json!({"params": {"what": "report"}})).await;
    assert_eq!(updated.expect(200, "update by name")["params"], json!({"what": "report"}));
    let reply = app
        .send_json(Method::PATCH, "/api/v1/tasks/nightly-report", &json!({"tags": ["nightly"]}))
        .await
        .expect(200, "patch by name");
    assert_eq!(reply["tags"], json!(["nightly"]));

    let job = app.execute_ok("nightly-report", None).await;
    let done = app.wait_job(&job).await;
    assert_eq!(done["task_id"], id);
    assert_eq!(done["argv"], json!(["echo", "report"]));

    // Idempotency keys work by name as by id: the same key through either gives the same job.
    let keyed = |at: &'static str| {
        let app = &app;
        async move {
            let reply = app
                .request(Method::POST, &format!("/api/v1/tasks/{at}/$execute"))
                .header("Idempotency-Key", "k-1")
                .send()
                .await
                .expect("execute");
            reply.json::<serde_json::Value>().await.expect("json")["job_id"].clone()
        }
    };
    let by_name = keyed("nightly-report").await;
    let id_path: &'static str = Box::leak(id.to_string().into_boxed_str());
    assert_eq!(keyed(id_path).await, by_name, "the key is the task's, whichever way it is named");

    app.get_task("no-such-task").await.expect_problem(404, "task_not_found", "unknown name");
    app.execute("no-such-task", None).await.expect_problem(404, "task_not_found", "execute an unknown name");
    app.get_task("-bad name").await.expect_problem(400, "invalid_id", "neither an id nor a name");
    app.get_task(&fresh_ulid()).await.expect_problem(404, "task_not_found", "unknown id");

    app.delete_task("nightly-report").await.expect(204, "delete by name");
    app.get_task(id).await.expect_problem(404, "task_not_found", "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_of_the_form_of_an_id_is_refused() {
    let app = spawn_app().await;
    let ulid_like = fresh_ulid();
    let reply = app.create_task(&json!({"name": ulid_like, "command": "echo"})).await;
    let problem = reply.expect_problem(422, "validation_failed", "a name that is an id");
    assert!(problem["detail"].as_str().unwrap().contains("form of a task id"), "{problem}");
    let task = app.task("echo").await;
    app.update_task(str_of(&task, "id"), &json!({"name": ulid_like})).await.expect_problem(
        422,
        "validation_failed",
        "rename to an id",
    );
}
