//! Job actions beside reading: `$cancel` (what `DELETE` does to a job that has not finished) and `$retry` (a finished job run again as it was
//! submitted).

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Gate, header, spawn_app_with, str_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_runs_a_finished_job_again_as_it_was_submitted() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let task = app
        .create_task_ok(json!({"command": "sh -c 'echo \"$0\"; exit 3' {word}", "params": {"word": "stored"}}))
        .await;
    let task_id = str_of(&task, "id");
    let first = app.execute_ok(task_id, Some(json!({"word": "given"}))).await;
    let failed = app.wait_job(&first).await;
    assert_eq!(failed["status"], "failed");

    // The task changes after the run: the retry still runs what was submitted.
    app.update_task(task_id, &json!({"params": {"word": "changed"}})).await.expect(200, "update the task");
    let reply = app.send_json(Method::POST, &format!("/api/v1/jobs/{first}/$retry"), &json!(null)).await;
    let again = reply.expect(202, "retry a failed job");
    let again_id = str_of(&again, "id");
    assert_ne!(again_id, first, "a retry is a new job");
    assert!(header(&reply.headers, "location").ends_with(&format!("/api/v1/jobs/{again_id}")));
    assert_eq!(again["task_id"], task_id);
    assert_eq!(again["attempt"], 1);
    assert_eq!(again["argv"], failed["argv"], "same argv as the job it retries");

    let done = app.wait_job(again_id).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["exit_code"], 3);
    let output = app.all_output(again_id, "stdout", 100).await;
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["line"], "given", "the retry printed what the first run was given");

    // A completed job can be run again too.
    let ok = app.run("echo fine").await;
    let rerun = app.send_json(Method::POST, &format!("/api/v1/jobs/{}/$retry", ok.job_id), &json!(null)).await;
    let rerun = rerun.expect(202, "retry a completed job");
    assert_eq!(app.wait_job(str_of(&rerun, "id")).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_is_refused_for_a_running_job_a_deleted_or_disabled_task_and_an_unknown_job() {
    let app = spawn_app_with(|s| s.allow.push("sh".into())).await;
    let gate = Gate::new(app.dir.path());
    let task = app.gated_task(&gate, "echo started", "echo done").await;
    let task_id = str_of(&task, "id");
    let job = app.execute_ok(task_id, None).await;
    let mut stream = app.stream(&job, None).await;
    stream.until("the job's first line", |e| e.event == "stdout").await;
    let retry = |id: String| {
        let app = &app;
        async move { app.send_json(Method::POST, &format!("/api/v1/jobs/{id}/$retry"), &json!(null)).await }
    };
    retry(job.clone()).await.expect_problem(409, "job_active", "retry a running job");

    // `$cancel`: the running job ends canceled, and a second cancel says it has finished.
    let canceled =
        app.send_json(Method::POST, &format!("/api/v1/jobs/{job}/$cancel"), &json!(null)).await.expect(202, "$cancel");
    assert_eq!(canceled["id"], job.as_str());
    assert_eq!(app.wait_job(&job).await["status"], "canceled");
    app.send_json(Method::POST, &format!("/api/v1/jobs/{job}/$cancel"), &json!(null)).await.expect_problem(
        409,
        "job_finished",
        "$cancel a finished job",
    );

    app.update_task(task_id, &json!({"enabled": false})).await.expect(200, "disable");
    retry(job.clone()).await.expect_problem(409, "task_disabled", "retry a job of a disabled task");
    app.delete_task(task_id).await.expect(204, "delete the task");
    retry(job.clone()).await.expect_problem(409, "task_gone", "retry a job of a deleted task");

    retry(crate::helpers::fresh_ulid()).await.expect_problem(404, "job_not_found", "retry an unknown job");
    retry("not-an-id".into()).await.expect_problem(400, "invalid_id", "retry with a bad id");
}
