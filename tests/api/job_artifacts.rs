//! Job artifacts: files a shell job writes to `$TASKYARD_ARTIFACTS_DIR` are kept (bounded), listed and
//! downloaded byte-exact with headers that never let a browser render them as our page; what a job plants there
//! to reach other files (links, FIFOs) is listed as dropped and never followed; retention deletes the files with
//! their job; the per-attempt directory is gone once the job ends, and leftovers are removed at start.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Finished, TestApp, header, poll_until, spawn_app_with, str_of};

async fn app_with(configure: impl FnOnce(&mut taskyard::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.allow.push("sh".into());
        configure(s);
    })
    .await
}

/// Runs `sh -c SCRIPT` in the job's artifacts directory, to the end.
async fn run_in_artifacts(app: &TestApp, script: &str, sandbox: bool) -> Finished {
    let mut body = json!({ "command": format!("sh -c 'cd \"$TASKYARD_ARTIFACTS_DIR\" && {script}'") });
    if sandbox {
        body["sandbox"] = json!({});
    }
    let task = app.create_task_ok(body).await;
    app.run_task(&task, None).await
}

async fn list(app: &TestApp, job: &str) -> Vec<Value> {
    let listed = app.get(&format!("/api/v1/jobs/{job}/artifacts")).await.expect(200, "list artifacts");
    listed.as_array().expect("an array").clone()
}

fn by_name<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items.iter().find(|i| i["name"] == name).unwrap_or_else(|| panic!("no artifact {name} in {items:?}"))
}

