//! `DELETE /api/v1/jobs/{id}`: a finished job goes with its output (204); one that has not finished is canceled,
//! as `$cancel` does (202), and a second `DELETE` once it has finished removes it.
use crate::helpers::{spawn_app, str_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_is_deleted_with_its_output() {
    let app = spawn_app().await;
    let done = app.run("echo gone").await;
    let kept = app.run("echo kept").await;
    assert_eq!(app.all_output(&done.job_id, "both", 100).await.len(), 1, "the line was stored");

    let reply = app.delete_job(&done.job_id).await;
    assert_eq!(reply.status, 204, "DELETE a finished job: {}", reply.text);
    app.get_job(&done.job_id).await.expect_problem(404, "job_not_found", "GET a deleted job");
    app.output(&done.job_id, "").await.expect_problem(404, "job_not_found", "output of a deleted job");
    app.delete_job(&done.job_id).await.expect_problem(404, "job_not_found", "DELETE it again");
    // Only that job went.
    let jobs = app.list_jobs("").await.expect(200, "list");
    let ids: Vec<&str> = jobs.as_array().expect("array").iter().map(|j| str_of(j, "id")).collect();
    assert_eq!(ids, [kept.job_id.as_str()]);
    assert_eq!(app.all_output(&kept.job_id, "both", 100).await.len(), 1, "the other job's output stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_canceled_first_and_deleted_once_it_has_finished() {
    let app = spawn_app().await;
    let task = app.task("sleep 30").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let mut stream = app.stream(&job_id, None).await;
    stream.until_status("running").await;

    let reply = app.delete_job(&job_id).await.expect(202, "DELETE a running job");
    assert_eq!(reply["id"], job_id.as_str(), "it answers with the job, being canceled");
    let last = stream.until_done().await;
    assert_eq!(last.last().and_then(|e| e.job()).expect("final record")["status"], "canceled");
    app.get_job(&job_id).await.expect(200, "still there once canceled");

    assert_eq!(app.delete_job(&job_id).await.status, 204, "the second DELETE removes it");
    app.get_job(&job_id).await.expect_problem(404, "job_not_found", "gone");
}
