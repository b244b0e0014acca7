//! The command line as a client: the real binary against a real server (see `harness`).
mod harness;

use serde_json::Value;
use taskyard_types::wire::{JobView, NodeView, OrphansResponse, OutputItem, TaskView};

use harness::{Running, Server, client, show};

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

#[test]
fn run_follow_prints_lines_as_they_come_and_exits_with_the_jobs_exit_code() {
    let server = Server::start();
    server.task("mixed", "sh -c 'echo one; echo two >&2; echo three; exit 3'", &[]);
    let out = server.run(&["run", "mixed", "--follow"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\nthree\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("two\n"), "{stderr}");
    assert!(stderr.contains("of task mixed failed: exit 3"), "a summary says how it ended: {stderr}");

    // As JSON lines: every event in sequence order, the lines in the order printed, the final record last.
    let out = server.run(&["run", "mixed", "--follow", "--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let events = json_lines(&String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect::<Vec<_>>());
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in sequence order: {seqs:?}");
    // Each stream in the order printed (between the two pipes, the order the server read them in).
    let of = |stream: &str| -> Vec<&str> {
        events.iter().filter(|e| e["event"] == stream).map(|e| e["data"].as_str().unwrap()).collect()
    };
    assert_eq!((of("stdout"), of("stderr")), (vec!["one", "three"], vec!["two"]));
    let last: JobView = serde_json::from_value(events.last().unwrap()["data"].clone()).expect("a job record");
    assert_eq!((last.status.as_str(), last.exit_code), ("failed", Some(3)));
}

#[test]
fn each_outcome_has_its_exit_code() {
    let server = Server::start();
    server.task("ok", "true", &[]);
    server.task("seven", "sh -c 'exit 7'", &[]);
    server.task("slow", "sleep 30", &["--timeout", "1"]);
    server.task("killed", "sh -c 'kill -9 $$'", &[]);
    for (task, code) in [("ok", 0), ("seven", 7), ("slow", 80), ("killed", 81)] {
        for mode in ["--wait", "--follow"] {
            let out = server.run(&["run", task, mode]);
            assert_eq!(out.status.code(), Some(code), "run {task} {mode}: {}", show(&out));
        }
    }

    // Canceled: 83, seen by a follower while another command cancels the job.
    server.task("long", "sleep 30", &[]);
    let mut follower = Running::spawn(server.taskyard(&["run", "long", "--follow", "--output", "json"]));
    let first: Value = serde_json::from_str(&follower.line()).expect("a JSON event");
    let id = first["data"]["id"].as_str().expect("the job id").to_string();
    server.ok(&["cancel", &id]);
    let (code, _, stderr) = follower.finish();
    assert_eq!(code, Some(83), "{stderr}");
    let job: JobView = serde_json::from_str(&server.ok(&["job", &id, "-o", "json"])).expect("a job record");
    assert_eq!(job.status.as_str(), "canceled");

    // Nobody listening: 85, and a line that says what to do.
    let out = client("http://127.0.0.1:1", &["jobs"]).output().expect("run taskyard");
    assert_eq!(out.status.code(), Some(85), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach http://127.0.0.1:1") && stderr.contains("taskyard serve"), "{stderr}");
}

#[test]
fn run_wait_is_silent_on_success_and_prints_a_summary_and_the_tail_on_failure() {
    let server = Server::start();
    server.task("fine", "echo all good", &[]);
    let out = server.run(&["run", "fine", "--wait"]);
    assert_eq!((out.status.code(), out.stdout.len(), out.stderr.len()), (Some(0), 0, 0), "{}", show(&out));

    server.task("broken", "sh -c 'i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); done; exit 4'", &[]);
    let out = server.run(&["run", "broken", "--wait"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].contains("of task broken failed: exit 4"), "{stderr}");
    assert_eq!(lines[1].trim(), "last 20 lines of output (stderr lines marked '!'):", "{stderr}");
    assert_eq!(
        lines[2..].iter().map(|l| l.trim()).collect::<Vec<_>>(),
        (10..30).map(|i| format!("line {i}")).collect::<Vec<_>>(),
        "the tail, not the head: {stderr}"
    );

    server.task("grumpy", "sh -c 'echo oops >&2; exit 5'", &[]);
    let out = server.run(&["run", "grumpy", "--wait"]);
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().last().map(str::trim), Some("! oops"), "stderr lines are marked: {stderr}");
}

#[test]
fn logs_follow_survives_a_server_restart_with_no_gap_and_no_repeat() {
    let mut server = Server::start();
    // Two attempts: the restart hands the running attempt back, and the second runs after it.
    let slow = "sh -c 'i=0; while [ $i -lt 20 ]; do echo line $i; i=$((i+1)); sleep 0.1; done'";
    server.task("slow", slow, &["--retry", r#"{"max_attempts": 2, "initial_delay_seconds": 0}"#]);
    let id = server.ok(&["run", "slow"]).trim().to_string();
    let mut follower = Running::spawn(server.taskyard(&["logs", &id, "-f", "--output", "json"]));
    let mut seen = vec![follower.line(), follower.line(), follower.line()];

    server.restart();

    let (code, rest, stderr) = follower.finish();
    assert_eq!(code, Some(0), "{stderr}");
    seen.extend(rest);
    let followed: Vec<(i64, String)> =
        json_lines(&seen).iter().map(|e| (e["seq"].as_i64().unwrap(), e["data"].as_str().unwrap().into())).collect();

    let job: JobView = serde_json::from_str(&server.ok(&["job", &id, "-o", "json"])).expect("a job record");
    assert_eq!((job.status.as_str(), job.attempt), ("completed", 2), "the second attempt ran to the end");
    let stored: Vec<(i64, String)> = server
        .ok(&["logs", &id, "-o", "json"])
        .lines()
        .map(|l| serde_json::from_str::<OutputItem>(l).expect("an output line"))
        .map(|item| (item.seq, item.line))
        .collect();
    assert_eq!(followed, stored, "the follower printed every stored line once, in order");
    assert_eq!(followed.last().map(|(_, l)| l.as_str()), Some("line 19"));
    assert!(followed.len() > 20, "lines of both attempts: {followed:?}");
}

#[test]
fn json_output_reads_back_as_the_apis_types() {
    let server = Server::start();
    let task: TaskView = serde_json::from_str(&server.ok(&[
        "task",
        "add",
        "echo hi {who}",
        "--name",
        "hi",
        "-p",
        "who=x",
        "-o",
        "json",
    ]))
    .expect("a task");
    assert_eq!((task.name.as_deref(), task.params["who"].as_str()), (Some("hi"), Some("x")));
    let tasks: Vec<TaskView> = serde_json::from_str(&server.ok(&["task", "ls", "-o", "json"])).expect("tasks");
    assert_eq!(tasks.len(), 1);
    let job: JobView =
        serde_json::from_str(&server.ok(&["run", "hi", "-p", "who=y", "--wait", "-o", "json"])).expect("a job");
    assert_eq!(job.argv, ["echo", "hi", "y"]);
    let jobs: Vec<JobView> =
        serde_json::from_str(&server.ok(&["jobs", "--task", "hi", "--status", "completed", "-o", "json"]))
            .expect("jobs");
    assert_eq!(jobs.iter().map(|j| &j.id).collect::<Vec<_>>(), [&job.id]);
    let again: JobView = serde_json::from_str(&server.ok(&["retry", &job.id, "-o", "json"])).expect("the new job");
    assert!(again.id != job.id && again.argv == job.argv, "{again:?}");
    assert_eq!(server.ok(&["retry", &job.id]).trim().len(), 26, "text: the new job's id");
    let nodes: Vec<NodeView> = serde_json::from_str(&server.ok(&["nodes", "-o", "json"])).expect("nodes");
    assert_eq!(nodes.len(), 1);
    let edited: TaskView = serde_json::from_str(&server.ok(&["task", "disable", "hi", "-o", "json"])).expect("a task");
    assert!(!edited.enabled);
    let text = server.ok(&["task", "ls"]);
    assert!(text.starts_with("ID") && text.contains("hi") && text.contains("no"), "{text}");
    assert!(!text.contains('\x1b'), "no colours off a terminal: {text:?}");
    server.ok(&["task", "rm", "hi"]);
    assert_eq!(server.run(&["task", "show", "hi"]).status.code(), Some(86));
}

#[test]
fn orphans_exits_1_while_a_task_is_orphaned() {
    let server = Server::start();
    server.task("never", "true", &[]);
    let out = server.run(&["orphans", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let orphans: OrphansResponse = serde_json::from_slice(&out.stdout).expect("the orphans body");
    assert_eq!(orphans.count, 1);
    server.ok(&["run", "never", "--wait"]);
    assert_eq!(server.ok(&["orphans"]), "", "nothing to say when nothing is orphaned");
}

#[test]
fn bad_arguments_and_refusals_say_what_is_wrong() {
    let server = Server::start();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["run"], 2, "<TASK>"),
        (&["run", "x", "-p", "novalue"], 2, "expected KEY=VALUE"),
        (&["jobs", "--status", "sleeping"], 2, "sleeping"),
        (&["orphans", "--reason", "bored"], 2, "never_run, not_runnable or lost"),
        (&["task", "edit", "x"], 2, "nothing to change"),
        (&["task", "show", "nope"], 86, "task_not_found"),
        (&["job", "not-an-id"], 86, "invalid_id"),
        (&["task", "add", "rm -rf /tmp/x"], 86, "program_not_allowed"),
        (&["jobs", "--server", "localhost:8000"], 86, "http://"),
    ];
    for (args, code, says) in cases {
        let out = server.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "taskyard {}: {}", args.join(" "), show(&out));
        assert!(stderr.contains(says), "taskyard {}: expected {says:?} in: {stderr}", args.join(" "));
    }
}

#[test]
fn completions_and_help_need_no_server() {
    let ok = |args: &[&str]| {
        let out = client("http://127.0.0.1:1", args).output().expect("run taskyard");
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    for shell in ["bash", "zsh", "fish"] {
        assert!(ok(&["completions", shell]).contains("taskyard"), "{shell}");
    }
    for command in ["task", "run", "jobs", "job", "logs", "cancel", "retry", "orphans", "nodes", "completions"] {
        assert!(ok(&[command, "--help"]).contains("Example"), "{command} --help has examples");
    }
    let help = ok(&["run", "--help"]);
    assert!(help.contains("Examples:") && help.contains("85"), "{help}");
}

/// The client crate on its own: wait, a resume past the final record (204), health, typed errors.
#[test]
fn the_client_waits_resumes_past_the_end_and_reads_errors() {
    use futures_util::StreamExt;
    use taskyard_client::{Client, wire::ExecuteRequest};

    let server = Server::start();
    server.task("hello", "echo hello {who}", &["-p", "who=world"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let client = Client::new(&server.url()).expect("a client");
        assert_eq!(client.health().await.expect("health").status, taskyard_types::wire::HealthStatus::Ok);
        let submitted = client.execute("hello", &ExecuteRequest::default()).await.expect("execute");
        let job = client.wait(&submitted.job_id).await.expect("wait");
        assert_eq!((job.status.as_str(), job.stdout_lines), ("completed", 1));

        let all: Vec<_> = client.follow(&job.id).collect().await;
        let last_seq = all.last().expect("events").as_ref().expect("an event").seq;
        // Past the final record: the server answers 204, the stream ends at once, and wait reads the record.
        assert_eq!(client.follow_after(&job.id, last_seq).count().await, 0);
        let waited = client.follow_after(&job.id, last_seq).wait().await.expect("wait after the end");
        assert_eq!(waited.id, job.id);

        let err = client.task("nope").await.expect_err("no such task");
        assert_eq!(err.code(), Some("task_not_found"));
        let err = client.job("nope").await.expect_err("not an id");
        assert_eq!(err.code(), Some("invalid_id"));
    });
}

#[test]
fn progress_is_an_event_for_scripts_and_draws_nothing_off_a_terminal() {
    let server = Server::start();
    server.task("prog", "sh -c 'echo start; echo ::progress 2/2; echo end'", &[]);
    let out = server.run(&["run", "prog", "--follow"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        (String::from_utf8_lossy(&out.stdout).as_ref(), out.stderr.len()),
        ("start\nend\n", 0),
        "{}",
        show(&out)
    );
    let out = server.ok(&["run", "prog", "--follow", "-o", "json"]);
    let events = json_lines(&out.lines().map(str::to_string).collect::<Vec<_>>());
    let progress: Vec<&Value> = events.iter().filter(|e| e["event"] == "progress").map(|e| &e["data"]).collect();
    assert_eq!(progress.last().map(|p| (p["percent"].as_f64(), p["done"].as_u64())), Some((Some(100.0), Some(2))));
}

/// The client's routes beyond tasks and jobs, each answered by the real server: schedule previews, bulk actions,
/// deletion, a job's files, the finished counts, notifications, the audit log, functions and result records.
#[test]
fn the_client_reaches_every_other_route() {
    use taskyard_client::domain::{Outcome, ScheduleSpec};
    use taskyard_client::wire::{BulkAction, BulkRequest, ExecuteRequest};
    use taskyard_client::{AuditQuery, Client, NotificationsQuery};

    let server = Server::start();
    server.task("fails", "false", &[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let client = Client::new(&server.url()).expect("a client");
        let spec: ScheduleSpec =
            serde_json::from_value(serde_json::json!({ "cron": "0 12 * * *", "timezone": "Europe/Paris" })).unwrap();
        let preview = client.preview_schedule(&spec, Some(3)).await.expect("preview");
        assert_eq!((preview.fires.len(), preview.timezone.as_str()), (3, "Europe/Paris"));
        assert!(preview.local[0].contains("T12:00:00+0"), "{:?}", preview.local);
        let err = client.task_schedule("fails", None).await.expect_err("no schedule");
        assert_eq!(err.problem().map(|p| p.status), Some(409), "{err}");

        let job = client.execute("fails", &ExecuteRequest::default()).await.expect("execute").job_id;
        let done = client.wait(&job).await.expect("wait");
        assert_eq!(done.outcome, Some(Outcome::ExitCode));
        assert!(client.job_artifacts(&job).await.expect("files").is_empty());
        let stats = client.finished_stats(Some(5)).await.expect("stats");
        assert_eq!(stats.counts.iter().map(|c| c.count).sum::<i64>(), 1, "{stats:?}");

        let bulk = BulkRequest { action: BulkAction::Retry, ids: vec![job.clone()], filter: None, after: None };
        let retried = client.bulk(&bulk).await.expect("bulk").results;
        assert_eq!(retried.iter().map(|r| r.status).collect::<Vec<_>>(), [202]);
        client.delete_job(&job).await.expect("delete");
        assert_eq!(client.job(&job).await.expect_err("deleted").code(), Some("job_not_found"));
        let listed = |args: &[&str]| -> Vec<Value> {
            let out = server.ok(&[&["jobs", "--output", "json"], args].concat());
            serde_json::from_str::<Vec<Value>>(&out).expect("a JSON array")
        };
        assert_eq!(listed(&["--since", "2000-01-01T00:00:00Z"]).len(), 1, "the retried job");
        assert_eq!(listed(&["--until", "2000-01-01T00:00:00Z"]).len(), 0);
        assert_eq!(listed(&["--tag", "fails-have-no-tags"]).len(), 0);

        assert!(client.notifications(&NotificationsQuery::default()).await.expect("notifications").is_empty());
        let query = AuditQuery { route: Some("/api/v1/jobs/{id}".into()), ..Default::default() };
        let entries = client.audit(&query).await.expect("audit");
        assert_eq!(entries.iter().map(|e| (e.method.as_str(), e.status)).collect::<Vec<_>>(), [("DELETE", 204)]);
        assert!(client.functions().await.expect("functions").is_empty(), "serve alone registers none");
        let err = client.artifact(&job).await.expect_err("no function result");
        assert_eq!(err.code(), Some("artifact_not_found"));
    });
}
