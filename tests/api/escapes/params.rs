//! Execute parameters reach a process only as the task's schema allows, and never as an option of its program.

use serde_json::{Value, json};

use super::{job_count, start, temp_dir};
use crate::helpers::str_of;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execute_parameter_never_becomes_an_option() {
    let dir = temp_dir();
    let (_server, app) = start(&dir, &["--allow", "date", "--allow", "echo", "--allow", "tar"], &[]).await;
    let task = app.create_task_ok(json!({ "command": "date -u {fmt}", "params": { "fmt": "+%Y" } })).await;
    let id = str_of(&task, "id");
    for value in
        ["-f/etc/passwd", "-f", "--file=/etc/passwd", "-r/etc/passwd", "--reference=/etc/passwd", "-s00:00", "--"]
    {
        let problem = app.execute(id, Some(&json!({ "params": { "fmt": value } }))).await.expect_problem(
            400,
            "invalid_param",
            value,
        );
        assert!(str_of(&problem, "detail").contains("'fmt'"), "{value}: {problem}");
    }
    assert_eq!(job_count(&app).await, 0, "no refused execute queued a job");
    let run = app.run_task(&task, Some(json!({ "fmt": "+%s" }))).await;
    assert_eq!(run.job["status"], "completed");
    assert!(run.stdout()[0].chars().all(|c| c.is_ascii_digit()), "{:?}", run.stdout());

    // An empty value before the template's own dash puts the dash first: refused too.
    let dashed = app.create_task_ok(json!({ "command": "echo {a}-{b}", "params": { "a": "report", "b": "v1" } })).await;
    let problem = app
        .execute(str_of(&dashed, "id"), Some(&json!({ "params": { "a": "", "b": "e" } })))
        .await
        .expect_problem(400, "invalid_param", "an empty value before a literal dash");
    assert!(str_of(&problem, "detail").contains("'a'"), "{problem}");
    assert_eq!(app.run_task(&dashed, None).await.stdout(), ["report-v1"]);

    // A value inside an argument is just bytes there.
    let inside = app.create_task_ok(json!({ "command": "echo x{v} --v={v}" })).await;
    assert_eq!(app.run_task(&inside, Some(json!({ "v": "-f" }))).await.stdout(), ["x-f --v=-f"]);

    // tar reads its first argument as options, dash or not (`cIf` would run a command through a shell): a
    // parameter there must be declared, and an enum keeps it to the modes the author means.
    let archive = dir.path().join("a").display().to_string();
    let tar_command = format!("tar {{mode}} {archive}.tar -C / etc/hostname");
    let problem = app.create_task(&json!({ "command": tar_command, "params": { "mode": "cf" } })).await.expect_problem(
        422,
        "validation_failed",
        "tar's option position undeclared",
    );
    assert!(str_of(&problem, "detail").contains("'mode'"), "{problem}");
    let tar = app
        .create_task_ok(json!({
            "command": tar_command, "params": { "mode": "cf" }, "option_params": ["mode"],
            "params_schema": { "properties": { "mode": { "enum": ["cf", "tf"] } } }
        }))
        .await;
    app.execute(str_of(&tar, "id"), Some(&json!({ "params": { "mode": "cIf" } }))).await.expect_problem(
        400,
        "invalid_param",
        "a tar mode outside the enum",
    );

    // A stored default is held to the same rule, and a task may declare a parameter that carries options.
    app.create_task(&json!({ "command": "date {fmt}", "params": { "fmt": "-f/etc/passwd" } })).await.expect_problem(
        422,
        "validation_failed",
        "an option as a stored default",
    );
    app.create_task(&json!({ "command": "date {fmt}", "option_params": ["other"] })).await.expect_problem(
        422,
        "validation_failed",
        "option_params naming no placeholder",
    );
    let flags = app.create_task_ok(json!({ "command": "date {flag} +%Y", "option_params": ["flag"] })).await;
    assert_eq!(flags["option_params"], json!(["flag"]));
    let run = app.run_task(&flags, Some(json!({ "flag": "-u" }))).await;
    assert_eq!(run.job["status"], "completed", "{}", run.job);
}

/// A chain of `anyOf`s over `$ref`s, each link doubling the work of checking a value.
fn fan_out(links: usize) -> Value {
    let mut defs = serde_json::Map::new();
    for i in 0..links {
        let next = json!({ "$ref": format!("#/$defs/d{}", i + 1) });
        defs.insert(format!("d{i}"), json!({ "anyOf": [next.clone(), next] }));
    }
    defs.insert(format!("d{links}"), json!({ "type": "integer" }));
    json!({ "$defs": defs, "properties": { "x": { "$ref": "#/$defs/d0" } } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_checked_against_the_task_schema() {
    let dir = temp_dir();
    let (_server, app) = start(&dir, &[], &[]).await;
    let schema = json!({
        "type": "object",
        "properties": {
            "n": { "type": "integer", "minimum": 1, "maximum": 5, "default": 2 },
            "mode": { "type": "string", "enum": ["fast", "full"] },
            "tag": { "type": "string", "pattern": "^[a-z]+$", "maxLength": 8 }
        },
        "required": ["mode"],
        "additionalProperties": false
    });
    let task = app.create_task_ok(json!({ "command": "echo {n} {mode}", "params_schema": schema })).await;
    assert_eq!(task["params_schema"], schema, "the schema is returned with the task");
    let id = str_of(&task, "id");
    assert_eq!(app.run_task(&task, Some(json!({ "mode": "full" }))).await.stdout(), ["2 full"], "schema default");
    for (params, named) in [
        (json!({ "mode": "slow" }), "mode"),
        (json!({ "mode": "fast", "n": 9 }), "n"),
        (json!({ "mode": "fast", "n": "3" }), "n"),
        (json!({ "mode": "fast", "tag": "Bad!" }), "tag"),
        (json!({ "mode": "fast", "extra": 1 }), "extra"),
        (json!({ "n": 3 }), "mode"),
    ] {
        let body = json!({ "params": params });
        let problem = app.execute(id, Some(&body)).await.expect_problem(400, "invalid_param", &body.to_string());
        assert!(str_of(&problem, "detail").contains(named), "{body}: {problem}");
    }
    assert_eq!(job_count(&app).await, 1, "only the valid execute queued a job");

    for (bad, why) in [
        (json!({ "command": "echo {n}", "params_schema": "integer" }), "not an object"),
        (json!({ "command": "echo {n}", "params_schema": { "type": "nope" } }), "invalid schema"),
        (json!({ "command": "echo {n}", "params_schema": { "$ref": "http://127.0.0.1:9/s.json" } }), "remote ref"),
        (json!({ "command": "echo {n}", "params_schema": { "$ref": "file:///etc/passwd" } }), "file ref"),
        (json!({ "command": "echo {n}", "params": { "n": 7 }, "params_schema": schema }), "default out of range"),
        (json!({ "command": "echo {n}", "params_schema": fan_out(24) }), "a schema too costly to check"),
    ] {
        app.create_task(&bad).await.expect_problem(422, "validation_failed", why);
    }
    // An update is checked as a whole: a schema the stored defaults do not fit is refused.
    let plain = app.create_task_ok(json!({ "command": "echo {n}", "params": { "n": 9 } })).await;
    app.update_task(str_of(&plain, "id"), &json!({ "params_schema": schema })).await.expect_problem(
        422,
        "validation_failed",
        "schema over stored defaults",
    );
    let cleared = app.update_task(id, &json!({ "params_schema": null })).await.expect(200, "clear the schema");
    assert_eq!(cleared["params_schema"], Value::Null);
}
