//! A node on PostgreSQL is killed (-9) for good while it runs a job whose shell left a background child and a
//! `setsid` daemon: no process of the job is alive 2 s later, though no node ever comes back to rescue it on this
//! host (its supervisor kills the job's whole tree when the node's end of its socket closes).

use crate::harness::{Cluster, serve_args};
use crate::helpers::{GONE_WITHIN, Tree, str_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_never_comes_back_leaves_no_process_of_its_jobs() {
    let tree = Tree::new("98");
    let args = serve_args(4, &["sh"], &[]);
    let Some(mut cluster) = Cluster::start(1, &args).await else { return };
    for argv in [&tree.background, &tree.daemon, &tree.main] {
        cluster.kill_at_end(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let node = &cluster.nodes[0];
    let task = node.api.task(&tree.command()).await;
    let job_id = node.api.execute_ok(str_of(&task, "id"), None).await;
    node.api.stream(&job_id, None).await.until_status("running").await;
    tree.running().await;

    let mut dead = cluster.nodes.remove(0);
    dead.server.kill9().await;
    let left = tree.survivors().await;
    assert!(left.is_empty(), "processes of the dead node's job outlived it by {GONE_WITHIN:?}: {left:?}");
}
