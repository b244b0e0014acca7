//! A per-second schedule on two nodes: every second makes exactly one job, on whichever node fires first, and
//! keeps doing so across a `kill -9` of one of them (the unique key on the fire, not a leader, decides).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Cluster, all_jobs, poll_until, serve_args};
use crate::helpers::{ms_between, str_of};

/// The scheduled jobs so far, by fire.
async fn fires(api: &crate::helpers::TestApp) -> BTreeMap<String, Vec<Value>> {
    let mut by_fire: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for job in all_jobs(api).await.into_iter().filter(|j| j["trigger"] == "schedule") {
        by_fire.entry(str_of(&job, "scheduled_for").to_string()).or_default().push(job);
    }
    by_fire
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_second_schedule_makes_one_job_per_second_across_nodes_and_a_kill() {
    let args = serve_args(4, &["true"], &[]);
    let Some(mut cluster) = Cluster::start(2, &args).await else { return };
    let task =
        cluster.nodes[0].api.create_task_ok(json!({ "command": "true", "schedule": { "cron": "* * * * * *" } })).await;
    poll_until("4 fires with both nodes up", Duration::from_secs(20), async || {
        let n = fires(&cluster.nodes[1].api).await.len();
        if n >= 4 { Ok(()) } else { Err(format!("{n} fires")) }
    })
    .await;

    let mut victim = cluster.nodes.remove(0);
    victim.server.kill9().await;
    let survivor = &cluster.nodes[0].api;
    let before_kill = fires(survivor).await.len();
    poll_until("4 more fires after the kill", Duration::from_secs(20), async || {
        let n = fires(survivor).await.len();
        if n >= before_kill + 4 { Ok(()) } else { Err(format!("{n} fires, {before_kill} before the kill")) }
    })
    .await;
    survivor.update_task(str_of(&task, "id"), &json!({ "enabled": false })).await.expect(200, "pause");

    let by_fire = fires(survivor).await;
    let doubled: Vec<&Vec<Value>> = by_fire.values().filter(|jobs| jobs.len() > 1).collect();
    assert!(doubled.is_empty(), "one job per fire, however many nodes fire it: {doubled:?}");
    let times: Vec<&String> = by_fire.keys().collect();
    for pair in times.windows(2) {
        assert_eq!(ms_between(&json!(pair[0]), &json!(pair[1])), 1000, "a job every second: {times:?}");
    }
    let nodes: std::collections::BTreeSet<&str> =
        by_fire.values().flatten().filter_map(|j| j["node_id"].as_str()).collect();
    eprintln!(
        "per-second schedule on 2 nodes, one killed: {} fires, one job each, run on {} nodes",
        by_fire.len(),
        nodes.len()
    );
}