/// The download's status, headers and exact bytes.
async fn download(app: &TestApp, job: &str, name: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response =
        app.request(Method::GET, &format!("/api/v1/jobs/{job}/artifacts/{name}")).send().await.expect("download");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.bytes().await.expect("the body").to_vec())
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn leftovers(app: &TestApp) -> Vec<String> {
    let work = app.dir.path().join("artifacts-work");
    std::fs::read_dir(&work)
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_jobs_files_are_listed_and_downloaded_byte_exact() {
    let app = app_with(|_| {}).await;
    let script = "printf \"hello\\n\" > notes.txt && printf \"\\000\\001\\377\\n\" > blob.bin && mkdir -p sub/deeper \
                  && printf \"{}\" > sub/deeper/data.json && printf \"<script>alert(1)</script>\" > page.html \
                  && ln -s /etc/passwd passwd && mkfifo pipe";
    let run = run_in_artifacts(&app, script, false).await;
    assert_eq!(run.job["status"], "completed", "{}", run.job);
    let job = run.job_id.as_str();
    assert_eq!(run.job["artifacts_url"], format!("/api/v1/jobs/{job}/artifacts"), "the job links its files");

    let items = list(&app, job).await;
    let names: Vec<&str> = items.iter().map(|i| str_of(i, "name")).collect();
    assert_eq!(names, ["blob.bin", "notes.txt", "page.html", "passwd", "pipe", "sub/deeper/data.json"]);
    let expected: [(&str, &[u8], &str, &str); 4] = [
        ("notes.txt", b"hello\n", "text/plain", "inline"),
        ("blob.bin", b"\x00\x01\xff\n", "application/octet-stream", "attachment"),
        ("sub/deeper/data.json", b"{}", "application/json", "inline"),
        ("page.html", b"<script>alert(1)</script>", "text/html", "attachment"),
    ];
    for (name, bytes, content_type, disposition) in expected {
        let item = by_name(&items, name);
        assert_eq!(item["dropped"], false, "{item}");
        assert_eq!(item["size"], bytes.len(), "{item}");
        assert_eq!(item["content_type"], content_type, "{item}");
        assert_eq!(item["sha256"], sha256(bytes), "{item}");
        assert_eq!(item["attempt"], 1, "{item}");
        let (status, headers, body) = download(&app, job, name).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(body, bytes, "{name}: the bytes come back exactly");
        assert_eq!(header(&headers, "content-length"), bytes.len().to_string(), "{name}");
        assert_eq!(header(&headers, "content-type"), content_type, "{name}");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff", "{name}");
        let base = name.rsplit('/').next().unwrap();
        assert!(
            header(&headers, "content-disposition").starts_with(&format!("{disposition}; filename=\"{base}\"")),
            "{name}: {:?}",
            header(&headers, "content-disposition")
        );
    }

    // What the job planted to reach other files is listed as dropped, and nothing of it can be downloaded.
    for name in ["passwd", "pipe"] {
        let item = by_name(&items, name);
        assert_eq!((item["dropped"].clone(), item["reason"].clone()), (json!(true), json!("not_a_regular_file")));
        assert!(item["sha256"].is_null(), "{item}");
        let reply = app.get(&format!("/api/v1/jobs/{job}/artifacts/{name}")).await;
        reply.expect_problem(410, "job_artifact_dropped", name);
        assert!(!reply.text.contains("root:"), "the link was followed: {}", reply.text);
    }
    app.get(&format!("/api/v1/jobs/{job}/artifacts/nothing.txt")).await.expect_problem(
        404,
        "job_artifact_not_found",
        "a name it did not leave",
    );
    app.get(&format!("/api/v1/jobs/{job}/artifacts/sub%5Cnotes.txt")).await.expect_problem(
        404,
        "job_artifact_not_found",
        "a name with a backslash (no kept file can have it)",
    );
    let unknown = ulid::Ulid::generate();
    app.get(&format!("/api/v1/jobs/{unknown}/artifacts")).await.expect_problem(404, "job_not_found", "no such job");
    assert_eq!(leftovers(&app), Vec::<String>::new(), "the attempt's directory is removed after collection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_bounds_files_are_listed_as_dropped_and_the_job_still_finishes() {
    let app = app_with(|s| {
        s.artifacts_max_files = 2;
        s.artifacts_max_bytes = 1000;
    })
    .await;
    // 10 MB that does not fit, two files that do, and one too many.
    let script = "head -c 10000000 /dev/zero > a-huge && echo 1 > f1 && echo 2 > f2 && echo 3 > f3 && echo done";
    let run = run_in_artifacts(&app, script, false).await;
    assert_eq!(run.job["status"], "completed", "{}", run.job);
    assert_eq!(run.stdout(), ["done"]);
    let items = list(&app, &run.job_id).await;
    let summary: Vec<(String, Value, i64)> = items
        .iter()
        .map(|i| (str_of(i, "name").to_string(), i["reason"].clone(), i["size"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("a-huge".to_string(), json!("too_large"), 10_000_000),
            ("f1".into(), Value::Null, 2),
            ("f2".into(), Value::Null, 2),
            ("f3".into(), json!("too_many_files"), 2),
        ]
    );
    let stored = app.dir.path().join("artifacts/jobs").join(&run.job_id);
    assert!(!walk_files(&stored).iter().any(|f| f.ends_with("a-huge")), "the dropped file is not in the store");
    assert_eq!(download(&app, &run.job_id, "f1").await.2, b"1\n");
    assert_eq!(leftovers(&app), Vec::<String>::new());
}

fn walk_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk_files(&path));
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_job_writes_its_artifacts_through_the_read_only_root() {
    if !crate::sandbox::have_bwrap() {
        return;
    }
    let app = app_with(|_| {}).await;
    let run = run_in_artifacts(&app, "echo inside > out.txt && touch /etc/x 2>/dev/null || echo ro", true).await;
    assert_eq!(run.job["status"], "completed", "{}", run.job);
    assert_eq!(run.job["sandbox"], json!({ "network": false }));
    assert_eq!(run.stdout(), ["ro"], "the root stays read-only");
    let items = list(&app, &run.job_id).await;
    assert_eq!(by_name(&items, "out.txt")["dropped"], false, "{items:?}");
    assert_eq!(download(&app, &run.job_id, "out.txt").await.2, b"inside\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_the_files_with_their_job() {
    let app = app_with(|s| {
        s.retention_days = 1.0;
        s.retention_check_seconds = 1;
    })
    .await;
    let run = run_in_artifacts(&app, "echo keep > a.txt", false).await;
    let job = run.job_id.clone();
    let stored = app.dir.path().join("artifacts/jobs").join(&job);
    assert_eq!(walk_files(&stored).len(), 1, "the file is in the store");

    let db = sea_orm::Database::connect(app.db.url()).await.expect("open the database");
    let sql = format!("UPDATE jobs SET finished_at = finished_at - {} WHERE id = '{job}'", 2 * 86_400_000i64);
    sea_orm::ConnectionTrait::execute_unprepared(&db, &sql).await.expect("age the job");
    let _ = db.close().await;
    poll_until("retention to delete the job", Duration::from_secs(20), async || {
        match app.get_job(&job).await.status.as_u16() {
            404 => Ok(()),
            other => Err(format!("GET job: {other}")),
        }
    })
    .await;
    assert_eq!(walk_files(&stored), Vec::<String>::new(), "the job's files left the store with it");
    app.get(&format!("/api/v1/jobs/{job}/artifacts")).await.expect_problem(404, "job_not_found", "gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_attempt_directories_are_removed_at_start() {
    let work = tempfile::tempdir().expect("work dir");
    let leftover = work.path().join(format!("{}-1", ulid::Ulid::generate()));
    std::fs::create_dir_all(leftover.join("sub")).unwrap();
    std::fs::write(leftover.join("sub/big"), vec![0u8; 4096]).unwrap();
    std::fs::write(work.path().join("stray"), b"x").unwrap();
    let path = work.path().display().to_string();
    let app = app_with(|s| s.artifacts_work_dir = Some(path)).await;
    assert!(!leftover.exists() && !work.path().join("stray").exists(), "leftovers are removed at start");
    // And the server works there.
    let run = run_in_artifacts(&app, "echo x > x", false).await;
    assert_eq!(list(&app, &run.job_id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_store_refuses_is_listed_with_the_reason_and_the_job_still_ends() {
    let dir = tempfile::tempdir().expect("store dir");
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    // A file where the store's `jobs/` directory must go: every write under it fails, even for root.
    std::fs::write(store.join("jobs"), b"in the way").unwrap();
    let url = format!("file://{}", store.display());
    let app = app_with(|s| s.artifacts_url = Some(url)).await;
    let run = run_in_artifacts(&app, "echo lost? > report.txt", false).await;
    assert_eq!(run.job["status"], "completed", "{}", run.job);
    let items = list(&app, &run.job_id).await;
    let item = by_name(&items, "report.txt");
    assert_eq!((item["dropped"].clone(), item["reason"].clone()), (json!(true), json!("store_failed")), "{item}");
    assert!(str_of(item, "detail").contains("artifact store"), "{item}");
    app.get(&format!("/api/v1/jobs/{}/artifacts/report.txt", run.job_id)).await.expect_problem(
        410,
        "job_artifact_dropped",
        "a file the store refused",
    );
    assert_eq!(leftovers(&app), Vec::<String>::new());
}
