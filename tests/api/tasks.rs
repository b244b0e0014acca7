//! Task CRUD: create, read, list (plain and paginated), partial update, delete, allow-list and name checks.

use serde_json::{Value, json};

use crate::helpers::{TASK_KEYS, assert_keys, assert_ulid, fresh_ulid, ids_of, spawn_app, str_of, utc_time};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_task_returns_201_with_defaults_and_get_returns_it() {
    let app = spawn_app().await;

    let task = app.create_task(&json!({ "command": "echo hello" })).await.expect(201, "create a minimal task");

    assert_keys(&task, TASK_KEYS, "created task");
    assert_ulid(&task["id"], "task id");
    assert_eq!(task["command"], "echo hello");
    assert_eq!(task["name"], Value::Null);
    assert_eq!(task["enabled"], true, "enabled defaults to true");
    assert_eq!(task["params"], json!({}));
    assert_eq!(task["env"], json!({}));
    assert_eq!(task["cwd"], Value::Null);
    assert_eq!(task["timeout_seconds"], Value::Null);
    assert_eq!(task["tags"], json!([]));
    let created = utc_time(&task["created_at"], "created_at");
    let updated = utc_time(&task["updated_at"], "updated_at");
    assert!(updated >= created, "updated_at {updated} before created_at {created}");

    let fetched = app.get_task(str_of(&task, "id")).await.expect(200, "get the created task");
    assert_eq!(fetched, task, "GET returns what POST returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_task_keeps_every_field() {
    let app = spawn_app().await;
    let cwd = app.dir.path().display().to_string();
    let body = json!({
        "name": "nightly-report_v1.2",
        "command": "printf '%s\\n' {greeting}",
        "enabled": false,
        "params": { "greeting": "hi", "count": 3, "loud": true },
        "env": { "REPORT_MODE": "full" },
        "cwd": cwd,
        "timeout_seconds": 90,
        "tags": ["nightly", "reports"],
    });

    let task = app.create_task(&body).await.expect(201, "create a full task");

    for key in ["name", "command", "enabled", "params", "env", "cwd", "timeout_seconds", "tags"] {
        assert_eq!(task[key], body[key], "field {key} was not kept");
    }
    let fetched = app.get_task(str_of(&task, "id")).await.expect(200, "get");
    assert_eq!(fetched, task);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_tasks_is_a_plain_array_oldest_first() {
    let app = spawn_app().await;
    let empty = app.list_tasks("").await.expect(200, "list with no tasks");
    assert_eq!(empty, json!([]), "no tasks yet");

    let mut created = Vec::new();
    for word in ["one", "two", "three"] {
        let task = app.task(&format!("echo {word}")).await;
        created.push(str_of(&task, "id").to_string());
    }

    let list = app.list_tasks("").await.expect(200, "list tasks");
    assert!(list.is_array(), "GET /tasks without page/size is a plain array: {list}");
    assert_eq!(ids_of(&list), created, "oldest first");
    assert_eq!(list[1]["command"], "echo two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_tasks_paginates_with_items_total_page_size_pages() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for n in 0..5 {
        let task = app.task(&format!("echo {n}")).await;
        created.push(str_of(&task, "id").to_string());
    }

    let mut paged = Vec::new();
    for (page, expected_len) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let query = format!("?page={page}&size=2");
        let body = app.list_tasks(&query).await.expect(200, &query);
        assert_eq!(body["total"], 5, "{query}: total");
        assert_eq!(body["page"], page, "{query}: page");
        assert_eq!(body["size"], 2, "{query}: size");
        assert_eq!(body["pages"], 3, "{query}: pages");
        let items = ids_of(&body["items"]);
        assert_eq!(items.len(), expected_len, "{query}: number of items");
        paged.extend(items);
    }
    assert_eq!(paged, created, "pages together are the plain list, oldest first");

    let one_page = app.list_tasks("?page=1&size=1000").await.expect(200, "size=1000 is allowed");
    assert_eq!(one_page["pages"], 1);
    assert_eq!(ids_of(&one_page["items"]), created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_updates_only_the_given_fields() {
    let app = spawn_app().await;
    let original = app
        .create_task_ok(json!({
            "name": "backup",
            "command": "echo backing up",
            "params": { "a": 1 },
            "env": { "K": "v" },
            "timeout_seconds": 30,
            "tags": ["ops"],
        }))
        .await;
    let id = str_of(&original, "id").to_string();

    let disabled = app.update_task(&id, &json!({ "enabled": false })).await.expect(200, "disable the task");
    assert_eq!(disabled["enabled"], false);
    for key in ["id", "name", "command", "params", "env", "cwd", "timeout_seconds", "tags", "created_at"] {
        assert_eq!(disabled[key], original[key], "PUT {{enabled}} changed {key}");
    }
    let created = utc_time(&disabled["created_at"], "created_at");
    assert!(utc_time(&disabled["updated_at"], "updated_at") >= created);

    let renamed = app
        .update_task(&id, &json!({ "command": "true", "tags": ["ops", "daily"] }))
        .await
        .expect(200, "change command and tags");
    assert_eq!(renamed["command"], "true");
    assert_eq!(renamed["tags"], json!(["ops", "daily"]));
    assert_eq!(renamed["enabled"], false, "the earlier update stays");
    assert_eq!(renamed["name"], "backup");

    let unnamed = app.update_task(&id, &json!({ "name": null })).await.expect(200, "clear the name");
    assert_eq!(unnamed["name"], Value::Null, "name: null clears it");
    assert_eq!(unnamed["command"], "true");

    let fetched = app.get_task(&id).await.expect(200, "get after updates");
    assert_eq!(fetched, unnamed, "GET shows the last update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_validates_like_create_and_leaves_the_task_unchanged() {
    let app = spawn_app().await;
    let task = app.task("echo safe").await;
    let id = str_of(&task, "id");

    let cases = [
        (json!({ "command": "rm -f /tmp/none" }), 422, "program_not_allowed"),
        (json!({ "command": "echo 'open" }), 422, "invalid_command"),
        (json!({ "timeout_seconds": 0 }), 422, "validation_failed"),
        (json!({ "name": "has space" }), 422, "validation_failed"),
        (json!({ "colour": "red" }), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        app.update_task(id, &body).await.expect_problem(status, code, &format!("PUT {body}"));
    }

    let fetched = app.get_task(id).await.expect(200, "get after rejected updates");
    assert_eq!(fetched, task, "rejected updates changed nothing");

    app.update_task(&fresh_ulid(), &json!({ "enabled": false })).await.expect_problem(
        404,
        "task_not_found",
        "PUT an unknown task",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_task_but_keeps_its_jobs() {
    let app = spawn_app().await;
    let finished = app.run("echo before delete").await;
    let id = str_of(&finished.task, "id");

    let reply = app.delete_task(id).await;
    assert_eq!(reply.status.as_u16(), 204, "delete: {}", reply.text);
    assert!(reply.text.is_empty(), "204 has no body: {:?}", reply.text);

    app.get_task(id).await.expect_problem(404, "task_not_found", "GET a deleted task");
    app.delete_task(id).await.expect_problem(404, "task_not_found", "DELETE a deleted task");
    let list = app.list_tasks("").await.expect(200, "list");
    assert_eq!(list, json!([]), "the deleted task is not listed");

    let jobs = app.list_jobs(&format!("?task_id={id}")).await.expect(200, "jobs of the deleted task");
    assert_eq!(ids_of(&jobs), vec![finished.job_id.clone()]);
    let job = app.get_job_ok(&finished.job_id).await;
    assert_eq!(job["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_rejects_programs_not_on_the_allow_list() {
    let app = spawn_app().await;

    for (command, program) in [
        ("rm -f /tmp/taskyard-never", "rm"),
        ("/bin/echo absolute paths are not the allowed name", "/bin/echo"),
        ("curl http://example.invalid", "curl"),
    ] {
        let problem =
            app.create_task(&json!({ "command": command })).await.expect_problem(422, "program_not_allowed", command);
        let detail = str_of(&problem, "detail");
        assert!(detail.contains(program), "detail for {command:?} does not name {program:?}: {detail}");
        assert!(
            detail.contains("--allow") || detail.contains("TASKYARD_ALLOW"),
            "detail for {command:?} does not say how to allow it: {detail}"
        );
    }

    let list = app.list_tasks("").await.expect(200, "list");
    assert_eq!(list, json!([]), "rejected tasks were not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique() {
    let app = spawn_app().await;
    app.create_task_ok(json!({ "name": "deploy", "command": "echo a" })).await;
    app.create_task(&json!({ "name": "deploy", "command": "echo b" })).await.expect_problem(
        409,
        "name_taken",
        "create with a taken name",
    );

    let other = app.create_task_ok(json!({ "name": "other", "command": "echo c" })).await;
    app.update_task(str_of(&other, "id"), &json!({ "name": "deploy" })).await.expect_problem(
        409,
        "name_taken",
        "rename to a taken name",
    );

    // A task keeps its own name on update without conflicting with itself.
    let same = app
        .update_task(str_of(&other, "id"), &json!({ "name": "other", "tags": ["x"] }))
        .await
        .expect(200, "update keeping its own name");
    assert_eq!(same["name"], "other");
}

/// A task whose arguments are too long for exec is refused when it is stored, not accepted and then refused at every
/// `$execute` (which would blame the caller's parameters): a literal argument over the limit, defaults that make one,
/// defaults that make the whole argv too long, and a literal over the limit beside a placeholder still to fill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_too_long_for_exec_are_refused_when_the_task_is_stored() {
    let app = spawn_app().await;
    let big = "a".repeat(132 * 1024);
    let tenth = "b".repeat(100 * 1024);
    let twelve = ["{x}"; 12].join(" ");
    for (body, context) in [
        (json!({ "command": format!("echo {big}") }), "a literal argument of 132 KiB"),
        (json!({ "command": "echo {x}{x}", "params": { "x": tenth } }), "two 100 KiB defaults in one argument"),
        (json!({ "command": format!("echo {twelve}"), "params": { "x": tenth } }), "twelve 100 KiB arguments"),
        (json!({ "command": format!("echo {big}{{later}}") }), "a 132 KiB literal beside a placeholder to fill"),
    ] {
        let problem = app.create_task(&body).await.expect_problem(422, "validation_failed", context);
        assert!(str_of(&problem, "detail").contains("bytes"), "{context}: {problem}");
    }
    let fits = app.create_task_ok(json!({ "command": "echo {x}", "params": { "x": "c".repeat(100 * 1024) } })).await;
    let id = str_of(&fits, "id").to_string();
    app.update_task(&id, &json!({ "params": { "x": big } })).await.expect_problem(
        422,
        "validation_failed",
        "an update that makes an argument too long",
    );
    let list = app.list_tasks("").await.expect(200, "list");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "only the task that fits was stored: {list}");
}

/// `null` clears a nullable field; for a field that always has a value it is refused (422), never a 200 that changed
/// nothing. PUT and PATCH alike; the task is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_is_refused_for_fields_that_always_have_a_value() {
    let app = spawn_app().await;
    let task = app.create_task_ok(json!({ "command": "echo {x}", "params": { "x": "1" }, "tags": ["a"] })).await;
    let id = str_of(&task, "id").to_string();
    for field in ["command", "enabled", "params", "option_params", "env", "tags"] {
        let body = json!({ field: null });
        for method in [reqwest::Method::PUT, reqwest::Method::PATCH] {
            let problem = app.send_json(method.clone(), &format!("/api/v1/tasks/{id}"), &body).await.expect_problem(
                422,
                "invalid_body",
                &format!("{method} {body}"),
            );
            assert!(str_of(&problem, "detail").contains("may not be null"), "{method} {body}: {problem}");
        }
    }
    app.create_task(&json!({ "command": null })).await.expect_problem(422, "invalid_body", "create, command null");
    let after = app.get_task(&id).await.expect(200, "the task");
    assert_eq!(after, task, "refused updates left the task as it was");
    let cleared = app.update_task(&id, &json!({ "timeout_seconds": null, "retry": null })).await.expect(200, "clear");
    assert_eq!((cleared["timeout_seconds"].is_null(), cleared["retry"].is_null()), (true, true));
}

/// A struct in a body is an object: serde's derive would also read one from an array of its fields in order, so
/// `[]` as a PATCH body changed nothing and answered 200, and `"retry": [3]` set a policy. Every such body and
/// field is refused (422) and the task is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_struct_given_as_an_array_is_refused_in_every_body() {
    let app = spawn_app().await;
    let task = app.create_task_ok(json!({ "command": "echo hi" })).await;
    let id = str_of(&task, "id").to_string();
    let path = format!("/api/v1/tasks/{id}");
    let cases = [
        (reqwest::Method::POST, "/api/v1/tasks".to_string(), json!(["echo hi"])),
        (reqwest::Method::PATCH, path.clone(), json!([])),
        (reqwest::Method::PUT, path.clone(), json!([null])),
        (reqwest::Method::PATCH, path.clone(), json!({ "retry": [3] })),
        (reqwest::Method::PATCH, path.clone(), json!({ "schedule": ["* * * * *"] })),
        (reqwest::Method::PATCH, path.clone(), json!({ "notify": [[["failed"], ["ops"]]] })),
        (reqwest::Method::POST, format!("{path}/$execute"), json!([{}])),
        (reqwest::Method::POST, "/api/v1/schedules/$preview".to_string(), json!(["* * * * *"])),
        (reqwest::Method::POST, "/api/v1/jobs/$bulk".to_string(), json!(["retry", [id]])),
        (reqwest::Method::POST, "/api/v1/jobs/$bulk".to_string(), json!({ "action": "retry", "filter": [null] })),
    ];
    for (method, path, body) in cases {
        let what = format!("{method} {path} {body}");
        let problem = app.send_json(method, &path, &body).await.expect_problem(422, "invalid_body", &what);
        assert!(str_of(&problem, "detail").contains("expected a map"), "{what}: {problem}");
    }
    assert_eq!(app.get_task(&id).await.expect(200, "the task"), task, "nothing changed");
}
