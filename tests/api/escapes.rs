//! The allow-list holds: through the real binary, each way a task or an execute request could run, read or leak
//! something the operator never allowed is tried, and the effect (a file written, a file printed, a hook loaded,
//! a secret printed) is shown not to happen. Where an operator opts in on purpose, the same request is shown to
//! work, so each test could fail. What execute parameters may do is in `params`.

mod params;

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{Server, TestApp, lines_of, serve, sqlite_url, str_of};

/// Stops a server and waits until it is gone, so that the next one can take the SQLite file's lock.
async fn stop(mut server: Server) {
    server.kill9().await;
}

async fn start(dir: &Arc<TempDir>, args: &[&str], env: &[(&str, &str)]) -> (Server, TestApp) {
    let server = serve(&sqlite_url(dir.path()), args, env).await;
    let app = server.app(dir);
    (server, app)
}

fn temp_dir() -> Arc<TempDir> {
    Arc::new(tempfile::tempdir().expect("temp dir"))
}

/// An executable shell script at `path` that leaves `marker` behind when it runs.
fn trap_script(path: &Path, marker: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\ntouch '{}'\n", marker.display())).expect("write the trap");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("make the trap executable");
}

async fn task_count(app: &TestApp) -> usize {
    app.list_tasks("").await.expect(200, "list tasks").as_array().map_or(0, Vec::len)
}

