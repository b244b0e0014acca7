//! `GET /tasks/$orphaned`: tasks that never ran or cannot run. (`lost` needs a crash: see `restart`.)

use serde_json::{Value, json};

use crate::helpers::{TASK_KEYS, assert_keys, spawn_app, spawn_app_with, str_of};

/// The orphan list, checked for shape; every entry's reason must be `reason` when filtering.
async fn orphans(app: &crate::helpers::TestApp, reason: Option<&str>) -> Vec<Value> {
    let query = reason.map(|r| format!("?reason={r}")).unwrap_or_default();
    let body = app.orphaned(&query).await.expect(200, &format!("$orphaned{query}"));
    let list = body["orphaned_tasks"].as_array().unwrap_or_else(|| panic!("no orphaned_tasks array: {body}")).clone();
    assert_eq!(body["count"], list.len(), "$orphaned{query}: count");
    for entry in &list {
        assert_keys(entry, TASK_KEYS, "orphan entry");
        if let Some(reason) = reason {
            assert_eq!(entry["reason"], reason, "$orphaned{query}: {entry}");
        }
    }
    list
}

fn reasons_for(list: &[Value], task: &Value) -> Vec<String> {
    list.iter().filter(|entry| entry["id"] == task["id"]).map(|entry| str_of(entry, "reason").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_run_lists_enabled_tasks_without_jobs() {
    let app = spawn_app().await;
    let idle = app.task("echo idle").await;
    let ran = app.run("echo ran").await.task;
    let disabled = app.create_task_ok(json!({ "command": "echo off", "enabled": false })).await;

    let never_run = orphans(&app, Some("never_run")).await;
    assert_eq!(reasons_for(&never_run, &idle), ["never_run"], "the idle task");
    assert!(reasons_for(&never_run, &ran).is_empty(), "a task that ran is not never_run");
    assert!(reasons_for(&never_run, &disabled).is_empty(), "a disabled task is not an orphan");
    let entry = never_run.iter().find(|e| e["id"] == idle["id"]).expect("idle entry");
    assert_eq!(entry["command"], "echo idle", "entries are whole tasks");

    let all = orphans(&app, None).await;
    assert_eq!(reasons_for(&all, &idle), ["never_run"]);
    assert!(reasons_for(&all, &ran).is_empty(), "{all:?}");
    assert!(reasons_for(&all, &disabled).is_empty(), "{all:?}");

    assert!(orphans(&app, Some("lost")).await.is_empty(), "nothing was lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_missing_from_path_is_not_runnable() {
    let app = spawn_app_with(|s| s.allow.push("definitely-not-a-program-xyz".into())).await;
    let missing = app.run("definitely-not-a-program-xyz --go").await;
    assert_eq!(missing.job["outcome"], "spawn_error");
    let fine = app.run("echo fine").await.task;

    let not_runnable = orphans(&app, Some("not_runnable")).await;
    assert_eq!(reasons_for(&not_runnable, &missing.task), ["not_runnable"]);
    assert!(reasons_for(&not_runnable, &fine).is_empty(), "{not_runnable:?}");
    assert!(
        reasons_for(&orphans(&app, None).await, &missing.task).contains(&"not_runnable".to_string()),
        "the unfiltered list has it too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_dropped_from_the_allow_list_is_not_runnable() {
    let first = spawn_app().await;
    let printer = first.run("printf '%s\\n' hello").await.task;
    let echo = first.run("echo still allowed").await.task;
    assert!(orphans(&first, Some("not_runnable")).await.is_empty());

    // The same database, served with an allow-list that no longer has printf.
    let second = first.reopen_with(|s| s.allow.retain(|p| p != "printf")).await;
    drop(first);

    let not_runnable = orphans(&second, Some("not_runnable")).await;
    assert_eq!(reasons_for(&not_runnable, &printer), ["not_runnable"]);
    assert!(reasons_for(&not_runnable, &echo).is_empty(), "{not_runnable:?}");

    let problem = second.execute(str_of(&printer, "id"), None).await.expect_problem(
        422,
        "program_not_allowed",
        "execute a task whose program was dropped",
    );
    assert!(str_of(&problem, "detail").contains("printf"), "{problem}");
    assert_eq!(second.run_task(&echo, None).await.stdout(), ["still allowed"]);
}
