//! Parameters: `{name}` placeholders, overrides, literal braces, and values that must never reach a shell.

use serde_json::json;

use crate::helpers::{spawn_app, str_of};

/// Prints each argument after the format on its own line, byte for byte.
const PRINT_MSG: &str = "printf '%s\\n' {msg}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_params_fill_placeholders_and_execute_params_override_them() {
    let app = spawn_app().await;
    let task = app.create_task_ok(json!({ "command": PRINT_MSG, "params": { "msg": "stored value" } })).await;

    let stored = app.run_task(&task, None).await;
    assert_eq!(stored.stdout(), ["stored value"]);
    assert_eq!(stored.job["argv"], json!(["printf", "%s\\n", "stored value"]));

    let overridden = app.run_task(&task, Some(json!({ "msg": "from execute" }))).await;
    assert_eq!(overridden.stdout(), ["from execute"], "execute params win");
    assert_eq!(overridden.job["argv"], json!(["printf", "%s\\n", "from execute"]));

    let fetched = app.get_task(str_of(&task, "id")).await.expect(200, "get task");
    assert_eq!(fetched["params"], json!({ "msg": "stored value" }), "execute params do not change the task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholders_work_inside_arguments_and_take_any_scalar() {
    let app = spawn_app().await;
    let task = app
        .create_task_ok(json!({
            "command": "printf '%s\\n' pre-{word}-post {n} {flag} {ratio} {{word}} {_under_score9}",
            "params": { "word": "mid", "n": 42, "flag": true, "ratio": 1.5, "_under_score9": "ok" },
        }))
        .await;

    let finished = app.run_task(&task, None).await;
    assert_eq!(
        finished.stdout(),
        ["pre-mid-post", "42", "true", "1.5", "{word}", "ok"],
        "{{{{word}}}} stays a literal {{word}}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn param_values_arrive_as_one_literal_argument() {
    let app = spawn_app().await;
    let canary = app.dir.path().join("canary");
    std::fs::create_dir(&canary).expect("create the canary dir");
    let c = canary.display();
    let task = app.task(PRINT_MSG).await;

    let values = [
        format!("; touch {c}/semicolon #"),
        format!("$(touch {c}/dollar)"),
        format!("`touch {c}/backtick`"),
        format!("&& touch {c}/and"),
        format!("| touch {c}/pipe"),
        format!("\"; touch {c}/double; echo \""),
        format!("'; touch {c}/single; echo '"),
        format!("x\n; touch {c}/newline"),
        "$HOME and ${PATH}".to_string(),
        "*".to_string(),
        "two  spaces\tand a tab".to_string(),
        "back\\slash %s %d".to_string(),
        "{msg}".to_string(),
    ];
    for value in values {
        let finished = app.run_task(&task, Some(json!({ "msg": value.clone() }))).await;
        assert_eq!(finished.job["argv"], json!(["printf", "%s\\n", value.clone()]), "argv for {value:?}");
        let expected: Vec<String> = value.split('\n').map(str::to_string).collect();
        assert_eq!(finished.stdout(), expected, "output for {value:?}");
        assert_eq!(finished.job["status"], "completed", "job for {value:?}");
    }

    let created: Vec<_> = std::fs::read_dir(&canary)
        .expect("read the canary dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(created.is_empty(), "a param value ran as shell code and created {created:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_without_a_value_is_400_missing_param() {
    let app = spawn_app().await;
    let task = app.create_task_ok(json!({ "command": "echo {who} {what_now}", "params": { "who": "me" } })).await;
    let task_id = str_of(&task, "id");

    let problem = app.execute(task_id, None).await.expect_problem(400, "missing_param", "execute without what_now");
    let detail = str_of(&problem, "detail");
    assert!(detail.contains("what_now"), "detail does not name the param: {detail}");

    let jobs = app.list_jobs("").await.expect(200, "list jobs");
    assert_eq!(jobs, json!([]), "a rejected execute creates no job");

    let finished = app.run_task(&task, Some(json!({ "what_now": "runs" }))).await;
    assert_eq!(finished.stdout(), ["me runs"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_scalar_param_is_400_invalid_param() {
    let app = spawn_app().await;
    let task = app.task(PRINT_MSG).await;
    let task_id = str_of(&task, "id");

    for value in [json!({ "a": 1 }), json!(["a"]), json!(null)] {
        app.execute(task_id, Some(&json!({ "params": { "msg": value.clone() } }))).await.expect_problem(
            400,
            "invalid_param",
            &format!("msg = {value}"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_task_cannot_be_executed() {
    let app = spawn_app().await;
    let task = app.create_task_ok(json!({ "command": "echo off", "enabled": false })).await;
    let task_id = str_of(&task, "id");

    app.execute(task_id, None).await.expect_problem(409, "task_disabled", "execute a disabled task");

    app.update_task(task_id, &json!({ "enabled": true })).await.expect(200, "enable it");
    let finished = app.run_task(&task, None).await;
    assert_eq!(finished.stdout(), ["off"]);
}
