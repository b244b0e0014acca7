//! Notifications against real receivers: a webhook receiver on 127.0.0.1 that fails twice and then accepts (the
//! backoff shows in the attempts, the signature is verified by the receiver), an SMTP sink speaking SMTP over TCP,
//! and a `kill -9` of the real binary while its receiver is down: after both come back, every message arrives.
mod receivers;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use taskyard::config::Settings;
use taskyard::domain::{NotifyOn as Trigger, Rule};
use taskyard::engine::notify::Secret;
use taskyard::engine::notify::settings::{ChannelSettings, EmailSettings, SmtpTls, WebhookSettings};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::helpers::{TestApp, TestDb, poll_until, serve, spawn_app_with, sqlite_only, str_of};

const SECRET: &str = "a-webhook-secret-of-some-length";
const PUBLIC: &str = "https://taskyard.example.org";

async fn next<T>(rx: &mut UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} within 60 s"))
        .unwrap_or_else(|| panic!("the receiver stopped before {what}"))
}

fn webhook_settings(s: &mut Settings, url: String, on: Vec<Trigger>) {
    s.public_url = Some(PUBLIC.into());
    s.notify.channels.insert(
        "hook".into(),
        ChannelSettings::Webhook(WebhookSettings { url, secret: Some(Secret::new(SECRET)), secret_env: None }),
    );
    s.notify.rules = vec![Rule { on, channels: vec!["hook".into()] }];
    s.notify.backoff_initial_ms = 300;
    s.notify.backoff_max_ms = 2_000;
    s.notify.timeout_ms = 5_000;
}

/// The deliveries of a job, as the API lists them.
async fn deliveries(app: &TestApp, job_id: &str) -> Vec<Value> {
    let list = app.get(&format!("/api/v1/notifications?job_id={job_id}")).await.expect(200, "list notifications");
    list.as_array().expect("a list").clone()
}

