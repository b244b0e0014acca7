//! Job artifacts across nodes: with an artifact store every node reaches (here a shared directory as the store
//! URL), a file a job left on the node that ran it is listed and downloaded byte-exact from another node.

use crate::harness::{Cluster, serve_args};
use crate::helpers::{header, str_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_serves_the_files_a_job_left_on_one_node() {
    let shared = tempfile::tempdir().expect("the shared store");
    let store = format!("file://{}", shared.path().join("store").display());
    let work = shared.path().join("work").display().to_string();
    let args = serve_args(2, &["sh"], &["--artifacts-url", &store, "--artifacts-work-dir", &work]);
    let Some(cluster) = Cluster::start(2, &args).await else { return };
    let first = &cluster.nodes[0].api;
    let task =
        first.task("sh -c 'printf \"made on one node\\000\\377\" > \"$TASKYARD_ARTIFACTS_DIR/report.bin\"'").await;
    let job_id = first.execute_ok(str_of(&task, "id"), None).await;
    let job = first.wait_job(&job_id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let ran_on = cluster.index_of(str_of(&job, "node_id"));
    let other = &cluster.nodes[1 - ran_on].api;

    let listed = other.get(&format!("/api/v1/jobs/{job_id}/artifacts")).await.expect(200, "list on the other node");
    assert_eq!(listed[0]["name"], "report.bin", "{listed}");
    assert_eq!(listed[0]["size"], 18, "{listed}");
    let response = other
        .request(reqwest::Method::GET, &format!("/api/v1/jobs/{job_id}/artifacts/report.bin"))
        .send()
        .await
        .expect("download from the other node");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(response.headers(), "content-length"), "18");
    let bytes = response.bytes().await.expect("the body");
    assert_eq!(&bytes[..], b"made on one node\x00\xff", "the bytes come back exactly from the other node");
}
