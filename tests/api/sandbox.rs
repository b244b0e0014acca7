//! Sandboxed tasks run in bubblewrap: each test shows the confinement with a real job, beside the same job
//! unsandboxed (so the test could fail), and a server without bubblewrap refuses such tasks.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    TestApp, kill_pids, pids_with_cmdline, serve, spawn_app_with, sqlite_url, str_of, wait_for_processes,
};

/// Whether bubblewrap is here; without it the test says SKIPPED, unless `TASKYARD_REQUIRE_BWRAP=1` (CI) makes that
/// a failure.
pub fn have_bwrap() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("bwrap").is_file()));
    if !found {
        let required = std::env::var("TASKYARD_REQUIRE_BWRAP").is_ok_and(|v| v == "1");
        assert!(!required, "bubblewrap (bwrap) is not installed, and TASKYARD_REQUIRE_BWRAP=1");
        let _ = writeln!(std::io::stderr(), "SKIPPED: the sandbox tests need bubblewrap (apt-get install bubblewrap)");
    }
    found
}

async fn app() -> TestApp {
    spawn_app_with(|s| s.allow.extend(["sh".into(), "bash".into()])).await
}

async fn run_sh(app: &TestApp, script: &str, cwd: &str, sandbox: Option<serde_json::Value>) -> serde_json::Value {
    let mut body = json!({ "command": format!("sh -c '{script}'"), "cwd": cwd });
    if let Some(s) = sandbox {
        body["sandbox"] = s;
    }
    let task = app.create_task_ok(body).await;
    let run = app.run_task(&task, None).await;
    json!({ "job": run.job, "stdout": run.stdout() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_job_writes_only_its_directory_and_its_own_tmp() {
    if !have_bwrap() {
        return;
    }
    let app = app().await;
    let work = app.dir.path().join("work");
    let outside = app.dir.path().join("outside");
    std::fs::create_dir_all(&work).expect("work dir");
    std::fs::create_dir_all(&outside).expect("outside dir");
    let host_tmp = format!("/tmp/taskyard-sandbox-{}", ulid::Ulid::generate());
    let script = format!(
        "touch {o}/escaped 2>/dev/null || echo outside-refused; touch inside && echo inside-written; \
         echo x > {host_tmp} && echo tmp-written",
        o = outside.display()
    );
    let task = app
        .create_task_ok(
            json!({ "command": format!("sh -c '{script}'"), "cwd": work.display().to_string(), "sandbox": {} }),
        )
        .await;
    assert_eq!(task["sandbox"], json!({ "network": false }), "the sandbox is returned with the task");
    let run = app.run_task(&task, None).await;
    assert_eq!(run.job["status"], "completed", "{}", run.job);
    assert_eq!(run.job["sandbox"], json!({ "network": false }), "the job shows its sandbox");
    assert_eq!(run.stdout(), ["outside-refused", "inside-written", "tmp-written"]);
    assert!(!outside.join("escaped").exists(), "the sandboxed job wrote outside its directory");
    assert!(work.join("inside").exists(), "the job's directory is writable");
    assert!(!std::path::Path::new(&host_tmp).exists(), "the job's /tmp is its own");

    // The same job unsandboxed writes outside (the test can tell).
    let free = run_sh(&app, &script, &work.display().to_string(), None).await;
    assert!(outside.join("escaped").exists(), "{free}");
    let _ = std::fs::remove_file(&host_tmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_job_cannot_reach_the_loopback_network() {
    if !have_bwrap() {
        return;
    }
    let app = app().await;
    let port = app.address.rsplit(':').next().expect("port").to_string();
    let probe = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected || echo unreachable'");
    let dir = app.dir.path().display().to_string();
    let boxed = app.create_task_ok(json!({ "command": probe, "cwd": dir, "sandbox": {} })).await;
    assert_eq!(app.run_task(&boxed, None).await.stdout(), ["unreachable"]);
    let shared = app.create_task_ok(json!({ "command": probe, "cwd": dir, "sandbox": { "network": true } })).await;
    assert_eq!(app.run_task(&shared, None).await.stdout(), ["connected"], "network: true shares the network");
    let free = app.create_task_ok(json!({ "command": probe, "cwd": dir })).await;
    assert_eq!(app.run_task(&free, None).await.stdout(), ["connected"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_job_s_daemons_die_with_it() {
    if !have_bwrap() {
        return;
    }
    const DAEMON: [&str; 2] = ["sleep", "61.37"];
    struct Cleanup;
    impl Drop for Cleanup {
        fn drop(&mut self) {
            kill_pids(&pids_with_cmdline(&DAEMON));
        }
    }
    let _cleanup = Cleanup;
    let app = app().await;
    let dir = app.dir.path().display().to_string();
    // A daemon: it leaves the job's process group and closes the job's output. The job ends only once the daemon
    // has left the group (it writes its pid after setsid), so that the group's kill at the job's end cannot be
    // what ends it.
    let script = "rm -f daemon.pid; setsid sh -c \"echo \\$\\$ > daemon.pid; exec sleep 61.37\" </dev/null >/dev/null 2>&1 & \
                  while [ ! -s daemon.pid ]; do sleep 0.01; done; echo started";

    let boxed = run_sh(&app, script, &dir, Some(json!({}))).await;
    assert_eq!(boxed["stdout"], json!(["started"]), "{boxed}");
    let left = wait_for_processes(&DAEMON, Duration::from_secs(5), |p| p.is_empty()).await;
    assert!(left.is_empty(), "the sandboxed job's daemon outlived it: {left:?}");

    // Unsandboxed, the same daemon is out of reach while the server runs (the README says so).
    let free = run_sh(&app, script, &dir, None).await;
    assert_eq!(free["stdout"], json!(["started"]), "{free}");
    let left = wait_for_processes(&DAEMON, Duration::from_secs(5), |p| !p.is_empty()).await;
    assert!(!left.is_empty(), "the unsandboxed daemon is expected to survive, which makes this test able to fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_keeps_system_directories_and_host_sockets_out_of_reach() {
    if !have_bwrap() {
        return;
    }
    let app = app().await;
    for cwd in ["/", "//", "/tmp", "/tmp/..", "/etc", "/proc"] {
        let body = json!({ "command": "sh -c true", "cwd": cwd, "sandbox": {} });
        let problem = app.create_task(&body).await.expect_problem(422, "validation_failed", cwd);
        assert!(str_of(&problem, "detail").contains("system directory"), "{cwd}: {problem}");
    }
    let own = app.dir.path().display().to_string();
    let task = app.create_task_ok(json!({ "command": "sh -c true", "cwd": "/" })).await;
    app.update_task(str_of(&task, "id"), &json!({ "sandbox": {} })).await.expect_problem(
        422,
        "validation_failed",
        "a sandbox over cwd / by update",
    );
    for shape in [json!([]), json!([false]), json!("yes"), json!({ "network": "no" })] {
        app.create_task(&json!({ "command": "sh -c true", "cwd": own, "sandbox": shape })).await.expect_problem(
            422,
            "invalid_body",
            &shape.to_string(),
        );
    }

    // Unix sockets under /run (a database's, a container engine's) are hidden without the network.
    let socket = format!("/run/taskyard-test-{}.sock", ulid::Ulid::generate());
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("a socket under /run");
    let probe = format!("test -S {socket} && echo visible || echo hidden");
    let hidden = run_sh(&app, &probe, &own, Some(json!({}))).await;
    let shared = run_sh(&app, &probe, &own, Some(json!({ "network": true }))).await;
    drop(listener);
    let _ = std::fs::remove_file(&socket);
    assert_eq!(hidden["stdout"], json!(["hidden"]), "{hidden}");
    assert_eq!(shared["stdout"], json!(["visible"]), "{shared}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_task_is_not_runnable_where_bubblewrap_is_missing() {
    if !have_bwrap() {
        return;
    }
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = sqlite_url(dir.path());
    let mut with = serve(&url, &["--allow", "echo"], &[]).await;
    let task = with.app(&dir).create_task_ok(json!({ "command": "echo hi", "sandbox": {} })).await;
    with.kill9().await;

    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    std::os::unix::fs::symlink("/bin/echo", bin.join("echo")).expect("link echo");
    let path = bin.display().to_string();
    let without = serve(&url, &["--allow", "echo"], &[("PATH", path.as_str())]).await;
    let app = without.app(&dir);
    let orphans = app.orphaned("?reason=not_runnable").await.expect(200, "orphans");
    let listed: Vec<&str> = orphans["orphaned_tasks"].as_array().unwrap().iter().map(|o| str_of(o, "id")).collect();
    assert_eq!(listed, [str_of(&task, "id")], "{orphans}");
    let run = app.run_task(&task, None).await;
    assert_eq!(run.job["outcome"], "spawn_error", "{}", run.job);
    assert!(str_of(&run.job, "error").contains("bubblewrap"), "{}", run.job);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_bubblewrap_refuses_sandboxed_tasks() {
    // A PATH with echo and nothing else.
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    std::os::unix::fs::symlink("/bin/echo", bin.join("echo")).expect("link echo");
    let path = bin.display().to_string();
    let server = serve(&sqlite_url(dir.path()), &["--allow", "echo"], &[("PATH", path.as_str())]).await;
    let app = server.app(&dir);
    let problem = app.create_task(&json!({ "command": "echo hi", "sandbox": {} })).await.expect_problem(
        422,
        "validation_failed",
        "a sandbox without bubblewrap",
    );
    assert!(str_of(&problem, "detail").contains("bubblewrap"), "{problem}");
    let task = app.task("echo hi").await;
    app.update_task(str_of(&task, "id"), &json!({ "sandbox": {} })).await.expect_problem(
        422,
        "validation_failed",
        "a sandbox by update",
    );
    app.create_task(&json!({ "command": "echo hi", "sandbox": { "netwrk": true } })).await.expect_problem(
        422,
        "invalid_body",
        "an unknown sandbox field",
    );
    assert_eq!(app.run_task(&task, None).await.stdout(), ["hi"]);
}