#[tokio::test]
async fn a_failed_job_is_posted_signed_and_retried_with_backoff_until_the_receiver_accepts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/taskyard", listener.local_addr().unwrap());
    let mut hooks = receivers::webhook(listener, SECRET, 2);
    let app = spawn_app_with(|s| webhook_settings(s, url, vec![Trigger::Failed])).await;

    let task = app.task("false").await;
    let job_id = app.execute_ok(str_of(&task, "id"), None).await;
    let posts = [
        next(&mut hooks, "first POST").await,
        next(&mut hooks, "second POST").await,
        next(&mut hooks, "third POST").await,
    ];

    assert_eq!(posts.iter().map(|p| p.answered).collect::<Vec<_>>(), [500, 500, 200]);
    let id = posts[0].headers["x-taskyard-delivery"].clone();
    for post in &posts {
        assert!(post.signature_ok, "the signature verifies: {:?}", post.headers);
        assert_eq!(post.headers["x-taskyard-delivery"], id, "every attempt carries the same delivery id");
        assert_eq!(post.body["delivery_id"], id.as_str());
        assert_eq!(post.body["trigger"], "failed");
        assert_eq!(post.body["job"]["id"], job_id.as_str());
        assert_eq!(post.body["job"]["status"], "failed");
        assert_eq!(post.body["task"]["id"], task["id"]);
        assert_eq!(post.body["link"], format!("{PUBLIC}/api/v1/jobs/{job_id}"));
    }
    // The waits double: 300 ms, then 600 ms (each measured from the end of the attempt before).
    let gaps = [posts[1].at - posts[0].at, posts[2].at - posts[1].at];
    assert!(gaps[0] >= Duration::from_millis(300) && gaps[1] >= Duration::from_millis(600), "gaps {gaps:?}");
    assert!(gaps[1] > gaps[0], "the second wait is longer: {gaps:?}");

    let shown = poll_until("the delivery to be recorded", Duration::from_secs(10), async || {
        let list = deliveries(&app, &job_id).await;
        match list.as_slice() {
            [one] if one["status"] == "delivered" => Ok(one.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["attempts"], 3);
    assert_eq!(shown["channel"], "hook");
    let errors: Vec<&Value> = shown["history"].as_array().unwrap().iter().map(|a| &a["error"]).collect();
    assert_eq!(
        errors,
        [
            &json!("the receiver answered 500 Internal Server Error"),
            &json!("the receiver answered 500 Internal Server Error"),
            &Value::Null
        ]
    );
    let one = app.get(&format!("/api/v1/notifications/{id}")).await.expect(200, "one notification");
    assert_eq!(one["id"], id.as_str());
    assert!(!app.get("/api/v1/notifications").await.json().to_string().contains(SECRET), "no secret in the API");

    let metrics = app.scrape().await;
    let count =
        |result| metrics.value("taskyard_notification_deliveries_total", &[("channel", "hook"), ("result", result)]);
    assert_eq!((count("failed"), count("delivered")), (2.0, 1.0));

    // A completed job is not a trigger of this rule: nothing is enqueued for it.
    let done = app.run("true").await;
    assert!(deliveries(&app, &done.job_id).await.is_empty());
    app.get("/api/v1/notifications?status=exploded").await.expect_problem(400, "invalid_query", "bad status");
    app.get(&format!("/api/v1/notifications/{}", crate::helpers::fresh_ulid())).await.expect_problem(
        404,
        "notification_not_found",
        "unknown delivery id",
    );
}

#[tokio::test]
async fn a_completed_job_is_mailed_over_smtp_with_its_delivery_id() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut mails = receivers::smtp_sink(listener);
    let app = spawn_app_with(|s| {
        s.notify.channels.insert(
            "mail".into(),
            ChannelSettings::Email(EmailSettings {
                host: "127.0.0.1".into(),
                port: Some(port),
                tls: SmtpTls::None,
                username: None,
                password: None,
                password_env: None,
                from: "taskyard <taskyard@example.org>".into(),
                to: vec!["oncall@example.org".into()],
            }),
        );
        s.notify.rules = vec![Rule { on: vec![Trigger::Completed], channels: vec!["mail".into()] }];
    })
    .await;

    let done = app.run("true").await;
    let mail = next(&mut mails, "a mail").await;
    let shown = poll_until("the mail to be recorded", Duration::from_secs(10), async || {
        match deliveries(&app, &done.job_id).await.as_slice() {
            [one] if one["status"] == "delivered" => Ok(one.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let id = str_of(&shown, "id");
    assert!(mail.contains(&format!("Message-ID: <{id}@taskyard>")), "{mail}");
    assert!(mail.contains(&format!("/api/v1/jobs/{}", done.job_id)), "{mail}");
    assert!(mail.contains("completed"), "{mail}");
    assert!(mail.contains("To: oncall@example.org"), "{mail}");
}

/// The config file of the real binary: the webhook's secret comes from the environment.
fn config_file(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("taskyard.toml");
    let text = format!(
        "public_url = \"{PUBLIC}\"\n\n[notify]\nbackoff_initial_ms = 100\nbackoff_max_ms = 400\npoll_ms = 200\n\n\
         [[notify.rules]]\non = [\"failed\", \"completed\"]\nchannels = [\"hook\"]\n\n\
         [notify.channels.hook]\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"HOOK_SECRET\"\n"
    );
    std::fs::write(&path, text).expect("write the config file");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_jobs_that_ended_before_a_kill_9_arrive_after_the_restart() {
    if sqlite_only("the restarted binary reopens the same SQLite file; the outbox SQL is shared with PostgreSQL") {
        return;
    }
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let db = Arc::new(TestDb::sqlite(dir.path()));
    // The receiver's port, with nobody listening on it yet: every attempt before the crash fails to connect.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let config = config_file(dir.path(), &format!("http://127.0.0.1:{port}/hook"));
    let config = config.to_str().unwrap();
    let env = [("HOOK_SECRET", SECRET)];

    let mut first = serve(db.url(), &["--config", config], &env).await;
    let app = TestApp::external(&first.address, dir.clone(), db.clone());
    let failed = app.run("false").await;
    let completed = app.run("true").await;
    let mut expected = BTreeSet::new();
    for job in [&failed.job_id, &completed.job_id] {
        let tried = poll_until("a failed attempt", Duration::from_secs(20), async || {
            match deliveries(&app, job).await.as_slice() {
                [one] if one["attempts"].as_i64() >= Some(1) => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        assert_eq!(tried["status"], "pending", "the receiver is down: {tried}");
        assert!(str_of(&tried, "last_error").contains("cannot connect"), "{tried}");
        expected.insert(str_of(&tried, "id").to_string());
    }
    first.kill9().await;

    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("the receiver takes its port back");
    let mut hooks = receivers::webhook(listener, SECRET, 0);
    let second = serve(db.url(), &["--config", config], &env).await;
    let app = TestApp::external(&second.address, dir.clone(), db.clone());
    let mut arrived = BTreeMap::new();
    while arrived.len() < expected.len() {
        let hook = next(&mut hooks, "a delivery after the restart").await;
        assert!(hook.signature_ok);
        arrived.insert(hook.headers["x-taskyard-delivery"].clone(), hook.body);
    }
    assert_eq!(arrived.keys().cloned().collect::<BTreeSet<_>>(), expected, "exactly the enqueued messages");
    let triggers: BTreeSet<&str> = arrived.values().map(|b| b["trigger"].as_str().unwrap()).collect();
    assert_eq!(triggers, BTreeSet::from(["completed", "failed"]));
    for job in [&failed.job_id, &completed.job_id] {
        poll_until("the delivery to be recorded", Duration::from_secs(10), async || {
            match deliveries(&app, job).await.as_slice() {
                [one] if one["status"] == "delivered" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    assert!(!first.log().contains(SECRET) && !second.log().contains(SECRET), "the secret is never logged");
}

#[tokio::test]
async fn a_task_s_own_rules_send_besides_the_server_s_and_name_only_configured_channels() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let mut hooks = receivers::webhook(listener, SECRET, 0);
    let app = spawn_app_with(|s| webhook_settings(s, url, vec![Trigger::Failed])).await;

    let own = json!([{ "on": ["completed"], "channels": ["hook"] }]);
    let task = app.create_task_ok(json!({ "command": "true", "name": "nightly", "notify": own })).await;
    assert_eq!(task["notify"], own, "the task shows its rules");
    let done = app.run_task(&task, None).await;
    let hook = next(&mut hooks, "the task's own message").await;
    assert_eq!(hook.body["trigger"], "completed");
    assert_eq!(hook.body["job"]["id"], done.job_id.as_str());
    assert_eq!(hook.body["task"]["name"], "nightly");

    let plain = app.run("true").await;
    assert!(deliveries(&app, &plain.job_id).await.is_empty(), "a task without rules: only the server's apply");

    let unknown = json!({ "command": "true", "notify": [{ "on": ["failed"], "channels": ["pager"] }] });
    let problem = app.create_task(&unknown).await.expect_problem(422, "validation_failed", "unknown channel");
    assert!(problem["detail"].as_str().unwrap().contains("no channel named 'pager'"), "{problem}");
    let bad = json!({ "command": "true", "notify": [{ "on": ["exploded"], "channels": ["hook"] }] });
    app.create_task(&bad).await.expect_problem(422, "invalid_body", "unknown trigger");
    let cleared = app.update_task(str_of(&task, "id"), &json!({ "notify": [] })).await.expect(200, "clear");
    assert_eq!(cleared["notify"], json!([]));
}

#[tokio::test]
async fn an_overdue_fire_is_posted_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/taskyard", listener.local_addr().unwrap());
    let mut hooks = receivers::webhook(listener, SECRET, 0);
    let app = spawn_app_with(|s| {
        webhook_settings(s, url, vec![Trigger::Overdue]);
        s.overdue_grace_seconds = 1;
    })
    .await;
    // A schedule every second on a disabled task: its fires make no jobs, so the latest becomes overdue.
    let task = app
        .create_task_ok(
            json!({"name": "paused", "command": "true", "enabled": false, "schedule": {"cron": "* * * * * *"}}),
        )
        .await;
    let post = next(&mut hooks, "the overdue POST").await;
    assert!(post.signature_ok, "the signature verifies: {:?}", post.headers);
    assert_eq!(post.body["trigger"], "overdue");
    assert_eq!(post.body["task"]["id"], task["id"]);
    assert!(post.body["job"].is_null(), "an overdue fire has no job: {}", post.body);
    // Later fires of the same silence are new fires: each is posted once, never the same delivery twice.
    let again = next(&mut hooks, "the next overdue POST").await;
    assert_ne!(again.headers["x-taskyard-delivery"], post.headers["x-taskyard-delivery"]);
}

/// Retention deletes delivered notifications older than `retention_days` with the rest of the old records; one
/// that is newer stays. (Pending ones stay whatever their age, until delivered or given up.)
#[tokio::test]
async fn retention_deletes_old_delivered_notifications() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/taskyard", listener.local_addr().unwrap());
    let mut hooks = receivers::webhook(listener, SECRET, 0);
    let app = spawn_app_with(|s| {
        webhook_settings(s, url, vec![Trigger::Failed]);
        s.retention_days = 1.0;
        s.retention_check_seconds = 1;
    })
    .await;
    let task = app.task("false").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let job = app.execute_ok(str_of(&task, "id"), None).await;
        ids.push(next(&mut hooks, "the POST").await.headers["x-taskyard-delivery"].clone());
        poll_until("the delivery to be recorded", Duration::from_secs(10), async || {
            match deliveries(&app, &job).await.as_slice() {
                [one] if one["status"] == "delivered" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    let db = sea_orm::Database::connect(app.db.url()).await.expect("open the database");
    let sql =
        format!("UPDATE notifications SET created_at = created_at - {} WHERE id = '{}'", 2 * 86_400_000i64, ids[0]);
    sea_orm::ConnectionTrait::execute_unprepared(&db, &sql).await.expect("age the notification");
    let _ = db.close().await;
    poll_until("retention to delete the old notification", Duration::from_secs(20), async || {
        match app.get(&format!("/api/v1/notifications/{}", ids[0])).await.status.as_u16() {
            404 => Ok(()),
            other => Err(format!("GET notification: {other}")),
        }
    })
    .await;
    app.get(&format!("/api/v1/notifications/{}", ids[1])).await.expect(200, "the newer one stays");
}
