//! Schedules: a task's cron expression and zone, checked at the edge; its next fire, previews, pausing; the jobs
//! its fires make (one per fire); and the `overdue` and `failing` orphan reasons.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{JOB_KEYS, TestApp, assert_keys, ms_between, poll_until, spawn_app, spawn_app_with, str_of};

async fn preview(app: &TestApp, body: &Value, query: &str) -> crate::helpers::Reply {
    app.send_json(Method::POST, &format!("/api/v1/schedules/$preview{query}"), body).await
}

async fn orphan_reasons(app: &TestApp, task: &Value) -> Vec<String> {
    let body = app.orphaned("").await.expect(200, "$orphaned");
    let list = body["orphaned_tasks"].as_array().expect("orphaned_tasks").clone();
    list.iter().filter(|e| e["id"] == task["id"]).map(|e| str_of(e, "reason").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_expression_or_zone_is_refused_naming_its_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({ "cron": "61 * * * *" }), "schedule.cron", "a minute past 59"),
        (json!({ "cron": "* * *" }), "schedule.cron", "three fields"),
        (json!({ "cron": "* * * * * * *" }), "schedule.cron", "seven fields (years are not taken)"),
        (json!({ "cron": "@often" }), "schedule.cron", "an unknown name"),
        (json!({ "cron": "* * * * *", "timezone": "Mars/Olympus" }), "schedule.timezone", "an unknown zone"),
    ];
    for (schedule, field, why) in cases {
        let created = app.create_task(&json!({ "command": "true", "schedule": schedule })).await;
        let problem = created.expect_problem(422, "validation_failed", why);
        assert!(str_of(&problem, "detail").contains(field), "{why}: the detail names {field}: {problem}");
        let previewed = preview(&app, &schedule, "").await.expect_problem(422, "validation_failed", why);
        assert!(str_of(&previewed, "detail").contains(field), "{why}: the preview names {field}: {previewed}");
    }
    let unknown = app.create_task(&json!({ "command": "true", "schedule": { "cron": "* * * * *", "every": 5 } })).await;
    assert_eq!(unknown.status.as_u16() / 100, 4, "an unknown schedule field is refused: {}", unknown.text);
    let task = app.task("true").await;
    let none = app.get(&format!("/api/v1/tasks/{}/$schedule", str_of(&task, "id"))).await;
    none.expect_problem(409, "task_not_scheduled", "the preview of an unscheduled task");
    let bad_count = preview(&app, &json!({ "cron": "@hourly" }), "?count=0").await;
    bad_count.expect_problem(400, "invalid_query", "count 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_shows_its_next_fire_which_pausing_clears_and_editing_recomputes() {
    let app = spawn_app().await;
    let schedule = json!({ "cron": "0 9 * * *", "timezone": "Europe/Paris" });
    let task = app.create_task_ok(json!({ "command": "true", "schedule": schedule })).await;
    let id = str_of(&task, "id");
    assert_eq!(
        task["schedule"],
        json!({ "cron": "0 9 * * *", "timezone": "Europe/Paris", "overlap": "allow", "missed": "skip" }),
        "the schedule is shown with its defaults"
    );
    let fires = app.get(&format!("/api/v1/tasks/{id}/$schedule?count=3")).await.expect(200, "$schedule");
    assert_eq!(fires["timezone"], "Europe/Paris");
    let utc: Vec<&Value> = fires["fires"].as_array().expect("fires").iter().collect();
    let local: Vec<&str> = fires["local"].as_array().expect("local").iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(utc.len(), 3, "{fires}");
    assert_eq!(task["next_run_at"], *utc[0], "next_run_at is the first fire");
    for pair in utc.windows(2) {
        assert_eq!(ms_between(pair[0], pair[1]), 24 * 3600 * 1000, "daily fires: {fires}");
    }
    assert!(local.iter().all(|t| t.contains("T09:00:00+0")), "09:00 in Paris: {local:?}");

    let paused = app.update_task(id, &json!({ "enabled": false })).await.expect(200, "disable");
    assert_eq!(paused["next_run_at"], Value::Null, "a disabled task's schedule is paused");
    let resumed = app.update_task(id, &json!({ "enabled": true })).await.expect(200, "enable");
    assert_eq!(resumed["next_run_at"], *utc[0], "enabled again, it goes on with the next fire");
    let hourly = app.update_task(id, &json!({ "schedule": { "cron": "@hourly" } })).await.expect(200, "edit");
    let next = str_of(&hourly, "next_run_at");
    assert!(next.ends_with(":00:00.000Z"), "an edit recomputes next_run_at: {next}");
    assert!(ms_between(&hourly["updated_at"], &hourly["next_run_at"]) <= 3600 * 1000, "{hourly}");
    let cleared = app.update_task(id, &json!({ "schedule": null })).await.expect(200, "clear");
    assert_eq!((cleared["schedule"].clone(), cleared["next_run_at"].clone()), (Value::Null, Value::Null));

    let unsaved = preview(&app, &json!({ "cron": "*/20 * * * * *" }), "?count=4").await.expect(200, "preview");
    let fires: Vec<&Value> = unsaved["fires"].as_array().expect("fires").iter().collect();
    assert_eq!(fires.len(), 4);
    for pair in fires.windows(2) {
        assert_eq!(ms_between(pair[0], pair[1]), 20_000, "a 6-field expression counts seconds: {unsaved}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_second_schedule_makes_one_job_per_fire_and_execute_says_api() {
    let app = spawn_app().await;
    let task = app.create_task_ok(json!({ "command": "echo tick", "schedule": { "cron": "* * * * * *" } })).await;
    let id = str_of(&task, "id").to_string();
    let jobs = poll_until("three scheduled jobs", Duration::from_secs(15), async || {
        let list = app.list_jobs(&format!("?task_id={id}")).await.expect(200, "jobs of the task");
        let list = list.as_array().cloned().unwrap_or_default();
        if list.len() >= 3 { Ok(list) } else { Err(format!("{} jobs", list.len())) }
    })
    .await;
    app.update_task(&id, &json!({ "enabled": false })).await.expect(200, "pause");
    let mut fires: Vec<String> = Vec::new();
    for job in &jobs {
        assert_keys(job, JOB_KEYS, "a scheduled job");
        assert_eq!(job["trigger"], "schedule", "{job}");
        let fire = str_of(job, "scheduled_for").to_string();
        assert!(fire.ends_with(".000Z"), "fires are whole seconds: {fire}");
        fires.push(fire);
        let done = app.wait_job(str_of(job, "id")).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    let mut distinct = fires.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), fires.len(), "one job per fire: {fires:?}");
    for pair in distinct.windows(2) {
        assert_eq!(ms_between(&json!(pair[0]), &json!(pair[1])), 1000, "a job every second: {distinct:?}");
    }

    let manual = app.run("echo manual").await.job;
    assert_eq!((manual["trigger"].clone(), manual["scheduled_for"].clone()), (json!("api"), Value::Null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_schedule_goes_overdue_and_repeated_failures_are_failing() {
    let app = spawn_app_with(|s| {
        s.overdue_grace_seconds = 1;
        s.failing_runs = 2;
    })
    .await;
    let body = json!({ "command": "true", "enabled": false, "schedule": { "cron": "* * * * * *" } });
    let paused = app.create_task_ok(body).await;
    poll_until("the paused schedule to be overdue", Duration::from_secs(10), async || {
        match orphan_reasons(&app, &paused).await {
            reasons if reasons == ["overdue"] => Ok(()),
            reasons => Err(format!("{reasons:?}")),
        }
    })
    .await;
    let only = app.orphaned("?reason=overdue").await.expect(200, "$orphaned?reason=overdue");
    assert_eq!(only["count"], 1, "{only}");
    // Each overdue fire is recorded once, for whatever reports it.
    let db = sea_orm::Database::connect(app.db.url()).await.expect("open the test database");
    let task_id: entity::overdue_fire::TaskId = str_of(&paused, "id").parse().expect("task id");
    let recorded = poll_until("two overdue fires recorded", Duration::from_secs(10), async || {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let rows = entity::overdue_fire::Entity::find()
            .filter(entity::overdue_fire::Column::TaskId.eq(task_id))
            .all(&db)
            .await
            .map_err(|e| e.to_string())?;
        if rows.len() >= 2 { Ok(rows) } else { Err(format!("{rows:?}")) }
    })
    .await;
    assert!(
        recorded.iter().all(|r| r.scheduled_for % 1000 == 0 && r.found_at >= r.scheduled_for + 1000),
        "{recorded:?}"
    );

    let flaky = app.task("false").await;
    let first = app.run_task(&flaky, None).await;
    assert_eq!(first.job["status"], "failed");
    assert!(orphan_reasons(&app, &flaky).await.is_empty(), "one failure of two is not failing yet");
    app.run_task(&flaky, None).await;
    assert_eq!(orphan_reasons(&app, &flaky).await, ["failing"], "two failures in a row");
    let fine = app.task("true").await;
    app.run_task(&fine, None).await;
    app.run_task(&fine, None).await;
    assert!(orphan_reasons(&app, &fine).await.is_empty(), "a task that succeeds is not failing");
}