async fn job_count(app: &TestApp) -> usize {
    app.list_jobs("").await.expect(200, "list jobs").as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_list_runs_no_other_program_and_reads_no_file() {
    let dir = temp_dir();
    let (server, app) = start(&dir, &[], &[]).await;
    let written = dir.path().join("written");
    let target = written.display();
    for command in [
        format!("env sh -c 'echo x > {target}'"),
        format!("/usr/bin/env sh -c 'echo x > {target}'"),
        format!("sh -c 'echo x > {target}'"),
        format!("/bin/sh -c 'echo x > {target}'"),
        format!("xargs -a /etc/passwd touch {target}"),
        format!("nice sh -c 'echo x > {target}'"),
        format!("timeout 5 sh -c 'echo x > {target}'"),
        "date -f /etc/passwd".to_string(),
        "date --file=/etc/passwd".to_string(),
        "date -r /etc/passwd".to_string(),
        "cat /etc/passwd".to_string(),
        "/bin/echo via a path".to_string(),
    ] {
        let problem =
            app.create_task(&json!({ "command": command })).await.expect_problem(422, "program_not_allowed", &command);
        let program = command.split(' ').next().unwrap_or_default();
        assert!(str_of(&problem, "detail").contains(program), "{command}: {problem}");
    }
    assert!(!written.exists(), "no refused command ran");
    assert_eq!(task_count(&app).await, 0, "nothing refused was stored");

    // What the default list holds runs, and its resolution was logged with absolute files.
    assert_eq!(app.run("printf '%s|' a b").await.stdout(), ["a|b|"]);
    let log = server.log();
    for entry in ["echo", "true", "false", "sleep", "printf"] {
        let line = log.lines().find(|l| l.contains("allowed program") && l.contains(&format!("entry=\"{entry}\"")));
        assert!(line.is_some_and(|l| l.contains("file=/")), "no resolution logged for {entry}:\n{log}");
    }
    assert!(!log.contains("arbitrary code"), "the default list warns about nothing:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_who_allows_a_runner_is_warned_once_per_entry() {
    let dir = temp_dir();
    let (server, _app) =
        start(&dir, &["--allow", "sh", "--allow", "env", "--allow", "cat", "--allow", "echo"], &[]).await;
    let log = server.log();
    for runner in ["sh", "env"] {
        let warnings = log.lines().filter(|l| l.contains("arbitrary code") && l.contains(&format!("\"{runner}\"")));
        assert_eq!(warnings.count(), 1, "one warning for {runner}:\n{log}");
    }
    assert_eq!(
        log.lines().filter(|l| l.contains("reads or writes files") && l.contains("\"cat\"")).count(),
        1,
        "{log}"
    );
    assert!(!log.lines().any(|l| l.contains("WARN") && l.contains("\"echo\"")), "echo is harmless:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_environment_does_not_choose_the_program() {
    let dir = temp_dir();
    let trap_dir = dir.path().join("bin");
    std::fs::create_dir(&trap_dir).expect("trap dir");
    let marker = dir.path().join("trap-ran");
    trap_script(&trap_dir.join("echo"), &marker);
    let trap_path = trap_dir.display().to_string();

    // On default settings a task may not set PATH at all.
    let (server, app) = start(&dir, &[], &[]).await;
    let problem = app.create_task(&json!({ "command": "echo hi", "env": { "PATH": trap_path } })).await.expect_problem(
        422,
        "validation_failed",
        "PATH in a task's env",
    );
    assert!(str_of(&problem, "detail").contains("'PATH'"), "{problem}");
    stop(server).await;

    // An operator may allow it (scripts need it); the job's program is still the file the server resolved, not
    // the one on the task's PATH, and not one in the task's working directory either.
    let (_server, app) = start(&dir, &["--allow", "echo", "--allow-env-hook", "PATH"], &[]).await;
    let task = app
        .create_task_ok(
            json!({ "command": "echo hi", "env": { "PATH": trap_path }, "cwd": trap_dir.display().to_string() }),
        )
        .await;
    let run = app.run_task(&task, None).await;
    assert_eq!(run.job["status"], "completed", "{}", run.job);
    assert_eq!(run.stdout(), ["hi"]);
    assert!(!marker.exists(), "the task's PATH chose the program");
    for relative in ["./echo", "bin/echo", "../bin/echo"] {
        app.create_task(&json!({ "command": format!("{relative} hi"), "cwd": dir.path().display().to_string() }))
            .await
            .expect_problem(422, "program_not_allowed", relative);
    }
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_and_interpreter_hooks_are_refused_unless_allowed_by_name() {
    let dir = temp_dir();
    let (server, app) = start(&dir, &[], &[]).await;
    #[rustfmt::skip]
    let hooks = [
        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_DEBUG_OUTPUT", "LD_PROFILE", "GCONV_PATH", "GLIBC_TUNABLES",
        "HOSTALIASES", "LOCPATH", "BASH_ENV", "ENV", "SHELLOPTS", "PS4", "PYTHONPATH", "PYTHONSTARTUP",
        "PYTHONWARNINGS", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "LUA_INIT", "GIT_SSH_COMMAND", "PAGER", "EDITOR", "OPENSSL_CONF",
        "npm_config_script_shell", "TASKYARD_JOB_ID", "HOME", "TCL_LIBRARY", "XDG_CONFIG_HOME", "TAR_OPTIONS",
        "_POSIX2_VERSION",
    ];
    for hook in hooks {
        let body = json!({ "command": "echo hi", "env": { hook: "/tmp/x" } });
        let problem = app.create_task(&body).await.expect_problem(422, "validation_failed", hook);
        assert!(str_of(&problem, "detail").contains(&format!("'{hook}'")), "{hook}: {problem}");
    }
    // Nor through an update.
    let task = app.task("echo hi").await;
    let id = str_of(&task, "id");
    app.update_task(id, &json!({ "env": { "LD_PRELOAD": "/tmp/x.so" } })).await.expect_problem(
        422,
        "validation_failed",
        "LD_PRELOAD by update",
    );
    assert_eq!(task_count(&app).await, 1);
    stop(server).await;

    // Proof that the check matters: with LD_PRELOAD allowed, the loader reads the variable and complains on the
    // job's stderr about the library it cannot find.
    let hook = "/nonexistent/taskyard-hook.so";
    let (server, app) = start(&dir, &["--allow", "echo", "--allow-env-hook", "LD_PRELOAD"], &[]).await;
    let hooked = app.create_task_ok(json!({ "command": "echo hooked", "env": { "LD_PRELOAD": hook } })).await;
    let run = app.run_task(&hooked, None).await;
    assert!(lines_of(&run.events, "stderr").iter().any(|l| l.contains("taskyard-hook.so")), "{:?}", run.events);
    stop(server).await;

    // Served again without the allowance, the stored task is refused at execute and listed as not runnable.
    let (_server, app) = start(&dir, &[], &[]).await;
    let problem =
        app.execute(str_of(&hooked, "id"), None).await.expect_problem(422, "validation_failed", "stored hook");
    assert!(str_of(&problem, "detail").contains("LD_PRELOAD"), "{problem}");
    let orphans = app.orphaned("?reason=not_runnable").await.expect(200, "orphans");
    let listed: Vec<&str> = orphans["orphaned_tasks"].as_array().unwrap().iter().map(|o| str_of(o, "id")).collect();
    assert!(listed.contains(&str_of(&hooked, "id")), "{orphans}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_environment_stays_the_server_s() {
    let dir = temp_dir();
    let secrets = [
        ("PGPASSWORD", "pg-secret-4711"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-4711"),
        ("DATABASE_URL", "postgres://app:db-secret-4711@db/app"),
        ("GITHUB_TOKEN", "gh-secret-4711"),
        ("TASKYARD_API_KEY", "api-secret-4711"),
        ("SSH_AUTH_SOCK", "/tmp/ssh-secret-4711"),
        ("SHARED_SETTING", "passed-on-purpose"),
        ("LC_TIME", "C"),
        ("PATH", ".::/usr/local/bin:/usr/bin:/bin"),
    ];
    let args = ["--allow", "sh", "--env-passthrough", "SHARED_SETTING"];
    let (_server, mut app) = start(&dir, &args, &secrets).await;
    app.api_key = Some("api-secret-4711".into());
    let run = app.run("sh -c env").await;
    let env = run.stdout();
    let text = env.join("\n");
    assert!(!text.contains("secret-4711"), "a secret of the server reached the job:\n{text}");
    for expected in ["PATH=/", "HOME=", "TASKYARD_JOB_ID=", "TASKYARD_ATTEMPT=1", "SHARED_SETTING=passed-on-purpose"] {
        assert!(env.iter().any(|l| l.starts_with(expected)), "{expected} missing:\n{text}");
    }
    assert!(env.iter().any(|l| l == "LC_TIME=C"), "LC_* passes:\n{text}");
    let path = env.iter().find_map(|l| l.strip_prefix("PATH=")).expect("PATH");
    assert!(std::env::split_paths(path).all(|d| d.is_absolute()), "relative PATH directories reach the job: {path}");
    let names: Vec<&str> = env.iter().filter_map(|l| l.split('=').next()).collect();
    let allowed = ["PATH", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "PWD", "SHLVL", "_", "OLDPWD"];
    for name in names {
        assert!(
            allowed.contains(&name)
                || name.starts_with("LC_")
                || name.starts_with("TASKYARD_")
                || name == "SHARED_SETTING",
            "the job got the server's {name}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_reach_a_process_is_refused_when_it_is_stored() {
    let dir = temp_dir();
    let (_server, app) = start(&dir, &[], &[]).await;
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("a file");
    for (body, code, why) in [
        (json!({ "command": "echo a\u{0}b" }), "invalid_command", "NUL in the command"),
        (json!({ "command": "echo {v}", "params": { "v": "a\u{0}b" } }), "validation_failed", "NUL in a default"),
        (json!({ "command": "echo hi", "env": { "K": "a\u{0}b" } }), "validation_failed", "NUL in an env value"),
        (json!({ "command": "echo hi", "env": { "A=B": "c" } }), "validation_failed", "= in an env name"),
        (json!({ "command": "echo hi", "env": { "": "c" } }), "validation_failed", "empty env name"),
        (json!({ "command": "echo hi", "env": { "1X": "c" } }), "validation_failed", "env name with a digit first"),
        (json!({ "command": "echo hi", "cwd": "/definitely/not/here" }), "validation_failed", "missing cwd"),
        (json!({ "command": "echo hi", "cwd": file.display().to_string() }), "validation_failed", "cwd is a file"),
        (json!({ "command": "echo hi", "cwd": "relative/dir" }), "validation_failed", "relative cwd"),
        (json!({ "command": "echo hi", "cwd": "/tmp\u{0}x" }), "validation_failed", "NUL in cwd"),
    ] {
        app.create_task(&body).await.expect_problem(422, code, why);
    }
    assert_eq!(task_count(&app).await, 0);

    let task = app.task("echo {v}").await;
    let id = str_of(&task, "id");
    app.execute(id, Some(&json!({ "params": { "v": "a\u{0}b" } }))).await.expect_problem(
        400,
        "invalid_param",
        "NUL in an execute param",
    );
    let huge = "x".repeat(200 * 1024);
    app.execute(id, Some(&json!({ "params": { "v": huge } }))).await.expect_problem(
        400,
        "invalid_param",
        "an argument longer than exec takes",
    );
    assert_eq!(job_count(&app).await, 0);

    // A working directory that vanishes after the task was stored ends the job with a clear error, and the task
    // is listed as not runnable.
    let gone = dir.path().join("gone");
    std::fs::create_dir(&gone).expect("dir");
    let task = app.create_task_ok(json!({ "command": "echo hi", "cwd": gone.display().to_string() })).await;
    std::fs::remove_dir(&gone).expect("remove dir");
    let run = app.run_task(&task, None).await;
    assert_eq!(run.job["outcome"], "spawn_error", "{}", run.job);
    assert!(str_of(&run.job, "error").contains("working directory"), "{}", run.job);
    let orphans = app.orphaned("?reason=not_runnable").await.expect(200, "orphans");
    assert_eq!(orphans["count"], 1, "{orphans}");
}
