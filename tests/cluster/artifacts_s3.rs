//! Job artifacts in an S3-compatible store that two nodes share and nothing else: moto's S3 server (PyPI package
//! `moto[server]`), run by the test on 127.0.0.1. A file a job left on one node is listed and downloaded byte-exact
//! from the other, it is an object in the bucket, and deleting the job deletes the object.
//!
//! The server program: `TASKYARD_MOTO_SERVER`, else `moto_server` on `PATH`. Without it the test says SKIPPED and
//! returns; with `TASKYARD_REQUIRE_S3=1`, as CI runs it, that is a failure instead.
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::harness::{Cluster, serve_args};
use crate::helpers::{poll_until, str_of};

const BUCKET: &str = "taskyard-artifacts";

/// moto's S3 server on a free port, killed when dropped.
struct S3 {
    child: Child,
    endpoint: String,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl S3 {
    async fn start() -> Option<S3> {
        let program = std::env::var("TASKYARD_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        let spawned = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var("TASKYARD_REQUIRE_S3").as_deref() == Ok("1") => {
                panic!("cannot start {program} ({e}) and TASKYARD_REQUIRE_S3=1: pip install 'moto[server]'")
            }
            Err(e) => {
                eprintln!("SKIPPED: no S3 server ({program}: {e}); pip install 'moto[server]' to run this test");
                return None;
            }
        };
        let s3 = S3 { child, endpoint: format!("http://127.0.0.1:{port}") };
        // reqwest is built without a default TLS provider (plain HTTP here, but a client needs one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let bucket = format!("{}/{BUCKET}", s3.endpoint);
        poll_until("the S3 server to make the bucket", Duration::from_secs(30), async || {
            match http.put(&bucket).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("PUT bucket: {}", r.status())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        Some(s3)
    }

    /// The keys in the bucket.
    async fn keys(&self) -> Vec<String> {
        let url = format!("{}/{BUCKET}?list-type=2", self.endpoint);
        let body = reqwest::get(&url).await.expect("list the bucket").text().await.expect("the listing");
        body.split("<Key>").skip(1).filter_map(|s| s.split("</Key>").next()).map(str::to_string).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_share_only_an_s3_bucket_serve_each_others_files() {
    let Some(s3) = S3::start().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    // Credentials and endpoint go in the config file (never in flags, which the process list shows).
    let config = dir.path().join("taskyard.toml");
    std::fs::write(
        &config,
        format!(
            "[artifacts_options]\naws_endpoint = \"{}\"\n\
             allow_http = \"true\"\naws_access_key_id = \"test\"\naws_secret_access_key = \"test\"\n\
             aws_region = \"us-east-1\"\n",
            s3.endpoint
        ),
    )
    .expect("write the config");
    let config = config.display().to_string();
    let work = dir.path().join("work").display().to_string();
    let store = format!("s3://{BUCKET}/jobs-store");
    let args = serve_args(2, &["sh"], &["--config", &config, "--artifacts-url", &store, "--artifacts-work-dir", &work]);
    let Some(cluster) = Cluster::start(2, &args).await else { return };
    let first = &cluster.nodes[0].api;
    let task = first.task("sh -c 'printf \"kept in S3\\000\\377\" > \"$TASKYARD_ARTIFACTS_DIR/report.bin\"'").await;
    let job_id = first.execute_ok(str_of(&task, "id"), None).await;
    let job = first.wait_job(&job_id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let other = &cluster.nodes[1 - cluster.index_of(str_of(&job, "node_id"))].api;

    let listed = other.get(&format!("/api/v1/jobs/{job_id}/artifacts")).await.expect(200, "list on the other node");
    assert_eq!((listed[0]["name"].clone(), listed[0]["size"].clone()), (serde_json::json!("report.bin"), 12.into()));
    let response = other
        .request(reqwest::Method::GET, &format!("/api/v1/jobs/{job_id}/artifacts/report.bin"))
        .send()
        .await
        .expect("download from the other node");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(&response.bytes().await.expect("the body")[..], b"kept in S3\x00\xff");
    assert_eq!(s3.keys().await, [format!("jobs-store/jobs/{job_id}/1/report.bin")], "one object in the bucket");

    other.send_json(reqwest::Method::DELETE, &format!("/api/v1/jobs/{job_id}"), &serde_json::Value::Null).await;
    other.get_job(&job_id).await.expect_problem(404, "job_not_found", "deleted");
    assert_eq!(s3.keys().await, Vec::<String>::new(), "the object went with its job");
}
