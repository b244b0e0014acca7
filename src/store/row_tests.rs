//! Rows that do not make a valid domain value are reported as corrupt when read, never passed on. (An empty argv
//! is a valid record that cannot run: the runner ends such a job `spawn_error`, see the API test of it.)
use sea_orm::{ConnectionTrait, Statement};

use super::fault_tests::{sqlite_store, task};
use crate::domain::{Job, now_ms};
use crate::wire::state_event;

#[tokio::test]
async fn a_status_that_does_not_exist_is_no_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_store(dir.path()).await;
    let now = now_ms();
    let job = Job::pending(&task(0), vec!["true".into()], now, now, None);
    store.jobs().create(&job, &[state_event(&job, now)], 0).await.expect("create the job");
    let sql = format!("UPDATE jobs SET status = 'done' WHERE id = '{}'", job.id);
    store.write.execute_raw(Statement::from_string(store.write.get_database_backend(), sql)).await.expect("update");

    let read = store.jobs().get(job.id).await;
    assert!(read.is_err(), "a row in an unknown status must not read as a job: {read:?}");
}

#[tokio::test]
async fn an_id_that_is_not_a_ulid_is_no_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_store(dir.path()).await;
    let task = task(0);
    store.tasks().insert(&task).await.expect("insert the task");
    let sql = format!("UPDATE tasks SET id = 'not-a-ulid' WHERE id = '{}'", task.id);
    store.write.execute_raw(Statement::from_string(store.write.get_database_backend(), sql)).await.expect("update");

    let read = store.tasks().after(crate::store::Keyset { after: None, limit: 10 }).await;
    assert!(read.is_err(), "a row whose id is not a ULID must not read as a task: {read:?}");
}
